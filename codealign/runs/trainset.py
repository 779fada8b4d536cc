"""A round's training set: its own pairs, and pairs of earlier rounds replayed after a fresh check.

`build_training_set` is the one function that decides what a round trains on; every filter of
pairs (the re-check, de-duplication, an exclusion list such as a reviewer's) is applied there:

1. the round's own pairs (the judge stage's ``pairs.jsonl``), less the excluded ids;
2. the earlier pairs (`earlier_pairs`: every judged round before this one, and with
   ``replay.lineage`` every round of the runs this one continues), de-duplicated — by
   `codealign.judges.pairs.pair_id` and by program (the same task, chosen and rejected
   programs equal up to `code_key`, the pair builder's own sameness) — less the excluded ids
   and those the round made itself;
3. as many of them as make ``replay.share`` of the training set, taken in a seeded order
   (`ReplayConfig.seed` and the pair id: the same pool gives the same order), each *re-checked*
   before it is used (`revalidate`): its task must still be a train task of this run with the
   same prompt, and both programs are executed again in this run's sandbox (its tests today:
   strengthened tests included) and judged again with this run's judges, and the pair must
   obey the pair rules (`codealign.judges.pairs.check_pair`: the chosen side passes honestly and
   is not insecure, a correctness pair's rejected side still fails, a quality pair's margin still
   clears its threshold). The old verdicts are never trusted. A pair that breaks a rule is
   dropped, with the rule, in ``replay.jsonl``; checking goes on until the share is filled or
   the pool is spent.

Every line of the training set (``round-k/train/pairs.jsonl``) says where its pair was made
(`codealign.records.training.PairOrigin`). Re-checking an efficiency pair measures CPU time
again, as the judge stage did when it made the pair: a margin near its threshold may be
judged differently on a busy machine (the other rules read no measured figure).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from codealign.jsonl import read_jsonl
from codealign.records import PairRow, load_list
from codealign.records.training import PairOrigin, ReplayCheck, TrainingPair, TrainingSetSummary
from codealign.stage_config import Boolean, Integer, Number, stage_config

__all__ = ["ReplayConfig", "ReplayFault", "Candidate", "TrainingSet", "Check", "earlier_pairs", "own_pairs",
           "build_training_set", "revalidate"]


@stage_config
class ReplayConfig:
    """Earlier pairs in a round's training set (the run config's ``replay`` section).

    Attributes:
        share: the part of the training set made of earlier pairs, in [0, 1): 0.5 = as many
            replayed pairs as the round's own (0: none). Fewer when fewer pass the re-check.
        lineage: replay the pairs of the runs this one continues (earlier nights) too.
        seed: orders the earlier pairs (which are tried first when more are available).
    """

    share: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    lineage: Boolean = True
    seed: Integer = 0

    def quota(self, new: int) -> int:
        """Replayed pairs for `new` pairs of the round's own: ``share`` of the whole set.

        >>> ReplayConfig(share=0.5).quota(20), ReplayConfig(share=0.25).quota(20), ReplayConfig().quota(20)
        (20, 6, 0)
        """
        return int(self.share * new / (1 - self.share) + 1e-9)


class ReplayFault(enum.StrEnum):
    """Why an earlier pair cannot be re-checked in this run (besides the pair rules,
    `codealign.judges.pairs.PairFault`)."""

    TASK_GONE = "task-gone"              # its task is not a train task of this run
    PROMPT_CHANGED = "prompt-changed"    # its task's prompt is not the pair's any more
    SANDBOX_LOST = "sandbox-lost"        # the re-check's sandbox was lost (says nothing of the code)


@dataclass(frozen=True)
class Candidate:
    """An earlier pair, where it was made, and its two programs (from that round's samples)."""

    pair: PairRow
    origin: PairOrigin
    chosen_code: str
    rejected_code: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Equal for pairs of the same task whose programs are equal up to `code_key`."""
        from codealign.judges.pairs import code_key

        return self.pair.task_id, code_key(self.chosen_code), code_key(self.rejected_code)


@dataclass(frozen=True)
class TrainingSet:
    """What `build_training_set` decided: the pairs (own first, then replayed), the earlier
    pairs it re-checked, and the summary."""

    pairs: tuple[TrainingPair, ...]
    checks: tuple[ReplayCheck, ...]
    summary: TrainingSetSummary


Check = Callable[[Sequence[Candidate]], list[tuple[str | None, str]]]
"""Re-checks earlier pairs: per candidate, (the fault's value or None when it holds, a detail)."""


def _training_pair(row: PairRow, origin: PairOrigin, replayed: bool) -> TrainingPair:
    fields = {k: v for k, v in row.to_dict().items()} | {"pair_id": row.id}
    return TrainingPair.from_dict(fields | {"origin": origin.to_dict(), "replayed": replayed})


def _order(candidates: Sequence[Candidate], seed: int) -> list[Candidate]:
    return sorted(candidates, key=lambda c: hashlib.sha256(f"{seed}\0{c.pair.id}".encode()).hexdigest())


def build_training_set(new: Sequence[Candidate], earlier: Sequence[Candidate], config: ReplayConfig,
                       check: Check, *, excluded: Collection[str] = frozenset()) -> TrainingSet:
    """The round's training set from its own pairs `new` and the `earlier` ones (oldest first;
    see the module docstring); `check` re-checks earlier pairs (`revalidate`), `excluded` are
    pair ids no training set may hold."""
    own = [c for c in new if c.pair.id not in excluded]
    taken_ids = {c.pair.id for c in own}
    taken_keys = {c.key for c in own}
    pool: list[Candidate] = []
    for c in earlier:                            # the first (oldest) copy of a pair stays
        if c.pair.id in taken_ids or c.key in taken_keys or c.pair.id in excluded:
            continue
        taken_ids.add(c.pair.id)
        taken_keys.add(c.key)
        pool.append(c)
    quota = config.quota(len(own))
    replayed: list[Candidate] = []
    checks: list[ReplayCheck] = []
    order = _order(pool, config.seed) if quota else []
    i = 0
    while len(replayed) < quota and i < len(order):
        chunk = order[i:i + max(8, 2 * (quota - len(replayed)))]
        i += len(chunk)
        for c, (fault, detail) in zip(chunk, check(chunk), strict=True):
            use = fault is None and len(replayed) < quota
            if use:
                replayed.append(c)
            elif fault is None:
                detail = detail or "holds; the share was already full"
            checks.append(ReplayCheck(pair_id=c.pair.id, task_id=c.pair.task_id, reason=c.pair.reason,
                                      origin=c.origin, kept=use, fault=fault, detail=detail))
    pairs = tuple([_training_pair(c.pair, c.origin, False) for c in own]
                  + [_training_pair(c.pair, c.origin, True) for c in replayed])
    dropped = Counter(ch.fault for ch in checks if ch.fault is not None)
    by_origin = Counter(c.origin.label for c in replayed)
    summary = TrainingSetSummary(
        new=len(own), replayed=len(replayed), share=float(config.share), available=len(pool),
        checked=len(checks), dropped_by_fault=dict(sorted(dropped.items())),
        replayed_by_origin=dict(sorted(by_origin.items())),
        excluded=(len(new) - len(own)) + sum(c.pair.id in excluded for c in earlier))
    return TrainingSet(pairs, tuple(checks), summary)


# ---------------------------------------------------------------------------------------------
# Reading the pairs of earlier rounds (and of the runs a run continues)


def _pairs_with_programs(pairs_path: Path, samples_path: Path, origin: PairOrigin) -> list[Candidate]:
    """The pairs of a judge stage's ``pairs.jsonl`` with their two programs from the samples
    file of the same round (a pair whose samples are gone is left out)."""
    rows = load_list(PairRow, [obj for _, obj in read_jsonl(pairs_path)], path=str(pairs_path))
    wanted = {r.chosen_id for r in rows} | {r.rejected_id for r in rows}
    codes = {obj["sample_id"]: obj["code"] for _, obj in read_jsonl(samples_path) if obj.get("sample_id") in wanted}
    return [Candidate(r, origin, codes[r.chosen_id], codes[r.rejected_id]) for r in rows
            if r.chosen_id in codes and r.rejected_id in codes]


def _round_pairs(run_path: Path, k: int, origin: PairOrigin) -> list[Candidate]:
    """Round k's judge-stage pairs with their programs (none when the round was not judged)."""
    from codealign.runs.stages import read_manifest

    judged = read_manifest(run_path / f"round-{k}" / "judge")
    sampled = read_manifest(run_path / f"round-{k}" / "sample")
    if judged is None or sampled is None:
        return []
    return _pairs_with_programs(judged.output(run_path, "pairs"), sampled.output(run_path, "samples"), origin)


def _rounds_of(run_path: Path, before: int | None) -> list[int]:
    rounds = []
    for d in run_path.glob("round-*"):
        try:
            k = int(d.name.removeprefix("round-"))
        except ValueError:
            continue
        if k >= 1 and (before is None or k < before):
            rounds.append(k)
    return sorted(rounds)


def earlier_pairs(run_path: Path, round_no: int, lineage: bool = True) -> list[Candidate]:
    """The pairs the judge stage made in rounds 1..`round_no`-1 of the run and, with
    `lineage`, in every round of the runs it continues (``lineage.json``'s parent, and its
    parent...), oldest first."""
    runs: list[tuple[Path, int | None]] = [(Path(run_path), round_no)]
    seen = {Path(run_path).resolve()}
    while lineage:
        info_path = runs[0][0] / "lineage.json"
        if not info_path.exists():
            break
        parent = json.loads(info_path.read_text(encoding="utf-8")).get("parent_run")
        if parent is None or Path(parent).resolve() in seen or not Path(parent).is_dir():
            break
        seen.add(Path(parent).resolve())
        runs.insert(0, (Path(parent), None))
    out: list[Candidate] = []
    for path, before in runs:
        for k in _rounds_of(path, before):
            out += _round_pairs(path, k, PairOrigin(run=path.name, round=k))
    return out


def own_pairs(run_path: Path, round_no: int, pairs_path: Path, samples_path: Path) -> list[Candidate]:
    """The round's own pairs (`pairs_path`, the judge stage's) with their programs."""
    return _pairs_with_programs(pairs_path, samples_path, PairOrigin(run=Path(run_path).name, round=round_no))


# ---------------------------------------------------------------------------------------------
# The re-check


def revalidate(candidates: Sequence[Candidate], tasks: Mapping[str, object], train_ids: Collection[str],
               execute: Callable[[list], tuple[list, list]], judge_config, pair_config) -> list[tuple[str | None, str]]:
    """Re-check `candidates` in this run: the task (a train task, same prompt), then both
    programs executed by `execute` (samples -> (executions, reference executions): the run's
    sandbox) and judged with `judge_config`, and `check_pair` with `pair_config` on the new
    verdicts. Per candidate: (fault value or None, detail)."""
    from codealign.generator import Sample
    from codealign.judges import judge_executions
    from codealign.judges.pairs import PairFault, PairReason, check_pair

    results: list[tuple[str | None, str] | None] = [None] * len(candidates)
    ids: dict[tuple[str, str], str] = {}
    samples: list[Sample] = []

    def sample_id(task_id: str, code: str) -> str:
        key = (task_id, code)
        if key not in ids:
            ids[key] = f"{task_id}#replay#{hashlib.sha256(code.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
            samples.append(Sample(task_id=task_id, sample_id=ids[key], code=code))
        return ids[key]

    todo = []
    for i, c in enumerate(candidates):
        task = tasks.get(c.pair.task_id)
        if task is None or c.pair.task_id not in train_ids:
            results[i] = (ReplayFault.TASK_GONE.value, f"{c.pair.task_id} is not a train task of this run")
        elif c.pair.prompt != task.continuation_prompt:
            results[i] = (ReplayFault.PROMPT_CHANGED.value, f"the prompt of {c.pair.task_id} changed")
        elif PairReason(c.pair.reason) not in pair_config.reasons:
            results[i] = (PairFault.REASON_OFF.value, f"this run draws no {c.pair.reason} pairs")
        else:
            todo.append((i, sample_id(c.pair.task_id, c.chosen_code), sample_id(c.pair.task_id, c.rejected_code)))
    if samples:
        executions, references = execute(samples)
        used = [tasks[t] for t in dict.fromkeys(s.task_id for s in samples)]
        verdicts, _, _ = judge_executions(used, samples, executions, {e.task_id: e for e in references},
                                          judge_config, pair_config)
        by_id = {v.sample_id: v for v in verdicts}
        for i, chosen_id, rejected_id in todo:
            chosen, rejected = by_id[chosen_id], by_id[rejected_id]
            if chosen.execution.infrastructure_error or rejected.execution.infrastructure_error:
                results[i] = (ReplayFault.SANDBOX_LOST.value, "the sandbox was lost while re-checking")
                continue
            fault = check_pair(PairReason(candidates[i].pair.reason), chosen, rejected, pair_config)
            results[i] = (None, "") if fault is None else (fault.value, f"now: chosen {_brief(chosen)}; "
                                                                        f"rejected {_brief(rejected)}")
    return [r if r is not None else (None, "") for r in results]


def _brief(verdict) -> str:
    e = verdict.execution
    return (f"{e.status.value} {e.tests_passed}/{e.tests_total} tests" + (", tampered" if verdict.tampered else "")
            + (", insecure" if verdict.secure is False else ""))
