"""The stages of a round and their bookkeeping: sample → execute → judge → train → evaluate → gate.

Each stage directory ``round-k/<stage>/`` is marked done by ``manifest.json`` (a
`StageManifest`), written last and atomically; it holds the hash of the stage's inputs
(config section, upstream outputs' content hashes, the policy adapter's hash), the hashes of
its outputs, a small result summary and its wall time. A stage runs only when its manifest is
missing: it first empties its directory (so a stage killed half way leaves nothing behind
that could be read twice: no duplicated pair), then writes its outputs atomically, then the
manifest. A finished stage whose recorded input hash no longer matches (the config was
edited) is an error rather than a silent mix of two runs.

Stages report through the run's `EventLog` (stage started/finished, progress) and check the
run's `CancelToken` before they start and inside their long steps (after each generation
batch, before each sandbox job, after each training step); a canceled stage leaves no done
mark and reruns from scratch on resume.

Crash injection for tests: ``CODEALIGN_KILL_AT=round-1/execute`` makes the process SIGKILL
itself after that stage's outputs are written and before its manifest is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codealign.config import RunConfig, plain_data
from codealign.errors import ConfigError
from codealign.jsonl import read_jsonl, write_json, write_jsonl
from codealign.records import Failure, OutcomeRow
from codealign.runs.events import EventLog, Note, Progress, RoundDecided, StageFinished, StageStarted
from codealign.runs.state import CancelToken, RunLease

if TYPE_CHECKING:
    from codealign.trainer.gate import GateDecision

__all__ = ["STAGES", "MANIFEST", "KILL_ENV", "ROUND_SEED_STRIDE", "StageManifest", "Policy",
           "Incumbent", "Context", "read_manifest", "sha_path",
           "sample_stage", "execute_stage", "judge_stage", "train_stage", "evaluate_stage",
           "gate_stage", "round_tasks"]

STAGES = ("sample", "execute", "judge", "train", "evaluate", "gate")
MANIFEST = "manifest.json"
KILL_ENV = "CODEALIGN_KILL_AT"
ROUND_SEED_STRIDE = 100_003     # round k samples with seed + k * stride (+ the prompt's index)
INPUTS_FILE = "inputs.json"     # the inputs the sandbox ran on (codealign.sandbox.inputs.InputSet)
REPLAY_INPUTS = "replay-inputs"  # train stage: the inputs each replay re-check batch ran on


# ---------------------------------------------------------------------------------------------
# Records handed between stages


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha_json(obj: Any) -> str:
    return _sha_bytes(json.dumps(obj, sort_keys=True, default=str).encode())


def sha_path(path: Path) -> str:
    """Content hash of a file, or of every file under a directory (names and bytes)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class StageManifest:
    """A finished stage: what went in (hashed), what came out (hashed), its summary."""

    stage: str
    round: int
    inputs_hash: str
    inputs: dict[str, Any]
    outputs: dict[str, str]                  # name -> path relative to the stage directory
    output_hashes: dict[str, str]
    result: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageManifest":
        return cls(**d)

    def output(self, run_path: Path, name: str) -> Path:
        """The absolute path of output `name`."""
        return run_path / f"round-{self.round}" / self.stage / self.outputs[name]

    @property
    def skipped(self) -> str:
        """Why the stage did nothing ("" when it did its work)."""
        return self.result.get("skipped", "")


@dataclass(frozen=True)
class Policy:
    """The policy a stage samples from or trains on: a name and an adapter (None: the base)."""

    name: str
    adapter: str | None = None             # relative to the run directory
    adapter_hash: str | None = None


@dataclass(frozen=True)
class Incumbent:
    """The last promoted policy (round 0: the base or the lineage's) and its held-out
    outcomes, which the gate compares a candidate's with, task by task."""

    round: int
    adapter: str | None
    adapter_hash: str | None
    outcomes: str                          # its evaluation's outcomes.jsonl, relative to the run
    outcomes_hash: str

    @classmethod
    def of(cls, round_no: int, policy: Policy, evaluated: StageManifest) -> "Incumbent":
        return cls(round_no, policy.adapter, policy.adapter_hash,
                   f"round-{round_no}/evaluate/{evaluated.outputs['outcomes']}",
                   evaluated.output_hashes["outcomes"])

    def policy(self, name: str) -> Policy:
        return Policy(name, self.adapter, self.adapter_hash)


@dataclass
class StageRun:
    """What a stage's work function returns: its output files and a small summary."""

    outputs: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


