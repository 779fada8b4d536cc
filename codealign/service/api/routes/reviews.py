"""``/v1/reviews``: the spot-check queue of pairs, reviewers' verdicts on them, the pairs they
excluded, and each judge's agreement with them (see `codealign.service.reviews`).

    GET  /v1/reviews/queue                 queued pairs (pending, reviewed, all), cursor paging
    GET  /v1/reviews/queue/{item_id}       one: the pair, what decided it, its reviews
    POST /v1/reviews/queue/{item_id}       review it (write): agree | disagree | skip, a comment
    GET  /v1/reviews                       the reviews, oldest first, cursor paging
    GET  /v1/reviews/agreement             each judge's agreement rate per reason, per round
    GET  /v1/reviews/exclusions            the pair ids no training set may hold

A review is the calling key's (`Caller.owner`); reviewing an item again replaces that key's
review (200; the first one: 201). A *disagree* excludes the pair from every later training set:
the list is written into every run that has not finished at once, and into each run before a
worker starts or resumes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from codealign.config import RUN_NAME
from codealign.records import PairRow
from codealign.service.api.deps import ReadCaller, SessionDep, SettingsDep, WriteCaller
from codealign.service.api.errors import PROBLEM_RESPONSES
from codealign.service.api.schemas import NO_NUL, PAGE_LIMIT, Text
from codealign.service.errors import NotFound
from codealign.service.reviews import (JUDGES, ItemContext, JudgeAgreement, agreement, excluded_pair_ids,
                                       item_context, item_counts, push_exclusions, record_review)
from codealign.service.store.models import Review, ReviewItem, ReviewVerdict

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

Reason = Literal["correctness", "efficiency", "security", "maintainability"]
ItemId = Annotated[int, PathParam(ge=1, le=2**62, description="The queue item's id.")]
MAX_COMMENT = 4000
_NOT_FOUND = {404: PROBLEM_RESPONSES[404]}


class ReviewCreate(BaseModel):
    """A reviewer's word on a queued pair."""

    model_config = ConfigDict(extra="forbid")

    verdict: ReviewVerdict = Field(description=(
        "`agree`: the chosen side is better; `disagree`: it is not (the pair is excluded from every "
        "later training set); `skip`: cannot say."))
    comment: Text = Field("", max_length=MAX_COMMENT, pattern=NO_NUL, description="Why (optional).")


class ReviewPublic(BaseModel):
    id: int
    item_id: int
    pair_id: str
    reason: str
    verdict: ReviewVerdict
    comment: str
    owner: str = Field(description="The key that made it: key:<id> (open: the API had no key yet).")
    created_at: datetime
    updated_at: datetime


class ReviewItemPublic(BaseModel):
    id: int
    run: str
    round: int
    pair_id: str
    task_id: str
    reason: str
    judge: str = Field(description="The judge whose verdict decided a pair of this reason.")
    margin: float
    drawn_at: datetime
    agree: int
    disagree: int
    skip: int
    excluded: bool = Field(description="A reviewer disagrees: no later training set holds the pair.")


class ReviewItemDetail(ReviewItemPublic):
    pair: PairRow = Field(description="The pair as it was drawn (its provenance included).")
    context: ItemContext = Field(description="What decided it, read from its run (found: false when the run is gone).")
    reviews: list[ReviewPublic]


class QueuePage(BaseModel):
    items: list[ReviewItemPublic]
    has_more: bool
    next: int | None = Field(description="Pass as `after` for the next page (null on the last).")


class ReviewPage(BaseModel):
    items: list[ReviewPublic]
    has_more: bool
    next: int | None


class AgreementReport(BaseModel):
    run: str | None = Field(description="The run whose pairs were counted (null: every run).")
    items: list[JudgeAgreement]


class Exclusions(BaseModel):
    pair_ids: list[str]
    count: int


def review_public(row: Review) -> ReviewPublic:
    return ReviewPublic(id=row.pk, item_id=row.item_pk, pair_id=row.pair_id, reason=row.reason,
                        verdict=ReviewVerdict(row.verdict), comment=row.comment, owner=row.owner,
                        created_at=row.created_at, updated_at=row.updated_at)


def item_public(row: ReviewItem, counts, excluded: set[str]) -> ReviewItemPublic:
    return ReviewItemPublic(id=row.pk, run=row.run_name, round=row.round, pair_id=row.pair_id, task_id=row.task_id,
                            reason=row.reason, judge=JUDGES.get(row.reason, row.reason),
                            margin=float(row.pair.get("margin", 0.0)), drawn_at=row.drawn_at,
                            agree=counts[ReviewVerdict.AGREE.value], disagree=counts[ReviewVerdict.DISAGREE.value],
                            skip=counts[ReviewVerdict.SKIP.value], excluded=row.pair_id in excluded)


