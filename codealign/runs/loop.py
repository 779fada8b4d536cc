"""Rounds end to end: sample → execute → judge (pairs) → train → evaluate → gate, resumable.

Layout of a run directory (``<run_dir>/<name>/``)::

    config.json                    the validated config, as plain data
    split.json                     the held-out rule, its seed and the resulting task ids
    round-0/evaluate/              the base policy on the held-out tasks (evaluated once)
    round-k/sample/                samples.jsonl           (train tasks, current policy)
    round-k/execute/               executions.jsonl        (sandbox, profiled)
    round-k/judge/                 verdicts.jsonl, pairs.jsonl (TRL format), summary.json
    round-k/train/                 adapter/, metrics.jsonl, train.json
    round-k/evaluate/              samples.jsonl, executions.jsonl, report.json
    round-k/gate/                  decision.json
    rounds.jsonl                   one line per round, rebuilt from the manifests
    timings.json                   seconds per stage per round

Each stage directory is marked done by ``manifest.json``, written last and atomically; it
holds the hash of the stage's inputs (config section, upstream outputs' content hashes, the
policy adapter's hash), the hashes of its outputs, a small result summary and its wall time.
A stage runs only when its manifest is missing: it first empties its directory (so a stage
killed half way leaves nothing behind that could be read twice: no duplicated pair), then
writes its outputs atomically, then the manifest. Rerunning the same command after a crash
or ``kill -9`` therefore resumes at the first unfinished stage and redoes nothing finished.
A finished stage whose recorded input hash no longer matches (the config was edited) is an
error rather than a silent mix of two runs.

The policy of round k is the adapter of the last *promoted* round before k (the base model
when none was): a rejected round's adapter is kept on disk but never sampled from again.
Sampling seeds differ per round (``sampling.seed + 100003 * round``, plus the prompt's index
as the generator adds it); evaluation uses ``sampling.seed`` itself for every policy, so
rounds are compared on the same random draws. The run's top-level ``seed`` picks the train
tasks of each round when ``tasks_per_round`` is set; DPO uses ``dpo.seed + round``.

``rounds.jsonl`` holds no wall times (they live in ``timings.json``), so two runs with the
same seeds — one interrupted and resumed, one not — write the same file.

Crash injection for tests: ``CODEALIGN_KILL_AT=round-1/execute`` makes the process SIGKILL
itself after that stage's outputs are written and before its manifest is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codealign.config import RunConfig, check_tasks, plain_data
from codealign.errors import ConfigError
from codealign.jsonl import read_jsonl, write_json, write_jsonl

__all__ = ["STAGES", "run_loop", "LoopResult", "stage_timings", "read_rounds"]

STAGES = ("sample", "execute", "judge", "train", "evaluate", "gate")
MANIFEST = "manifest.json"
KILL_ENV = "CODEALIGN_KILL_AT"
ROUND_SEED_STRIDE = 100_003     # round k samples with seed + k * stride (+ the prompt's index)


# ---------------------------------------------------------------------------------------------
# Hashing and stage bookkeeping


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha_json(obj: Any) -> str:
    return _sha_bytes(json.dumps(obj, sort_keys=True, default=str).encode())


def _sha_path(path: Path) -> str:
    """Content hash of a file, or of every file under a directory (names and bytes)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@dataclass
class StageRun:
    """What a stage's work function returns: its output files and a small summary."""

    outputs: dict[str, str] = field(default_factory=dict)     # name -> path relative to the stage dir
    result: dict[str, Any] = field(default_factory=dict)


