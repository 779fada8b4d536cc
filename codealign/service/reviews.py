"""People spot-check what the judges taught: the review queue, the exclusions, the agreement rates.

**The queue.** Every decided round of every run the service indexes (its own runs when their
worker exits, nights when ``codealign nightly`` indexes them, any run on service start) has a
small sample of its pairs drawn into the queue once (`sync_run`): up to
`Settings.review_per_reason` pairs of each reason (correctness, efficiency, security,
maintainability), drawn by a shuffle seeded by the run, the round and the reason (`draw`), among
the pairs not queued already (the same pair, by `codealign.judges.pairs.pair_id`, made again in
a later round or night is not asked about twice). A queued item keeps the pair's record as it
was drawn (its provenance included), so a review outlives the run directory.

**Reviews.** A reviewer (an API key of scope write, attributed by `Caller.owner`) says
*agree*, *disagree* or *skip* about an item, with an optional comment; one review per item and
key, replaced when the key reviews the item again.

**Exclusions.** A pair that a reviewer disagrees with (a current *disagree* review by any key)
is excluded from every later training set. The run engine never imports the service: the
exclusion list reaches runs as data, ``<run>/exclusions.json`` (`codealign.runs.exclusions`),
written before a run worker starts or resumes a run (`codealign.service.workers`), by
``codealign nightly --database-url`` into each night, and into every run not finished
whenever a review changes the list (`push_exclusions`), so that a running run reads it at the
start of its next round.

**Agreement.** Each judge's agreement rate with the reviewers, per reason (the reason's judge:
the tests for correctness, the efficiency judge, bandit, radon), overall and per round of origin
in the order the rounds were drawn: agree / (agree + disagree) of the reviews (skips do not
count), with its Wilson score interval (`codealign.trainer.stats.wilson`). Reviews are treated
as independent trials (several reviews of one pair, or pairs of one task, are not).
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codealign.records import PairRow
from codealign.service.errors import NotFound
from codealign.service.store.models import Review, ReviewItem, ReviewRound, ReviewVerdict, utcnow
from codealign.trainer.stats import Interval, wilson

__all__ = ["REASONS", "JUDGES", "SOURCE", "REVIEW_PER_REASON", "draw", "sync_run", "record_review", "excluded_pair_ids",
           "push_exclusions", "Votes", "RoundAgreement", "JudgeAgreement", "agreement", "votes_of",
           "ItemContext", "SideContext", "StrengthenedInput", "item_context", "item_counts"]

REASONS = ("correctness", "efficiency", "security", "maintainability")
"""`codealign.judges.pairs.PairReason`'s values, in its order."""
JUDGES = {"correctness": "tests (sandbox)", "efficiency": "efficiency (CPU cost)",
          "security": "security (bandit)", "maintainability": "maintainability (radon)"}
"""The judge that decides a pair of each reason."""
SOURCE = "codealign service: reviews"
REVIEW_PER_REASON = 2
"""Pairs of each reason drawn from each round by default (`Settings.review_per_reason`)."""
_CHUNK = 500


# ---------------------------------------------------------------------------------------------
# Drawing the queue


def draw(pairs: Sequence[PairRow], per_reason: int, seed: str) -> list[PairRow]:
    """Up to `per_reason` of each reason's pairs, drawn by a shuffle seeded by `seed` and the
    reason; reason by reason (`REASONS` order), each in the pairs' own order.

    >>> from types import SimpleNamespace as P
    >>> rows = [P(reason="correctness" if i < 5 else "security") for i in range(7)]
    >>> [p.reason for p in draw(rows, 2, "run:1")]
    ['correctness', 'correctness', 'security', 'security']
    >>> draw(rows, 2, "run:1") == draw(rows, 2, "run:1")
    True
    """
    out: list[PairRow] = []
    for reason in REASONS:
        group = [p for p in pairs if p.reason == reason]
        chosen = set(random.Random(f"{seed}\0{reason}").sample(range(len(group)), min(per_reason, len(group))))
        out += [p for i, p in enumerate(group) if i in chosen]
    return out


