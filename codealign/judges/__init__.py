"""Judges: from sandbox executions to ranked verdicts and preference pairs.

    samples ──► sandbox (profile=True) ──► executions ─┐
    task references ──► sandbox (profile=True) ────────┤  efficiency baseline
                                                       ▼
    static judges, batched: maintainability (radon), security (bandit), tamper (AST)
    efficiency (cost vs reference or best sample) ──► ranking (security a hard line) ──► pairs

`judge_samples` does all of it; `judge_executions` is the part after the sandbox, a pure
function of its arguments (used by tests on literal `Execution` records).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from codealign.errors import InputError
from codealign.generator.sample import Sample
from codealign.judges.complexity import judge_complexity
from codealign.judges.efficiency import Calibration, judge_efficiency_group
from codealign.judges.pairs import Pair, PairConfig, PairReason, build_pairs
from codealign.judges.ranking import JudgeConfig, rank_verdicts
from codealign.judges.rules import passed_honestly
from codealign.judges.security import judge_security_batch
from codealign.judges.tamper import judge_tamper
from codealign.judges.verdict import JudgeScore, JudgeStatus, Verdict
from codealign.sandbox.execution import Execution
from codealign.tasks.task import Task, reference_id

if TYPE_CHECKING:  # judge_samples imports the sandbox when it runs
    from codealign.sandbox import SandboxConfig

__all__ = ["JudgeScore", "JudgeStatus", "Verdict", "JudgeConfig", "PairConfig", "PairReason",
           "Pair", "judge_static", "judge_executions", "judge_samples", "reference_id"]

SECURITY_BATCH = 512


def judge_static(codes: Sequence[str], executions: Sequence[Execution | None] | None = None,
                 config: JudgeConfig = JudgeConfig()) -> list[dict[str, JudgeScore]]:
    """Maintainability, security and tamper scores for many programs; bandit runs once per
    batch of `SECURITY_BATCH` programs."""
    executions = list(executions) if executions is not None else [None] * len(codes)
    security: list[JudgeScore] = []
    for start in range(0, len(codes), SECURITY_BATCH):
        security += judge_security_batch(codes[start:start + SECURITY_BATCH], config.bandit_skips)
    out = []
    for code, execution, sec in zip(codes, executions, security):
        out.append({"maintainability": _guard("maintainability", judge_complexity, code),
                    "security": sec,
                    "tamper": _guard("tamper", judge_tamper, code, execution)})
    return out


def _guard(name: str, judge: Callable[..., JudgeScore], *args: Any) -> JudgeScore:
    """Run a judge; if it crashes, its record says so (status error), never a score of 0."""
    try:
        return judge(*args)
    except Exception as exc:
        return JudgeScore.error(name, exc)


def judge_executions(tasks: Sequence[Task], samples: Sequence[Sample],
                     executions: Sequence[Execution],
                     references: dict[str, Execution] | None = None,
                     judge_config: JudgeConfig = JudgeConfig(),
                     pair_config: PairConfig = PairConfig(),
                     ) -> tuple[list[Verdict], list[Pair], dict[str, Any]]:
    """Judge executed samples: returns (verdicts in input order, pairs, summary).

    `executions[i]` is the sandbox's record of `samples[i]`; `references` maps task_id to
    the profiled execution of that task's reference solution, when there is one.
    """
    by_id = {t.task_id: t for t in tasks}
    if len(samples) != len(executions):
        raise ValueError(f"{len(samples)} samples but {len(executions)} executions")
    for i, (s, e) in enumerate(zip(samples, executions)):
        if s.task_id not in by_id:
            raise InputError(f"sample {s.sample_id!r} names unknown task {s.task_id!r}",
                             field="task_id")
        if e.sample_id != s.sample_id:
            raise ValueError(f"execution {i} is for {e.sample_id!r}, not {s.sample_id!r}")
    references = references or {}

    static = judge_static([s.code for s in samples], executions, judge_config)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(s.task_id, []).append(i)

    # Efficiency only among samples that passed honestly: a tampered "pass" must neither
    # become a baseline nor calibrate the op-count floor (one calibration for the run).
    honest = {i for i, e in enumerate(executions) if passed_honestly(e, static[i]["tamper"])}
    calibration = Calibration.of([executions[i] for i in sorted(honest)],
                                 [references[t] for t in sorted(references)])
    verdicts: list[Verdict | None] = [None] * len(samples)
    pairs: list[Pair] = []
    for task_id, idx in groups.items():
        task = by_id[task_id]
        efficiency = judge_efficiency_group([executions[i] for i in idx if i in honest],
                                            references.get(task_id), calibration)
        unranked = []
        for i in idx:
            scores = dict(static[i])
            if executions[i].sample_id in efficiency:
                scores["efficiency"] = efficiency[executions[i].sample_id]
            unranked.append(Verdict(samples[i].sample_id, task_id, samples[i].code,
                                    executions[i], scores))
        ranked = rank_verdicts(unranked, judge_config)
        position = {v.sample_id: v for v in ranked}
        for i in idx:
            verdicts[i] = position[samples[i].sample_id]
        # A sample whose sandbox was lost (Ray worker/node) says nothing about its code.
        pairs += build_pairs(task, [v for v in ranked if not v.execution.infrastructure_error],
                             pair_config)
    done = [v for v in verdicts if v is not None]
    summary = summarize(done, pairs)
    summary["efficiency_calibration"] = calibration.to_dict()
    return done, pairs, summary


def summarize(verdicts: Sequence[Verdict], pairs: Sequence[Pair]) -> dict[str, Any]:
    """Counts for summary.json: statuses, tampering, pairs by reason, judge errors."""
    errors: Counter[str] = Counter()
    errors_passing: Counter[str] = Counter()
    for v in verdicts:
        for name, s in v.scores.items():
            if not s.ok:
                errors[name] += 1
                errors_passing[name] += v.execution.sandbox_passed
    return {
        "samples": len(verdicts),
        "tasks": len({v.task_id for v in verdicts}),
        "by_status": dict(sorted(Counter(v.execution.status.value for v in verdicts).items())),
        "passed_honestly": sum(v.passed for v in verdicts),
        "tampered": sum(v.tampered for v in verdicts),
        "infrastructure_errors": sum(v.execution.infrastructure_error for v in verdicts),
        "pairs": len(pairs),
        "pairs_by_reason": {r.value: sum(p.reason is r for p in pairs) for r in PairReason},
        "tasks_with_pairs": len({p.task_id for p in pairs}),
        # Judges that could not judge; on failing samples this is mostly code that does
        # not parse, on passing ones it is a fault worth looking at.
        "judge_errors": dict(sorted(errors.items())),
        "judge_errors_on_passing": {k: n for k, n in sorted(errors_passing.items()) if n},
    }


def judge_samples(tasks: Sequence[Task], samples: Sequence[Sample],
                  sandbox_config: SandboxConfig | None = None,
                  judge_config: JudgeConfig = JudgeConfig(),
                  pair_config: PairConfig = PairConfig(), progress: bool = False,
                  ) -> tuple[list[Verdict], list[Pair], dict[str, Any]]:
    """Run every sample (and every task reference) in the sandbox with profiling, then judge.

    Returns (verdicts in sample order, pairs, summary). `sandbox_config` is a
    `codealign.sandbox.SandboxConfig` (default: its defaults).
    """
    from codealign.sandbox import Job, SandboxConfig, run_many

    by_id = {t.task_id: t for t in tasks}
    for s in samples:
        if s.task_id not in by_id:
            raise InputError(f"sample {s.sample_id!r} names unknown task {s.task_id!r}",
                             field="task_id")
    used = [t for t in tasks if t.task_id in {s.task_id for s in samples}]
    jobs = [Job(s.sample_id, by_id[s.task_id], s.code, profile=True) for s in samples]
    with_reference = [(t, t.reference) for t in used if t.reference]
    jobs += [Job(reference_id(t), t, reference, profile=True) for t, reference in with_reference]
    results = run_many(jobs, sandbox_config or SandboxConfig(), progress=progress)
    executions = results[:len(samples)]
    references = {t.task_id: e for (t, _), e in zip(with_reference, results[len(samples):])}
    verdicts, pairs, summary = judge_executions(tasks, samples, executions, references,
                                                judge_config, pair_config)
    summary["references"] = {"profiled": len(references),
                             "passed": sum(e.sandbox_passed for e in references.values())}
    return verdicts, pairs, summary