def _read_manifest(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _run_stage(run_path: Path, round_no: int, stage: str, inputs: dict[str, Any],
               work: Callable[[Path], StageRun], log: Callable[[str], None]) -> dict[str, Any]:
    """Run `work` unless the stage is already done with the same inputs; return the manifest."""
    stage_dir = run_path / f"round-{round_no}" / stage
    inputs_hash = _sha_json(inputs)
    manifest = _read_manifest(stage_dir)
    if manifest is not None:
        if manifest["inputs_hash"] != inputs_hash:
            raise ConfigError(f"{stage_dir} was made from different inputs (the config or an upstream "
                              "stage changed); use a new run name or --run-dir",
                              path=str(stage_dir / MANIFEST))
        log(f"round {round_no} · {stage}: done already, skipped")
        return manifest
    if stage_dir.exists():
        shutil.rmtree(stage_dir)            # leftovers of a killed attempt
    stage_dir.mkdir(parents=True)
    started = time.perf_counter()
    done = work(stage_dir)
    seconds = time.perf_counter() - started
    manifest = {
        "stage": stage, "round": round_no, "inputs_hash": inputs_hash, "inputs": inputs,
        "outputs": done.outputs,
        "output_hashes": {k: _sha_path(stage_dir / v) for k, v in done.outputs.items()},
        "result": done.result, "seconds": round(seconds, 3),
    }
    if os.environ.get(KILL_ENV) == f"round-{round_no}/{stage}":
        os.kill(os.getpid(), signal.SIGKILL)     # test hook: die before the done mark
    write_json(stage_dir / MANIFEST, manifest)
    log(f"round {round_no} · {stage}: {_describe(stage, done.result)} ({seconds:.1f} s)")
    return manifest


def _describe(stage: str, result: dict[str, Any]) -> str:
    if stage == "sample":
        return f"{result['samples']} samples from {result['tasks']} tasks"
    if stage == "execute":
        return f"{result['passed']}/{result['executions']} passed"
    if stage == "judge":
        return f"{result['pairs']} pairs {result['pairs_by_reason']}"
    if stage == "train":
        return result.get("skipped") or (f"{result['steps']} steps"
                                         + (f", stopped early: {result['stop_reason']}"
                                            if result["stopped_early"] else ""))
    if stage == "evaluate":
        return result.get("skipped") or (f"pass@1 {result['pass@1']:.3f}, secure rate "
                                         f"{_fmt(result['secure_rate'])}, mean cost {_fmt(result['mean_cost'])}")
    if stage == "gate":
        return f"{result['status']}: {result['reason']}"
    return ""


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


# ---------------------------------------------------------------------------------------------
# The calls into the other stages (generator, sandbox, judges)


class _Context:
    """What every stage needs: config, tasks, split, and a generator created on first use."""

    def __init__(self, config: RunConfig, run_path: Path, tasks: list, progress: bool,
                 log: Callable[[str], None]) -> None:
        self.config, self.run_path, self.progress, self.log = config, run_path, progress, log
        self.tasks = {t.task_id: t for t in tasks}
        self.tasks_hash = _sha_json([t.to_dict() for t in tasks])
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            from codealign.generator import make_generator

            self.log(f"loading {self.config.model} ({self.config.backend})")
            self._generator = make_generator(self.config.backend, self.config.model,
                                             **self.config.generator_kwargs())
        return self._generator

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()
            self._generator = None

    def sample(self, task_ids: list[str], params, adapter: str | None, round_no: int, policy: str):
        from codealign.generator import sample_tasks

        tasks = [self.tasks[t] for t in task_ids]
        with _bar(f"sampling ({policy})", len(tasks), self.progress) as advance:
            return sample_tasks(tasks, self.generator, params, round=round_no, policy=policy,
                                adapter=adapter, progress=advance)

    def execute(self, samples, references: bool) -> tuple[list, list]:
        """Executions of `samples` (profiled) and, with `references`, of the tasks' reference
        solutions (the efficiency judge's baseline), as two lists."""
        from codealign.judges import reference_id
        from codealign.sandbox import Job, run_many

        jobs = [Job(s.sample_id, self.tasks[s.task_id], s.code, profile=True) for s in samples]
        refs = []
        if references:
            used = dict.fromkeys(s.task_id for s in samples)
            refs = [self.tasks[t] for t in used if self.tasks[t].reference]
            jobs += [Job(reference_id(t), t, t.reference, profile=True) for t in refs]
        results = run_many(jobs, self.config.sandbox, progress=self.progress)
        return results[:len(samples)], results[len(samples):]


@contextlib.contextmanager
def _bar(description: str, total: int, enabled: bool):
    """A rich progress bar; yields `advance(k)`."""
    if not enabled:
        yield lambda k: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k: bar.advance(task, k)


def _load(cls, path: Path) -> list:
    return [cls.from_dict(obj) for _, obj in read_jsonl(path)]


# ---------------------------------------------------------------------------------------------
# The stages


def _sample_stage(ctx: _Context, round_no: int, task_ids: list[str], policy: dict[str, Any]):
    seed = ctx.config.sampling.seed
    params = dataclasses.replace(ctx.config.sampling,
                                 seed=None if seed is None else seed + ROUND_SEED_STRIDE * round_no)

    def work(d: Path) -> StageRun:
        samples = ctx.sample(task_ids, params, _abs(ctx, policy["adapter"]), round_no, policy["name"])
        write_jsonl(d / "samples.jsonl", (s.to_dict() for s in samples))
        return StageRun({"samples": "samples.jsonl"},
                        {"samples": len(samples), "tasks": len(task_ids),
                         "tokens": sum(s.tokens for s in samples)})

    inputs = {"model": ctx.config.model, "backend": ctx.config.backend, "tasks": ctx.tasks_hash,
              "task_ids": task_ids, "sampling": plain_data(params), "policy": policy}
    return _run_stage(ctx.run_path, round_no, "sample", inputs, work, ctx.log)


def _execute_stage(ctx: _Context, round_no: int, sample_manifest: dict[str, Any]):
    from codealign.generator import Sample

    src = ctx.run_path / f"round-{round_no}" / "sample" / sample_manifest["outputs"]["samples"]

    def work(d: Path) -> StageRun:
        executions, references = ctx.execute(_load(Sample, src), references=True)
        write_jsonl(d / "executions.jsonl", (e.to_dict() for e in executions))
        write_jsonl(d / "references.jsonl", (e.to_dict() for e in references))
        return StageRun({"executions": "executions.jsonl", "references": "references.jsonl"},
                        {"executions": len(executions),
                         "passed": sum(1 for e in executions if e.passed),
                         "statuses": dict(sorted(Counter(e.status.value for e in executions).items())),
                         "references_passed": f"{sum(e.passed for e in references)}/{len(references)}"})

    inputs = {"samples": sample_manifest["output_hashes"]["samples"], "sandbox": plain_data(ctx.config.sandbox)}
    return _run_stage(ctx.run_path, round_no, "execute", inputs, work, ctx.log)


def _judge_stage(ctx: _Context, round_no: int, sample_manifest, execute_manifest):
    from codealign.generator import Sample
    from codealign.judges import judge_executions
    from codealign.sandbox.execution import Execution

    base = ctx.run_path / f"round-{round_no}"

    def work(d: Path) -> StageRun:
        samples = _load(Sample, base / "sample" / sample_manifest["outputs"]["samples"])
        executions = _load(Execution, base / "execute" / execute_manifest["outputs"]["executions"])
        references = {e.task_id: e for e in
                      _load(Execution, base / "execute" / execute_manifest["outputs"]["references"])}
        tasks = [ctx.tasks[t] for t in dict.fromkeys(s.task_id for s in samples)]
        verdicts, pairs, summary = judge_executions(tasks, samples, executions, references,
                                                    ctx.config.judges, ctx.config.pairs)
        write_jsonl(d / "verdicts.jsonl", (v.to_dict() for v in verdicts))
        write_jsonl(d / "pairs.jsonl", (p.to_dict() for p in pairs))
        write_json(d / "summary.json", plain_data(summary))
        by_reason = Counter(p.reason.value for p in pairs)
        return StageRun({"verdicts": "verdicts.jsonl", "pairs": "pairs.jsonl", "summary": "summary.json"},
                        {"pairs": len(pairs), "pairs_by_reason": dict(sorted(by_reason.items()))})

    inputs = {"samples": sample_manifest["output_hashes"]["samples"],
              "executions": execute_manifest["output_hashes"]["executions"],
              "references": execute_manifest["output_hashes"]["references"],
              "judges": plain_data(ctx.config.judges), "pairs": plain_data(ctx.config.pairs)}
    return _run_stage(ctx.run_path, round_no, "judge", inputs, work, ctx.log)


def _train_stage(ctx: _Context, round_no: int, judge_manifest, policy: dict[str, Any]):
    from codealign.trainer.dpo import train_round

    pairs_path = ctx.run_path / f"round-{round_no}" / "judge" / judge_manifest["outputs"]["pairs"]
    dpo = dataclasses.replace(ctx.config.dpo, seed=ctx.config.dpo.seed + round_no)

    def work(d: Path) -> StageRun:
        if judge_manifest["result"]["pairs"] == 0:
            return StageRun({}, {"skipped": "no preference pairs: nothing to train"})
        result = train_round(ctx.config.model, pairs_path, d, dpo,
                             previous_adapter=_abs(ctx, policy["adapter"]),
                             chat=ctx.config.sampling.chat, progress=ctx.progress)
        return StageRun({"adapter": "adapter", "metrics": "metrics.jsonl", "train": "train.json"},
                        {"steps": result.steps, "stopped_early": result.stopped_early,
                         "stop_reason": result.stop_reason, "reference": result.reference,
                         "pairs": result.pairs, "train_tokens": result.train_tokens,
                         "tokens_per_s": result.tokens_per_s, "device": result.device,
                         "last": {k: round(v, 4) for k, v in result.last_metrics.items()
                                  if k.startswith(("rewards/", "logps/", "loss"))
                                  or k in ("chosen_logp_change", "drift")}})

    inputs = {"pairs": judge_manifest["output_hashes"]["pairs"], "dpo": plain_data(dpo),
              "model": ctx.config.model, "policy": policy}
    return _run_stage(ctx.run_path, round_no, "train", inputs, work, ctx.log)


def _evaluate_stage(ctx: _Context, round_no: int, heldout: list[str], adapter: str | None,
                    adapter_hash: str | None, skipped: str = ""):
    from codealign.judges import judge_static
    from codealign.trainer.evaluate import Outcome, evaluate, is_secure

    ev = ctx.config.evaluation
    # The same seed for every policy: rounds are compared on the same random draws.
    params = dataclasses.replace(ctx.config.sampling, n=ev.n_samples, temperature=ev.temperature)

    def work(d: Path) -> StageRun:
        if skipped:
            return StageRun({}, {"skipped": skipped})
        policy = "base" if adapter is None else f"round-{round_no}"
        samples = ctx.sample(heldout, params, _abs(ctx, adapter), round_no, policy)
        write_jsonl(d / "samples.jsonl", (s.to_dict() for s in samples))
        executions, _ = ctx.execute(samples, references=False)
        write_jsonl(d / "executions.jsonl", (e.to_dict() for e in executions))
        passing = [(s, e) for s, e in zip(samples, executions) if e.passed]
        # Security (bandit) and tamper judges on the passing samples: a tampered pass is no pass.
        static = dict(zip((s.sample_id for s, _ in passing),
                          judge_static([s.code for s, _ in passing], [e for _, e in passing],
                                       ctx.config.judges)))
        ops_known = all(e.cost.ops is not None for _, e in passing)
        outcomes = []
        for s, e in zip(samples, executions):
            scores = static.get(s.sample_id)
            honest = scores is not None and scores["tamper"].ok and not scores["tamper"].value
            secure = cost = None
            if honest:
                security = scores["security"]
                secure = is_secure(security.details.get("findings", ())) if security.ok else None
                cost = e.cost.ops if ops_known else e.cost.cpu_s
            outcomes.append(Outcome(s.task_id, honest, secure, cost, s.tokens))
        report = evaluate(outcomes, ev.k, "ops" if ops_known else "cpu_s", task_ids=heldout)
        write_json(d / "report.json", report.to_dict())
        return StageRun({"samples": "samples.jsonl", "executions": "executions.jsonl",
                         "report": "report.json"}, report.headline())

    inputs = {"model": ctx.config.model, "backend": ctx.config.backend, "tasks": ctx.tasks_hash,
              "heldout": heldout, "sampling": plain_data(params), "evaluation": plain_data(ev),
              "sandbox": plain_data(ctx.config.sandbox), "adapter": adapter_hash, "skipped": skipped}
    return _run_stage(ctx.run_path, round_no, "evaluate", inputs, work, ctx.log)


def _gate_stage(ctx: _Context, round_no: int, eval_manifest, incumbent: dict[str, Any]):
    from codealign.trainer.gate import decide

    def work(d: Path) -> StageRun:
        if eval_manifest["result"].get("skipped"):
            decision = {"status": "rejected", "promoted": False,
                        "reason": eval_manifest["result"]["skipped"], "objective": ctx.config.gate.objective.value,
                        "delta": None, "pass_at_1_delta": None}
        else:
            decision = decide(eval_manifest["result"], incumbent["metrics"], ctx.config.gate).to_dict()
        decision["incumbent_round"] = incumbent["round"]
        write_json(d / "decision.json", decision)
        return StageRun({"decision": "decision.json"}, decision)

    inputs = {"candidate": eval_manifest["output_hashes"], "candidate_result": eval_manifest["result"],
              "incumbent": incumbent, "gate": plain_data(ctx.config.gate)}
    return _run_stage(ctx.run_path, round_no, "gate", inputs, work, ctx.log)


# ---------------------------------------------------------------------------------------------
# The loop


def _abs(ctx: _Context, rel: str | None) -> str | None:
    return None if rel is None else str(ctx.run_path / rel)


def _round_tasks(config: RunConfig, train_ids: list[str], round_no: int) -> list[str]:
    if config.tasks_per_round is None or config.tasks_per_round >= len(train_ids):
        return list(train_ids)
    rng = random.Random(f"{config.seed}:{round_no}")
    chosen = set(rng.sample(train_ids, config.tasks_per_round))
    return [t for t in train_ids if t in chosen]


@dataclass
class LoopResult:
    run_path: Path
    rounds: list[dict[str, Any]]
    timings: dict[str, dict[str, float]]


def run_loop(config: RunConfig, *, rounds: int | None = None, run_dir: str | Path | None = None,
             progress: bool = True, log: Callable[[str], None] | None = None) -> LoopResult:
    """Run (or resume) rounds 1..`rounds` of `config`; return the round records and timings."""
    log = log or (lambda line: None)
    if run_dir is not None:
        config = dataclasses.replace(config, run_dir=str(run_dir))
    total = rounds if rounds is not None else config.rounds
    if not isinstance(total, int) or total < 1:
        raise ConfigError(f"must be a positive integer, got {total!r}", field="rounds")
    tasks = check_tasks(config)
    run_path = config.run_path
    run_path.mkdir(parents=True, exist_ok=True)

    from codealign.trainer.evaluate import split_tasks

    ev = config.evaluation
    train_ids, heldout = split_tasks([t.task_id for t in tasks], ev.heldout_fraction, ev.split_seed)
    split = {"rule": "held out iff sha256(f'{seed}:{task_id}')[:8] / 2**64 < fraction "
                     "(at least one task on each side)",
             "fraction": ev.heldout_fraction, "seed": ev.split_seed, "train": train_ids, "heldout": heldout}
    previous_split = run_path / "split.json"
    if previous_split.exists() and json.loads(previous_split.read_text()) != split:
        raise ConfigError(f"{run_path} was started with a different task split; use a new run name",
                          path=str(previous_split))
    write_json(previous_split, split)
    write_json(run_path / "config.json", config.section_dicts())

    ctx = _Context(config, run_path, tasks, progress, log)
    try:
        base_eval = _evaluate_stage(ctx, 0, heldout, None, None)
        incumbent = {"round": 0, "adapter": None, "adapter_hash": None, "metrics": base_eval["result"]}
        for k in range(1, total + 1):
            policy = {"name": "base" if incumbent["adapter"] is None else f"round-{incumbent['round']}",
                      "adapter": incumbent["adapter"], "adapter_hash": incumbent["adapter_hash"]}
            sampled = _sample_stage(ctx, k, _round_tasks(config, train_ids, k), policy)
            executed = _execute_stage(ctx, k, sampled)
            judged = _judge_stage(ctx, k, sampled, executed)
            trained = _train_stage(ctx, k, judged, policy)
            adapter = f"round-{k}/train/adapter" if "adapter" in trained["outputs"] else None
            adapter_hash = trained["output_hashes"].get("adapter")
            evaluated = _evaluate_stage(ctx, k, heldout, adapter, adapter_hash,
                                        skipped=trained["result"].get("skipped", ""))
            gated = _gate_stage(ctx, k, evaluated, incumbent)
            if gated["result"]["promoted"]:
                incumbent = {"round": k, "adapter": adapter, "adapter_hash": adapter_hash,
                             "metrics": evaluated["result"]}
            write_rounds(run_path)
    finally:
        ctx.close()
    write_rounds(run_path)
    return LoopResult(run_path, read_rounds(run_path), stage_timings(run_path))


# ---------------------------------------------------------------------------------------------
# Records rebuilt from the manifests


def _manifests(run_path: Path) -> dict[int, dict[str, dict[str, Any]]]:
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for round_dir in run_path.glob("round-*"):
        try:
            k = int(round_dir.name.removeprefix("round-"))
        except ValueError:
            continue
        for stage in STAGES:
            m = _read_manifest(round_dir / stage)
            if m is not None:
                out.setdefault(k, {})[stage] = m
    return out


def _round_record(k: int, stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def artifact(stage: str, name: str) -> str | None:
        m = stages.get(stage)
        return f"round-{k}/{stage}/{m['outputs'][name]}" if m and name in m["outputs"] else None

    ev = stages["evaluate"]["result"]
    metrics = None if ev.get("skipped") else {
        "pass@1": ev["pass@1"], "pass@k": ev["pass_at"], "secure_rate": ev["secure_rate"],
        "secure_pass_rate": ev["secure_pass_rate"], "mean_cost": ev["mean_cost"],
        "cost_unit": ev["cost_unit"], "mean_tokens": ev["mean_tokens"], "samples": ev["samples"]}
    if k == 0:
        return {"round": 0, "policy": "base", "status": "baseline", "metrics": metrics,
                "artifacts": {"eval_report": artifact("evaluate", "report")}}
    sample, judge, train, gate = (stages[s] for s in ("sample", "judge", "train", "gate"))
    return {
        "round": k,
        "policy": f"round-{k}",
        "started_from": sample["inputs"]["policy"]["name"],
        "status": gate["result"]["status"],
        "reason": gate["result"]["reason"],
        "gate": gate["result"],
        "metrics": metrics,
        "samples": sample["result"]["samples"],
        "pairs": judge["result"]["pairs"],
        "pairs_by_reason": judge["result"]["pairs_by_reason"],
        "train": {k2: v for k2, v in train["result"].items() if k2 not in ("tokens_per_s", "device")},
        "artifacts": {"samples": artifact("sample", "samples"), "executions": artifact("execute", "executions"),
                      "verdicts": artifact("judge", "verdicts"), "pairs": artifact("judge", "pairs"),
                      "adapter": artifact("train", "adapter"), "train_metrics": artifact("train", "metrics"),
                      "eval_report": artifact("evaluate", "report"), "decision": artifact("gate", "decision")},
    }


def write_rounds(run_path: Path) -> None:
    """Rewrite rounds.jsonl and timings.json from the manifests (atomic; never appends)."""
    manifests = _manifests(run_path)
    records = [_round_record(k, manifests[k]) for k in sorted(manifests)
               if "gate" in manifests[k] or (k == 0 and "evaluate" in manifests[k])]
    write_jsonl(run_path / "rounds.jsonl", records)
    write_json(run_path / "timings.json", stage_timings(run_path))


def read_rounds(run_path: str | Path) -> list[dict[str, Any]]:
    path = Path(run_path) / "rounds.jsonl"
    return [obj for _, obj in read_jsonl(path)] if path.exists() else []


def stage_timings(run_path: str | Path) -> dict[str, dict[str, float]]:
    """``{"round-k": {stage: seconds}}`` from the manifests (the time of the attempt that finished)."""
    return {f"round-{k}": {s: m["seconds"] for s, m in stages.items()}
            for k, stages in sorted(_manifests(Path(run_path)).items())}