def _queued(session: Session, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        found |= set(session.scalars(select(ReviewItem.pair_id).where(ReviewItem.pair_id.in_(chunk))))
    return found


def sync_run(session: Session, run_name: str, run_path: Path, per_reason: int) -> int:
    """Draw each decided round (k >= 1) of the run that was not drawn yet into the queue; the
    number of pairs queued. Every round is drawn once (a round with no pair, or a service
    with ``per_reason`` 0, draws nothing, and is not drawn again); two processes drawing the
    same round at once queue it once (the second one's insert fails and is rolled back)."""
    from codealign.runs import RunReader

    if per_reason <= 0:
        return 0
    reader = RunReader(run_path)
    drawn = set(session.scalars(select(ReviewRound.round).where(ReviewRound.run_name == run_name)))
    added = 0
    for record in reader.rounds():
        k = record.round
        if k == 0 or k in drawn or record.artifacts.pairs is None:
            continue
        pairs: list[PairRow] = []
        seen: set[str] = set()
        for p in reader.pairs(k):                   # the first of equal pairs (a round makes each once)
            if p.id not in seen:
                seen.add(p.id)
                pairs.append(p)
        queued = _queued(session, [p.id for p in pairs])
        chosen = draw([p for p in pairs if p.id not in queued], per_reason, f"{run_name}:{k}")
        now = utcnow()
        try:
            with session.begin_nested():
                session.add(ReviewRound(run_name=run_name, round=k, pairs=len(pairs), drawn=len(chosen), drawn_at=now))
                session.add_all(ReviewItem(run_name=run_name, round=k, pair_id=p.id, task_id=p.task_id,
                                           reason=p.reason, pair=p.to_dict(), drawn_at=now) for p in chosen)
        except IntegrityError:
            continue                             # drawn by another process meanwhile
        added += len(chosen)
    return added


# ---------------------------------------------------------------------------------------------
# Reviews and exclusions


def record_review(session: Session, item_pk: int, verdict: ReviewVerdict, comment: str,
                  owner: str) -> tuple[Review, bool]:
    """Store `owner`'s review of queue item `item_pk` (replacing theirs); (the row, created).
    `NotFound` for an unknown item. The caller commits."""
    item = session.get(ReviewItem, item_pk)
    if item is None:
        raise NotFound(f"no review item {item_pk}")
    for _ in range(2):                        # a concurrent first review by the same key: update it
        row = session.scalar(select(Review).where(Review.item_pk == item_pk, Review.owner == owner))
        try:
            with session.begin_nested():
                if row is None:
                    row = Review(item_pk=item_pk, pair_id=item.pair_id, reason=item.reason, verdict=verdict.value,
                                 comment=comment, owner=owner, created_at=utcnow(), updated_at=utcnow())
                    session.add(row)
                    created = True
                else:
                    row.verdict, row.comment, row.updated_at = verdict.value, comment, utcnow()
                    created = False
            return row, created
        except IntegrityError:
            continue
    raise RuntimeError("could not store the review")     # pragma: no cover - two retries lost


def excluded_pair_ids(session: Session) -> list[str]:
    """The pair ids some reviewer disagrees with now, sorted."""
    query = select(Review.pair_id).where(Review.verdict == ReviewVerdict.DISAGREE.value).distinct()
    return sorted(session.scalars(query))


def push_exclusions(session: Session, runs_dir: Path) -> list[str]:
    """Write the exclusion list into every run under `runs_dir` that has not finished (queued,
    running, interrupted): a running run reads it at its next round. The runs written to."""
    from codealign.runs import list_runs
    from codealign.runs.exclusions import write_exclusions

    ids = excluded_pair_ids(session)
    written = []
    for state in list_runs(runs_dir):
        if not state.status.terminal and write_exclusions(state.path, ids, SOURCE):
            written.append(Path(state.path).name)
    return written


# ---------------------------------------------------------------------------------------------
# Agreement rates


@dataclass(frozen=True)
class Votes:
    """Reviews of a set of pairs: the judge was right (agree), wrong (disagree), or unknown (skip)."""

    agree: int
    disagree: int
    skip: int
    rate: Interval
    """agree / (agree + disagree) with its 95% Wilson interval (value None: no such review)."""


def votes_of(counts: Counter) -> Votes:
    agree, disagree = counts[ReviewVerdict.AGREE.value], counts[ReviewVerdict.DISAGREE.value]
    return Votes(agree, disagree, counts[ReviewVerdict.SKIP.value], wilson(agree, agree + disagree).rounded())


@dataclass(frozen=True)
class RoundAgreement:
    """The reviews of the pairs one round (run and round) made, for one reason."""

    run: str
    round: int
    drawn_at: datetime
    votes: Votes


@dataclass(frozen=True)
class JudgeAgreement:
    """One reason's judge against the reviewers: overall and per round of origin, oldest first."""

    reason: str
    judge: str
    votes: Votes
    rounds: list[RoundAgreement]


def agreement(session: Session, run: str | None = None) -> list[JudgeAgreement]:
    """Each reason's agreement (see the module docstring); with `run`, that run's pairs only."""
    query = (select(ReviewItem.reason, ReviewItem.run_name, ReviewItem.round, func.min(ReviewItem.drawn_at),
                    Review.verdict, func.count())
             .join(Review, Review.item_pk == ReviewItem.pk)
             .group_by(ReviewItem.reason, ReviewItem.run_name, ReviewItem.round, Review.verdict))
    if run is not None:
        query = query.where(ReviewItem.run_name == run)
    per_round: dict[str, dict[tuple[str, int], Counter]] = defaultdict(lambda: defaultdict(Counter))
    first: dict[tuple[str, int], datetime] = {}
    for reason, run_name, k, drawn_at, verdict, n in session.execute(query):
        per_round[reason][(run_name, k)][verdict] += n
        first[(run_name, k)] = min(first.get((run_name, k), drawn_at), drawn_at)
    out = []
    for reason in REASONS:
        rounds = sorted(per_round[reason].items(), key=lambda kv: (first[kv[0]], kv[0]))
        total: Counter = sum((c for _, c in rounds), Counter())
        out.append(JudgeAgreement(reason, JUDGES[reason], votes_of(total),
                                  [RoundAgreement(r, k, first[(r, k)], votes_of(c)) for (r, k), c in rounds]))
    return out


# ---------------------------------------------------------------------------------------------
# What a reviewer looks at


@dataclass(frozen=True)
class StrengthenedInput:
    """One differential test input of the task: its arguments and the reference's answer."""

    args: str
    expected: str


@dataclass(frozen=True)
class SideContext:
    """One side of the pair as the sandbox and the judges saw it."""

    sample_id: str
    code: str
    """The whole program (prompt + completion for code prompts)."""
    explanation: str
    status: str
    tests_passed: int
    tests_total: int
    failed_tests: list[str]
    """``name: detail`` of each failed test (the first few)."""


@dataclass(frozen=True)
class ItemContext:
    """What decided a queued pair: the task's tests, the strengthened inputs, both sides' runs.
    `found` is False when the run directory (or the round) is gone: only the queued pair's own
    record is left then."""

    found: bool
    entry_point: str | None
    tests: str | None
    setup: str | None
    strengthened: list[StrengthenedInput]
    strengthened_note: str
    chosen: SideContext | None
    rejected: SideContext | None


def _verdicts(path: Path, ids: set[str]) -> dict[str, dict]:
    """The verdicts.jsonl lines of `ids` (only lines that name one are parsed)."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if any(i in line for i in ids):
                obj = json.loads(line)
                if obj.get("sample_id") in ids:
                    out[obj["sample_id"]] = obj
    return out


def _side(pair: PairRow, verdict: dict | None, chosen: bool) -> SideContext:
    summary = pair.chosen_verdict if chosen else pair.rejected_verdict
    text = pair.chosen if chosen else pair.rejected
    failed: list[str] = []
    if verdict is not None:
        e = verdict["execution"]
        failed = [f"{o['name']}: {o.get('detail', '')}"[:500] for o in e.get("outcomes", []) if not o.get("passed")][:5]
        if not failed and e.get("detail") and e.get("status") != "passed":
            failed = [e["detail"][:500]]
    return SideContext(sample_id=summary.sample_id, code=verdict["code"] if verdict else pair.prompt + text,
                       explanation=summary.explanation, status=summary.status, tests_passed=summary.tests_passed,
                       tests_total=summary.tests_total, failed_tests=failed)


def _strengthened(run_path: Path, k: int, task_id: str) -> tuple[list[StrengthenedInput], str]:
    path = run_path / f"round-{k}" / "execute" / "inputs.json"
    if not path.exists():
        return [], "none: the round was executed without strengthened inputs (differential testing)"
    data = json.loads(path.read_text(encoding="utf-8"))
    entry = next((t for t in data.get("tasks", []) if t.get("task_id") == task_id), None)
    diff = (entry or {}).get("diff") or {}
    cases = [StrengthenedInput(str(c.get("args")), json.dumps(c.get("expected"), ensure_ascii=False)[:300])
             for c in diff.get("cases", [])]
    return cases, "" if cases else (diff.get("why") or "none for this task")


def item_context(item: ReviewItem, runs_dir: Path) -> ItemContext:
    """The context of a queued pair, read from its run directory when it is still there."""
    from codealign.runs import RunReader

    pair = PairRow.from_dict(item.pair)
    run_path = Path(runs_dir) / item.run_name
    try:
        reader = RunReader(run_path)
        task = next((t for t in reader.tasks() if t.task_id == item.task_id), None)
    except Exception:                            # noqa: BLE001 - the run is gone or unreadable
        task = None
    if task is None:
        return ItemContext(False, None, None, None, [], "the run directory is gone", _side(pair, None, True),
                           _side(pair, None, False))
    found = _verdicts(run_path / f"round-{item.round}" / "judge" / "verdicts.jsonl",
                      {pair.chosen_id, pair.rejected_id})
    cases, note = _strengthened(run_path, item.round, item.task_id)
    return ItemContext(True, task.entry_point, task.tests, task.setup, cases, note,
                       _side(pair, found.get(pair.chosen_id), True), _side(pair, found.get(pair.rejected_id), False))


def item_counts(session: Session, item_pks: Iterable[int]) -> dict[int, Counter]:
    """Per queue item, its reviews by verdict."""
    pks = list(item_pks)
    out: dict[int, Counter] = {pk: Counter() for pk in pks}
    for start in range(0, len(pks), _CHUNK):
        query = (select(Review.item_pk, Review.verdict, func.count()).where(Review.item_pk.in_(pks[start:start + _CHUNK]))
                 .group_by(Review.item_pk, Review.verdict))
        for pk, verdict, n in session.execute(query):
            out[pk][verdict] += n
    return out
