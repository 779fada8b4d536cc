"""``codealign runs rejudge RUN [--round K]``: a finished round judged again with today's code.

The judges change (a tamper rule, a security rule, strengthened tests), and the pairs an old
round taught were made by the old ones. `rejudge_round` takes a judged round's samples as
they are and does again what came after sampling, with today's code and the run's recipe as
today's code reads it (a setting the run's ``config.json`` lacks takes today's default):

1. the execute stage's work — every sample and every task's reference run in the sandbox
   again (the strengthened tests are part of the verdict);
2. the judge stage's work (`codealign.runs.stages.judge_round`): verdicts, pairs, provenance.

Everything is written beside the round, never over it, in ``round-k/rejudge-<stamp>/``
(``executions.jsonl``, ``references.jsonl``, ``verdicts.jsonl``, ``pairs.jsonl``,
``summary.json``, its own ``events.jsonl``, and ``report.json`` last, the done mark): a
`codealign.records.rejudge.RejudgeReport` of the pairs lost, gained, flipped or given another
reason, each with why, and of the samples whose verdict changed. The round itself, its
manifests, the run's state and its events are not touched; no lease is taken (a running run
may go on with later rounds meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from codealign.errors import InputError
from codealign.jsonl import read_jsonl, write_json, write_jsonl
from codealign.records import PairRow, load_list
from codealign.records.provenance import RawScores
from codealign.records.rejudge import ChangeKind, PairChange, RejudgeReport, SampleChange

__all__ = ["rejudge_round", "judged_rounds", "REPORT_FILE", "verdict_brief"]

REPORT_FILE = "report.json"


def judged_rounds(run_path: str | Path) -> list[int]:
    """The rounds of the run whose judge stage finished, in order."""
    from codealign.runs.rounds import manifests

    return sorted(k for k, stages in manifests(Path(run_path)).items() if "judge" in stages)


def _stamp(round_dir: Path) -> Path:
    base = "rejudge-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out, n = round_dir / base, 1
    while out.exists():
        n += 1
        out = round_dir / f"{base}-{n}"
    return out


def rejudge_round(run_path: str | Path, round_no: int, *, subscribers: Iterable[Callable] = ()) -> RejudgeReport:
    """Judge round `round_no` of the run again (see the module docstring); `subscribers` get
    its events (progress of the sandbox). `InputError` when the round was not judged."""
    from codealign.generator import Sample
    from codealign.judges.provenance import judge_source, raw_scores
    from codealign.judges.verdict import Verdict
    from codealign.runs.engine import read_task_snapshot, stored_config
    from codealign.runs.events import EventLog
    from codealign.runs.stages import INPUTS_FILE, Context, _load, judge_round, read_manifest
    from codealign.runs.state import CancelToken, RunLease, now_iso

    run_path = Path(run_path)
    config = stored_config(run_path)
    round_dir = run_path / f"round-{round_no}"
    sampled, executed, judged = (read_manifest(round_dir / s) for s in ("sample", "execute", "judge"))
    if sampled is None or executed is None or judged is None:
        raise InputError(f"round {round_no} was not judged (no finished sample, execute and judge stages)",
                         path=str(round_dir))
    out = _stamp(round_dir)
    out.mkdir(parents=True)
    events = EventLog(out, subscribers)
    ctx = Context(config, run_path, read_task_snapshot(run_path), RunLease(out), events, CancelToken(out))
    ctx.round, ctx.stage = round_no, "rejudge"
    samples = _load(Sample, sampled.output(run_path, "samples"))
    executions, references = ctx.execute(samples, references=True, stage_dir=out)
    write_jsonl(out / "executions.jsonl", (e.to_dict() for e in executions))
    write_jsonl(out / "references.jsonl", (e.to_dict() for e in references))
    judge_round(ctx, sampled, executions, references, out / INPUTS_FILE, out)

    def pairs(path: Path) -> list[PairRow]:
        return load_list(PairRow, [obj for _, obj in read_jsonl(path)], path=str(path))

    def verdicts(path: Path) -> dict[str, Verdict]:
        return {obj["sample_id"]: Verdict.from_dict(obj) for _, obj in read_jsonl(path)}

    before, after = pairs(judged.output(run_path, "pairs")), pairs(out / "pairs.jsonl")
    new = verdicts(out / "verdicts.jsonl")
    # What the round's judges said of each sample: as its pairs recorded it (the rules of then),
    # else its verdict read now (its measurements; the rules of now).
    then = {sid: raw_scores(v) for sid, v in verdicts(judged.output(run_path, "verdicts")).items()}
    for p in before:
        if p.provenance is not None:
            then |= {p.chosen_id: p.provenance.chosen, p.rejected_id: p.provenance.rejected}
    now = {sid: raw_scores(v) for sid, v in new.items()}
    changed = []
    for s in samples:
        if s.sample_id in then and s.sample_id in now:
            why = _differences(then[s.sample_id], now[s.sample_id], new[s.sample_id])
            if why:
                changed.append(SampleChange(sample_id=s.sample_id, task_id=s.task_id, why=why,
                                            before=verdict_brief(then[s.sample_id]),
                                            after=verdict_brief(now[s.sample_id])))
    kept, changes = compare(before, after, {c.sample_id: c.why for c in changed})
    first = next((p.provenance for p in before if p.provenance is not None), None)
    report = RejudgeReport(run=run_path.name, round=round_no, directory=str(out.relative_to(run_path)),
                           made_at=now_iso(), before=None if first is None else first.judges,
                           after=judge_source(config.judges, config.pairs), pairs_before=len(before),
                           pairs_after=len(after), kept=kept, changes=changes, samples=len(samples),
                           verdicts_changed=changed)
    write_json(out / REPORT_FILE, report.to_dict())          # last: the done mark
    return report


def _honest(r: RawScores) -> bool:
    return r.status == "passed" and not r.tampered


def verdict_brief(r: RawScores) -> str:
    """A sample's verdict in a few words: ``passed 2/2``, ``failed 1/5, tampered``,
    ``passed 3/3, insecure``."""
    words = [f"{'passed' if _honest(r) else r.status} {r.tests_passed}/{r.tests_total}"]
    if r.tampered:
        words.append("tampered")
    if _honest(r) and r.secure is False:
        words.append("insecure")
    return ", ".join(words)


def _findings(r: RawScores) -> str:
    return ", ".join(f.replace(":", " ") for f in r.bandit_findings) or "no finding"


def _differences(then: RawScores, now: RawScores, verdict) -> list[str]:
    """How a sample's verdict `now` (today's; `verdict` its record) differs from `then`, in
    words (empty: the same honest pass, status, tests, tamper and security class)."""
    out = []
    if (then.status, then.tests_passed, then.tests_total) != (now.status, now.tests_passed, now.tests_total):
        text = f"tests: {then.status} {then.tests_passed}/{then.tests_total} → {now.status} {now.tests_passed}/{now.tests_total}"
        failed = next((o for o in verdict.execution.outcomes if not o.passed), None)
        if failed is not None:
            text += f" (first failure {failed.name}: {failed.detail or now.detail})"
        elif now.detail:
            text += f" ({now.detail})"
        out.append(text[:400])
    if then.tampered != now.tampered:
        out.append("now tampered: " + ("; ".join(now.tamper_reasons) or "the tamper judge could not look")
                   if now.tampered else "no longer tampered")
    if then.secure != now.secure:
        out.append("now insecure: bandit " + _findings(now) if now.secure is False
                   else f"now secure (was: bandit {_findings(then)})" if now.secure is True
                   else "the security judge could not judge it now")
    if _honest(then) != _honest(now) and not out:
        out.append("now passes honestly" if _honest(now) else "no longer passes honestly")
    return out


def _why(chosen: str, rejected: str, changed: dict[str, list[str]]) -> list[str]:
    why = [f"{side} {sid} {d}" for side, sid in (("chosen", chosen), ("rejected", rejected))
           for d in changed.get(sid, ())]
    return why or ["both verdicts are as they were; the pair builder draws differently now "
                   "(its rules, a margin, or the per-task cap)"]


def compare(before: list[PairRow], after: list[PairRow], changed: dict[str, list[str]]) -> tuple[int, list[PairChange]]:
    """(pairs kept, the changes) between the original pairs and the new ones, matched by
    their two samples; `changed`: how each sample's verdict changed, in words, by sample id."""
    def key(p: PairRow) -> frozenset[str]:
        return frozenset((p.chosen_id, p.rejected_id))

    matched = {key(p): p for p in after}
    kept, changes = 0, []
    for p in before:
        q = matched.pop(key(p), None)
        if q is not None and q.chosen_id == p.chosen_id and q.reason == p.reason:
            kept += 1
            continue
        if q is None:
            kind, reason, chosen, rejected = ChangeKind.LOST, p.reason, p.chosen_id, p.rejected_id
        else:
            kind = ChangeKind.FLIPPED if q.chosen_id != p.chosen_id else ChangeKind.REASON
            reason, chosen, rejected = q.reason, q.chosen_id, q.rejected_id
        why = _why(p.chosen_id, p.rejected_id, changed)
        if kind is ChangeKind.REASON:
            why = [f"{p.reason} → {q.reason}"] + [w for w in why if not w.startswith("both verdicts")]
        changes.append(PairChange(kind=kind, task_id=p.task_id, reason=reason, before_reason=p.reason,
                                  pair_id=p.id, chosen_id=chosen, rejected_id=rejected, why=why))
    for q in after:
        if key(q) in matched:
            changes.append(PairChange(kind=ChangeKind.GAINED, task_id=q.task_id, reason=q.reason, before_reason=None,
                                      pair_id=q.id, chosen_id=q.chosen_id, rejected_id=q.rejected_id,
                                      why=_why(q.chosen_id, q.rejected_id, changed)))
    return kept, changes