def queue_page(session, *, run: str | None, reason: str | None, state: str, after: int | None,
               limit: int) -> QueuePage:
    """The queue (the API's and the dashboard's): items in id order after `after`."""
    reviewed = select(Review.item_pk)
    query = select(ReviewItem).order_by(ReviewItem.pk).limit(limit + 1)
    if after is not None:
        query = query.where(ReviewItem.pk > after)
    if run is not None:
        query = query.where(ReviewItem.run_name == run)
    if reason is not None:
        query = query.where(ReviewItem.reason == reason)
    if state == "pending":
        query = query.where(ReviewItem.pk.not_in(reviewed))
    elif state == "reviewed":
        query = query.where(ReviewItem.pk.in_(reviewed))
    rows = list(session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    counts = item_counts(session, [r.pk for r in rows])
    excluded = set(excluded_pair_ids(session))
    return QueuePage(items=[item_public(r, counts[r.pk], excluded) for r in rows], has_more=has_more,
                     next=rows[-1].pk if has_more else None)


def item_detail(session, settings, item_id: int) -> ReviewItemDetail:
    row = session.get(ReviewItem, item_id)
    if row is None:
        raise NotFound(f"no review item {item_id}")
    counts = item_counts(session, [row.pk])[row.pk]
    reviews = session.scalars(select(Review).where(Review.item_pk == row.pk).order_by(Review.pk))
    public = item_public(row, counts, set(excluded_pair_ids(session)))
    return ReviewItemDetail(**public.model_dump(), pair=PairRow.from_dict(row.pair),
                            context=item_context(row, settings.runs_dir), reviews=[review_public(r) for r in reviews])


def submit_review(session, settings, item_id: int, body: ReviewCreate, owner: str) -> tuple[ReviewPublic, bool]:
    """Store the review, commit, and write the exclusion list into the unfinished runs."""
    row, created = record_review(session, item_id, body.verdict, body.comment, owner)
    session.commit()
    push_exclusions(session, settings.runs_dir)
    return review_public(row), created


@router.get("/queue", response_model=QueuePage)
def get_queue(session: SessionDep, _: ReadCaller,
              run: Annotated[str | None, Query(pattern=RUN_NAME)] = None,
              reason: Reason | None = None,
              state: Literal["pending", "reviewed", "all"] = "pending",
              after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
              limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50) -> QueuePage:
    """Queued pairs (default: those nobody reviewed yet), `limit` at a time."""
    return queue_page(session, run=run, reason=reason, state=state, after=after, limit=limit)


@router.get("/queue/{item_id}", response_model=ReviewItemDetail, responses=_NOT_FOUND)
def get_item(item_id: ItemId, session: SessionDep, settings: SettingsDep, _: ReadCaller) -> ReviewItemDetail:
    """One queued pair: chosen and rejected, both verdicts, the task's tests, the strengthened
    inputs, its provenance, and the reviews so far."""
    return item_detail(session, settings, item_id)


@router.post("/queue/{item_id}", status_code=201, response_model=ReviewPublic,
             responses={200: {"model": ReviewPublic, "description": "The key's earlier review, replaced"},
                        **_NOT_FOUND})
def post_review(item_id: ItemId, body: ReviewCreate, request: Request, session: SessionDep,
                settings: SettingsDep, caller: WriteCaller):
    """Review a queued pair as the calling key (201; 200 when it replaces the key's review)."""
    review, created = submit_review(session, settings, item_id, body, caller.owner)
    return Response(review.model_dump_json(), status_code=201 if created else 200, media_type="application/json",
                    headers={"Location": f"/v1/reviews/queue/{item_id}"})


@router.get("", response_model=ReviewPage)
def list_reviews(session: SessionDep, _: ReadCaller,
                 verdict: ReviewVerdict | None = None, reason: Reason | None = None,
                 owner: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
                 after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                 limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50) -> ReviewPage:
    """Every review, oldest first; filters: verdict, reason, the key (owner) that made it."""
    query = select(Review).order_by(Review.pk).limit(limit + 1)
    if after is not None:
        query = query.where(Review.pk > after)
    if verdict is not None:
        query = query.where(Review.verdict == verdict.value)
    if reason is not None:
        query = query.where(Review.reason == reason)
    if owner is not None:
        query = query.where(Review.owner == owner)
    rows = list(session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return ReviewPage(items=[review_public(r) for r in rows], has_more=has_more,
                      next=rows[-1].pk if has_more else None)


@router.get("/agreement", response_model=AgreementReport)
def get_agreement(session: SessionDep, _: ReadCaller,
                  run: Annotated[str | None, Query(pattern=RUN_NAME)] = None) -> AgreementReport:
    """Each judge's agreement with the reviewers per reason: agree / (agree + disagree) with its
    95% Wilson interval, overall and per round of origin (oldest first)."""
    return AgreementReport(run=run, items=agreement(session, run))


@router.get("/exclusions", response_model=Exclusions)
def get_exclusions(session: SessionDep, _: ReadCaller) -> Exclusions:
    """The pairs a reviewer disagrees with (`codealign.judges.pairs.pair_id`): no later
    training set holds them."""
    ids = excluded_pair_ids(session)
    return Exclusions(pair_ids=ids, count=len(ids))