def read_manifest(stage_dir: Path) -> StageManifest | None:
    path = stage_dir / MANIFEST
    if not path.exists():
        return None
    return StageManifest.from_dict(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------
# What every stage needs


class Context:
    """Config, tasks, the run's lease, events and cancel token, and a generator made on first use."""

    def __init__(self, config: RunConfig, run_path: Path, tasks: list, lease: RunLease,
                 events: EventLog, cancel: CancelToken) -> None:
        self.config, self.run_path = config, run_path
        self.lease, self.events, self.cancel = lease, events, cancel
        self.tasks = {t.task_id: t for t in tasks}
        self.tasks_hash = sha_json([t.to_dict() for t in tasks])
        self.round: int | None = None
        self.stage: str | None = None
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            from codealign.generator import make_generator

            self.events.emit(Note(f"loading {self.config.model} ({self.config.backend})"))
            self._generator = make_generator(self.config.backend, self.config.model,
                                             **self.config.generator_kwargs())
        return self._generator

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()
            self._generator = None

    def path(self, rel: str | None) -> str | None:
        return None if rel is None else str(self.run_path / rel)

    def progress(self, label: str, total: int) -> Callable[[int], None]:
        """`advance(k)`: emits Progress and checks for a cancel request."""
        done = 0
        self.events.emit(Progress(self.round, self.stage, 0, total, label))

        def advance(k: int) -> None:
            nonlocal done
            done += k
            self.events.emit(Progress(self.round, self.stage, done, total, label))
            self.cancel.check()
        return advance

    def sample(self, task_ids: list[str], params, adapter: str | None, round_no: int, policy: str,
               counts: list[int] | None = None):
        from codealign.generator import sample_tasks

        tasks = [self.tasks[t] for t in task_ids]
        generator = self.generator
        advance = self.progress(f"sampling ({policy})", len(tasks))
        return sample_tasks(tasks, generator, params, round=round_no, policy=policy,
                            adapter=adapter, progress=advance, counts=counts)

    def execute(self, samples, references: bool, stage_dir: Path) -> tuple[list, list]:
        """Executions of `samples` (profiled) and, with `references`, of the tasks' reference
        solutions (the efficiency judge's baseline), as two lists. Two steps: the inputs the
        sandbox runs besides the tests are synthesised first (cached by content), then the
        jobs run on them; the inputs they ran on are written to `stage_dir` (``inputs.json``,
        `codealign.sandbox.inputs`)."""
        from codealign.judges import reference_id
        from codealign.sandbox import Job
        from codealign.sandbox.inputs import synthesise_inputs
        from codealign.sandbox.runner import execute

        used = [self.tasks[t] for t in dict.fromkeys(s.task_id for s in samples)]
        jobs = [Job(s.sample_id, self.tasks[s.task_id], s.code, profile=True) for s in samples]
        refs = [t for t in used if t.reference] if references else []
        jobs += [Job(reference_id(t), t, t.reference, profile=True) for t in refs]
        self.events.emit(Note(f"synthesising inputs for {len(used)} tasks"))
        inputs = synthesise_inputs(used, self.config.sandbox, cancel=self.cancel.requested)
        self.cancel.check()
        advance = self.progress(f"exec ({self.config.sandbox.backend})", len(jobs))
        executed = execute(jobs, self.config.sandbox, inputs=inputs, on_result=lambda i, e: advance(1),
                           cancel=self.cancel.requested)
        executed.inputs.write(stage_dir / INPUTS_FILE)
        results = executed.executions
        return results[:len(samples)], results[len(samples):]

    def run_stage(self, round_no: int, stage: str, inputs: dict[str, Any],
                  work: Callable[[Path], StageRun]) -> StageManifest:
        """Run `work` unless the stage is already done with the same inputs; return the manifest."""
        stage_dir = self.run_path / f"round-{round_no}" / stage
        inputs_hash = sha_json(inputs)
        manifest = read_manifest(stage_dir)
        if manifest is not None:
            if manifest.inputs_hash != inputs_hash:
                raise ConfigError(f"{stage_dir} was made from different inputs (the config or an "
                                  "upstream stage changed); use a new run name or --run-dir",
                                  path=str(stage_dir / MANIFEST))
            self.events.emit(StageFinished(round_no, stage, manifest.seconds, manifest.result, skipped=True))
            return manifest
        self.round, self.stage = round_no, stage
        self.cancel.check()
        self.lease.update(round=round_no, stage=stage)
        self.events.emit(StageStarted(round_no, stage))
        if stage_dir.exists():
            shutil.rmtree(stage_dir)            # leftovers of a killed or canceled attempt
        stage_dir.mkdir(parents=True)
        started = time.perf_counter()
        done = work(stage_dir)
        seconds = time.perf_counter() - started
        manifest = StageManifest(
            stage=stage, round=round_no, inputs_hash=inputs_hash, inputs=inputs, outputs=done.outputs,
            output_hashes={k: sha_path(stage_dir / v) for k, v in done.outputs.items()},
            result=done.result, seconds=round(seconds, 3))
        if os.environ.get(KILL_ENV) == f"round-{round_no}/{stage}":
            os.kill(os.getpid(), signal.SIGKILL)     # test hook: die before the done mark
        write_json(stage_dir / MANIFEST, manifest.to_dict())
        self.events.emit(StageFinished(round_no, stage, manifest.seconds, manifest.result))
        return manifest


def _load(cls, path: Path) -> list:
    return [cls.from_dict(obj) for _, obj in read_jsonl(path)]


# ---------------------------------------------------------------------------------------------
# The stages


def sample_stage(ctx: Context, round_no: int, task_ids: list[str], policy: Policy) -> StageManifest:
    """The round's samples of its train tasks, as many per task as the round's `Allocation`
    gives (``allocation.json``; `codealign.runs.allocation`)."""
    from codealign.runs.allocation import allocate

    seed = ctx.config.sampling.seed
    params = dataclasses.replace(ctx.config.sampling,
                                 seed=None if seed is None else seed + ROUND_SEED_STRIDE * round_no)
    allocation = allocate(task_ids, _task_history(ctx, round_no, task_ids), ctx.config.allocation, params.n)
    counts = [allocation.counts[t] for t in task_ids]

    def work(d: Path) -> StageRun:
        samples = ctx.sample(task_ids, params, ctx.path(policy.adapter), round_no, policy.name, counts)
        write_jsonl(d / "samples.jsonl", (s.to_dict() for s in samples))
        write_json(d / "allocation.json", allocation.to_dict())
        return StageRun({"samples": "samples.jsonl", "allocation": "allocation.json"},
                        {"samples": len(samples), "tasks": len(task_ids),
                         "tokens": sum(s.tokens for s in samples),
                         "allocation": allocation.summary().to_dict()})

    inputs = {"model": ctx.config.model, "backend": ctx.config.backend, "tasks": ctx.tasks_hash,
              "task_ids": task_ids, "sampling": plain_data(params), "policy": plain_data(policy),
              "counts": counts}          # (what the allocation decided: the samples depend on nothing else of it)
    return ctx.run_stage(round_no, "sample", inputs, work)


def _task_history(ctx: Context, round_no: int, task_ids: list[str]) -> dict:
    """Per task, what the latest earlier round of the run that sampled it saw (its judged
    verdicts; `codealign.runs.allocation.task_history`)."""
    from codealign.judges.verdict import Verdict
    from codealign.runs.allocation import task_history

    slow = 1.0 + ctx.config.pairs.min_efficiency_margin
    wanted, found = set(task_ids), {}
    for j in range(round_no - 1, 0, -1):
        if not wanted:
            break
        judged = read_manifest(ctx.run_path / f"round-{j}" / "judge")
        if judged is None:
            continue
        rows = [obj for _, obj in read_jsonl(judged.output(ctx.run_path, "verdicts"))
                if obj.get("task_id") in wanted]
        history = task_history((Verdict.from_dict(obj) for obj in rows), j, slow)
        found.update(history)
        wanted -= set(history)
    return found


def execute_stage(ctx: Context, round_no: int, sampled: StageManifest) -> StageManifest:
    """Every sample and reference run in the sandbox. The summary's ``passed`` counts honest
    passes (`rules.passed_honestly` with the tamper judge): a sandbox pass with tamper
    evidence is counted in ``tampered_passes`` instead."""
    from codealign.generator import Sample
    from codealign.judges.rules import passed_honestly
    from codealign.judges.tamper import judge_tamper

    def honest(code: str, e) -> bool:
        return e.sandbox_passed and passed_honestly(e, judge_tamper(code, e))

    def work(d: Path) -> StageRun:
        samples = _load(Sample, sampled.output(ctx.run_path, "samples"))
        executions, references = ctx.execute(samples, references=True, stage_dir=d)
        write_jsonl(d / "executions.jsonl", (e.to_dict() for e in executions))
        write_jsonl(d / "references.jsonl", (e.to_dict() for e in references))
        passed = sum(honest(s.code, e) for s, e in zip(samples, executions))
        references_passed = sum(honest(ctx.tasks[e.task_id].reference, e) for e in references)
        return StageRun({"executions": "executions.jsonl", "references": "references.jsonl",
                         "inputs": INPUTS_FILE},
                        {"executions": len(executions), "passed": passed,
                         "tampered_passes": sum(e.sandbox_passed for e in executions) - passed,
                         "statuses": dict(sorted(Counter(e.status.value for e in executions).items())),
                         "references_passed": f"{references_passed}/{len(references)}"})

    inputs = {"samples": sampled.output_hashes["samples"], "sandbox": plain_data(ctx.config.sandbox)}
    return ctx.run_stage(round_no, "execute", inputs, work)


def judge_round(ctx: Context, sampled: StageManifest, executions: list, references: list,
                inputs_file: Path | None, out: Path) -> StageRun:
    """Judge a round's samples given their `executions` (and the tasks' `references`' ones,
    run on the strengthened inputs of `inputs_file`, None: none), write ``verdicts.jsonl``,
    ``pairs.jsonl`` (each pair with its provenance: `codealign.runs.provenance`) and
    ``summary.json`` into `out`. The judge stage's work, and ``codealign runs rejudge``'s
    (`codealign.runs.rejudge`) on executions made again."""
    from codealign.generator import Sample
    from codealign.judges import judge_executions
    from codealign.runs.provenance import pair_rows, round_sources

    samples = _load(Sample, sampled.output(ctx.run_path, "samples"))
    tasks = [ctx.tasks[t] for t in dict.fromkeys(s.task_id for s in samples)]
    verdicts, pairs, summary = judge_executions(tasks, samples, executions, {e.task_id: e for e in references},
                                                ctx.config.judges, ctx.config.pairs)
    sources = round_sources(ctx.config, sampled.inputs, inputs_file)
    write_jsonl(out / "verdicts.jsonl", (v.to_dict() for v in verdicts))
    write_jsonl(out / "pairs.jsonl", (r.to_dict() for r in pair_rows(pairs, ctx.tasks, sources)))
    write_json(out / "summary.json", plain_data(summary))
    by_reason = Counter(p.reason.value for p in pairs)
    return StageRun({"verdicts": "verdicts.jsonl", "pairs": "pairs.jsonl", "summary": "summary.json"},
                    {"pairs": len(pairs), "pairs_by_reason": dict(sorted(by_reason.items()))})


def judge_stage(ctx: Context, round_no: int, sampled: StageManifest,
                executed: StageManifest) -> StageManifest:
    from codealign.sandbox.execution import Execution

    def work(d: Path) -> StageRun:
        strengthened = executed.output(ctx.run_path, "inputs") if "inputs" in executed.outputs else None
        return judge_round(ctx, sampled, _load(Execution, executed.output(ctx.run_path, "executions")),
                           _load(Execution, executed.output(ctx.run_path, "references")), strengthened, d)

    inputs = {"samples": sampled.output_hashes["samples"],
              "executions": executed.output_hashes["executions"],
              "references": executed.output_hashes["references"],
              "judges": plain_data(ctx.config.judges), "pairs": plain_data(ctx.config.pairs)}
    return ctx.run_stage(round_no, "judge", inputs, work)


def train_stage(ctx: Context, round_no: int, judged: StageManifest, policy: Policy,
                initial: Policy, train_ids: list[str]) -> StageManifest:
    """DPO from `policy`'s adapter on the round's training set (``pairs.jsonl``: its own pairs
    and, with ``replay.share``, earlier pairs re-checked in this run; `codealign.runs.trainset`;
    ``replay.jsonl`` lists the earlier pairs re-checked), less the pairs excluded by review
    (`codealign.runs.exclusions`). `initial` is the run's first policy
    (the reference of ``dpo.reference: initial``); `train_ids`: the run's train tasks."""
    from codealign.runs.exclusions import round_exclusions
    from codealign.runs.trainset import build_training_set, earlier_pairs, own_pairs, revalidate
    from codealign.trainer.dpo import Reference, train_round

    dpo = dataclasses.replace(ctx.config.dpo, seed=ctx.config.dpo.seed + round_no)
    replay = ctx.config.replay
    earlier = earlier_pairs(ctx.run_path, round_no, replay.lineage) if replay.share else []
    sampled = read_manifest(ctx.run_path / f"round-{round_no}" / "sample")

    new = own_pairs(ctx.run_path, round_no, judged.output(ctx.run_path, "pairs"),
                    sampled.output(ctx.run_path, "samples"))
    excluded = round_exclusions(ctx.run_path, round_no, [c.pair.id for c in [*new, *earlier]])

    def work(d: Path) -> StageRun:
        batches, numbers = d / REPLAY_INPUTS, itertools.count()

        def run_batch(samples):   # each re-check batch's inputs: replay-inputs/batch-N/inputs.json
            batch = batches / f"batch-{next(numbers)}"
            batch.mkdir(parents=True)
            return ctx.execute(samples, references=True, stage_dir=batch)

        def check(candidates):
            return revalidate(candidates, ctx.tasks, set(train_ids), run_batch,
                              ctx.config.judges, ctx.config.pairs)

        training = build_training_set(new, earlier, replay, check, excluded=frozenset(excluded))
        write_jsonl(d / "pairs.jsonl", (p.to_dict() for p in training.pairs))
        write_jsonl(d / "replay.jsonl", (c.to_dict() for c in training.checks))
        files = {"training_set": "pairs.jsonl", "replay": "replay.jsonl"}
        if batches.exists():    # hashed in the manifest with the stage's other outputs
            files["replay_inputs"] = REPLAY_INPUTS
        summary = {"training_set": training.summary.to_dict()}
        if not training.pairs:
            return StageRun(files, {"skipped": "no preference pairs: nothing to train"} | summary)
        advance: Callable[[int], None] | None = None

        def on_step(step: int, total: int) -> None:
            nonlocal advance
            if advance is None:
                advance = ctx.progress("train", total)
            if step:
                advance(1)
            else:
                ctx.cancel.check()            # the trainer is built: stop before its first step

        result = train_round(ctx.config.model, d / "pairs.jsonl", d, dpo,
                             previous_adapter=ctx.path(policy.adapter),
                             chat=ctx.config.sampling.chat, on_step=on_step,
                             initial_adapter=ctx.path(initial.adapter))
        return StageRun(files | {"adapter": "adapter", "metrics": "metrics.jsonl", "train": "train.json"},
                        {"steps": result.steps, "stopped_early": result.stopped_early,
                         "stop_reason": result.stop_reason, "reference": result.reference,
                         "pairs": result.pairs, "train_tokens": result.train_tokens,
                         "tokens_per_s": result.tokens_per_s, "device": result.device,
                         "last": {k: round(v, 4) for k, v in result.last_metrics.items()
                                  if k.startswith(("rewards/", "logps/", "loss"))
                                  or k in ("chosen_logp_change", "drift")}} | summary)

    inputs = {"pairs": judged.output_hashes["pairs"], "dpo": plain_data(dpo),
              "model": ctx.config.model, "policy": plain_data(policy)}
    if dpo.reference is Reference.INITIAL:
        inputs["initial"] = plain_data(initial)
    if replay.share and earlier:
        # the earlier pairs, and everything their re-check depends on (without earlier pairs
        # the training set is the round's own pairs, whatever the replay settings)
        inputs["replay"] = {"config": plain_data(replay), "tasks": ctx.tasks_hash, "train_ids": sorted(train_ids),
                            "sandbox": plain_data(ctx.config.sandbox), "judges": plain_data(ctx.config.judges),
                            "pairs": plain_data(ctx.config.pairs),
                            "earlier": sha_json([[c.origin.to_dict(), c.pair.id, c.chosen_code, c.rejected_code]
                                                 for c in earlier])}
    if excluded:
        inputs["excluded"] = excluded
    return ctx.run_stage(round_no, "train", inputs, work)


def evaluate_stage(ctx: Context, round_no: int, heldout: list[str], policy: Policy,
                   skipped: str = "") -> StageManifest:
    """The held-out figures of `policy`; ``outcomes.jsonl`` keeps each sample's outcome
    (task_id, sample_id, honest, secure, cost, tokens, and why the sandbox failed it) for
    per-task results."""
    from codealign.judges import judge_static, rules
    from codealign.judges.efficiency import COST_UNIT, Calibration, cost_s
    from codealign.trainer.evaluate import Outcome, evaluate

    ev = ctx.config.evaluation
    # The same seed for every policy: rounds are compared on the same random draws.
    params = dataclasses.replace(ctx.config.sampling, n=ev.n_samples, temperature=ev.temperature)

    def work(d: Path) -> StageRun:
        if skipped:
            return StageRun({}, {"skipped": skipped})
        samples = ctx.sample(heldout, params, ctx.path(policy.adapter), round_no, policy.name)
        write_jsonl(d / "samples.jsonl", (s.to_dict() for s in samples))
        executions, _ = ctx.execute(samples, references=False, stage_dir=d)
        write_jsonl(d / "executions.jsonl", (e.to_dict() for e in executions))
        passing = [(s, e) for s, e in zip(samples, executions) if e.sandbox_passed]
        # Security (bandit) and tamper judges on the passing samples: a tampered pass is no pass.
        static = dict(zip((s.sample_id for s, _ in passing),
                          judge_static([s.code for s, _ in passing], [e for _, e in passing],
                                       ctx.config.judges)))
        # The judge's cost figure: the op-count floor calibrated on this stage's honest passes
        # (no references run here), as the judge stage calibrates on its references.
        calibration = Calibration.of([e for s, e in passing
                                      if rules.passed_honestly(e, static[s.sample_id].get("tamper"))])
        outcomes, rows = [], []
        lost = 0
        for s, e in zip(samples, executions):
            if e.infrastructure_error:       # the sandbox was lost, not the sample: not counted
                lost += 1
                continue
            scores = static.get(s.sample_id, {})
            honest = rules.passed_honestly(e, scores.get("tamper"))
            secure = rules.security_class(scores.get("security")) if honest else None
            cost = cost_s(e.cost, calibration) if honest else None
            outcomes.append(Outcome(s.task_id, honest, secure, cost, s.tokens))
            rows.append(OutcomeRow(task_id=s.task_id, sample_id=s.sample_id, status=e.status.value,
                                   honest=honest, secure=secure, cost=cost, tokens=s.tokens,
                                   failure=Failure.of(e.to_dict())))
        report = evaluate(outcomes, ev.k, COST_UNIT, task_ids=heldout)
        write_jsonl(d / "outcomes.jsonl", (r.to_dict() for r in rows))
        write_json(d / "report.json", report.to_dict())
        return StageRun({"samples": "samples.jsonl", "executions": "executions.jsonl",
                         "inputs": INPUTS_FILE, "outcomes": "outcomes.jsonl", "report": "report.json"},
                        report.headline() | ({"infrastructure_errors": lost} if lost else {}))

    inputs = {"model": ctx.config.model, "backend": ctx.config.backend, "tasks": ctx.tasks_hash,
              "heldout": heldout, "sampling": plain_data(params), "evaluation": plain_data(ev),
              "sandbox": plain_data(ctx.config.sandbox), "adapter": policy.adapter_hash, "skipped": skipped}
    return ctx.run_stage(round_no, "evaluate", inputs, work)


def gate_stage(ctx: Context, round_no: int, evaluated: StageManifest, incumbent: Incumbent) -> "GateDecision":
    """The gate's decision on round `round_no` (``decision.json``): its held-out outcomes
    against the incumbent's, task by task, with the tasks' tags."""
    from codealign.trainer.gate import GateDecision, decide, read_outcomes

    gate = ctx.config.gate

    def work(d: Path) -> StageRun:
        if evaluated.skipped:
            decision = GateDecision.not_evaluated(evaluated.skipped, gate, incumbent.round)
        else:
            candidate = read_outcomes(evaluated.output(ctx.run_path, "outcomes"))
            decision = decide(candidate, read_outcomes(ctx.run_path / incumbent.outcomes), gate,
                              tags={t: ctx.tasks[t].tags for t in candidate if t in ctx.tasks},
                              incumbent_round=incumbent.round)
        record = decision.to_dict()
        write_json(d / "decision.json", record)
        return StageRun({"decision": "decision.json"}, record)

    inputs = {"candidate": evaluated.output_hashes, "candidate_skipped": evaluated.skipped,
              "incumbent": plain_data(incumbent), "tasks": ctx.tasks_hash, "gate": plain_data(gate)}
    gated = ctx.run_stage(round_no, "gate", inputs, work)
    decided = GateDecision.from_dict(gated.result)
    ctx.events.emit(RoundDecided(round_no, decided.status, decided.reason))
    return decided


def round_tasks(config: RunConfig, train_ids: list[str], round_no: int) -> list[str]:
    """The train tasks of round `round_no` (all, or `tasks_per_round` drawn with the run's seed)."""
    import random

    if config.tasks_per_round is None or config.tasks_per_round >= len(train_ids):
        return list(train_ids)
    rng = random.Random(f"{config.seed}:{round_no}")
    chosen = set(rng.sample(train_ids, config.tasks_per_round))
    return [t for t in train_ids if t in chosen]
