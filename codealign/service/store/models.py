"""The tables. Every change here needs an Alembic revision in `migrations/versions/`."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, TypeDecorator,
                        UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "TaskStatus", "TaskRow", "TaskTag", "ApiKey", "Scope", "IdempotencyRecord",
           "RunRow", "RoundRow", "ReviewVerdict", "ReviewRound", "ReviewItem", "Review", "utcnow"]

# SQLite autoincrements only INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite returns naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class TaskStatus(str, enum.Enum):
    """A submitted task's life: validating -> active | rejected; active -> retired."""

    VALIDATING = "validating"
    ACTIVE = "active"
    REJECTED = "rejected"
    RETIRED = "retired"

    @property
    def settled(self) -> bool:
        return self is not TaskStatus.VALIDATING


class Scope(str, enum.Enum):
    """API key scopes; each includes the ones below it (admin > write > read)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: "Scope") -> bool:
        order = (Scope.READ, Scope.WRITE, Scope.ADMIN)
        return order.index(self) >= order.index(needed)


class TaskRow(Base):
    """One submitted task. `pk` orders the list (the paging cursor); `record` is the Task
    record as `Task.to_dict()` writes it; `content_hash` identifies identical resubmissions."""

    __tablename__ = "tasks"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(256), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(256), index=True)
    owner: Mapped[str] = mapped_column(String(64), default="open", server_default="open")
    """Who submitted it (`Caller.owner`: ``key:<id>``, or ``open``): validation takes the
    queue round robin across owners."""
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    content_key: Mapped[str | None] = mapped_column(String(64))
    """`codealign.tasks.similarity.content_key`: unique among the tasks not rejected (an exact
    duplicate is refused with the id it duplicates); None for a record that does not parse."""
    near_duplicate: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Leak control: the held-out task this one nearly duplicates (`NearDuplicate`'s fields),
    or None. A flagged task is kept out of the train side of runs made from the store."""
    leak_index: Mapped[str | None] = mapped_column(String(64))
    """The digest of the held-out index `near_duplicate` was decided against (None: never checked)."""
    strength: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The test strength measured at validation (`TestStrength`'s fields), or None."""
    warnings: Mapped[list[Any] | None] = mapped_column(JSON)
    """`TaskWarning`s (code, detail) of an accepted task: ``weak-tests``, ``near-duplicate``."""
    tags: Mapped[list["TaskTag"]] = relationship(back_populates="task", cascade="all, delete-orphan",
                                                 lazy="selectin", order_by="TaskTag.tag")

    __table_args__ = (Index("ix_tasks_status_owner", "status", "owner", "pk"),
                      Index("ux_tasks_content_key", "content_key", unique=True,
                            sqlite_where=text("status != 'rejected'"),
                            postgresql_where=text("status != 'rejected'")))


class TaskTag(Base):
    __tablename__ = "task_tags"

    task_pk: Mapped[int] = mapped_column(ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    task: Mapped[TaskRow] = relationship(back_populates="tags")

    __table_args__ = (Index("ix_task_tags_tag", "tag", "task_pk"),)


class ApiKey(Base):
    """A bearer key: only its public `prefix` (the key's id) and the SHA-256 of the whole key
    are stored. A revoked key keeps its row (`revoked_at` set): the API never falls back to
    open mode because every key was revoked. `last_used_at` is updated at most once a minute."""

    __tablename__ = "api_keys"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first response to an `Idempotency-Key` (per key owner and endpoint), replayed to
    retries with the same body; `state` is ``in_progress`` until the response is stored.
    `holder` (``host:pid``) is the service process handling an in-progress request: a
    restarted service clears the records of its host's dead processes, and an in-progress
    record older than `codealign.service.api.idempotency.IN_FLIGHT_S` is abandoned."""

    __tablename__ = "idempotency"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[Any | None] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(String(512))
    holder: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunRow(Base):
    """The index of one run directory (its state is re-read from the run on each request)."""

    __tablename__ = "runs"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    config_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    parent_run: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RoundRow(Base):
    """One round's record from the run's rounds.jsonl (status and metrics), for listing."""

    __tablename__ = "rounds"

    run_name: Mapped[str] = mapped_column(ForeignKey("runs.name", ondelete="CASCADE"), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)


class ReviewVerdict(str, enum.Enum):
    """A reviewer's word on a pair: the judges were right, wrong, or the reviewer cannot say."""

    AGREE = "agree"
    DISAGREE = "disagree"       # the pair is excluded from every later training set
    SKIP = "skip"


class ReviewRound(Base):
    """A round whose pairs were sampled into the review queue (drawn once, even when none was)."""

    __tablename__ = "review_rounds"

    run_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    pairs: Mapped[int] = mapped_column(Integer)
    """The round's pairs when they were drawn from."""
    drawn: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewItem(Base):
    """A pair in the review queue. `pair` is the pair's record (`codealign.records.PairRow`, its
    provenance included) as it was drawn: reviews outlive run directories. Not tied to the runs
    table: an exclusion must hold after its run is gone."""

    __tablename__ = "review_items"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_name: Mapped[str] = mapped_column(String(128))
    round: Mapped[int] = mapped_column(Integer)
    pair_id: Mapped[str] = mapped_column(String(64), index=True)
    task_id: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32))
    pair: Mapped[dict[str, Any]] = mapped_column(JSON)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("run_name", "round", "pair_id", name="uq_review_items_round_pair"),
                      Index("ix_review_items_reason", "reason", "pk"))


class Review(Base):
    """One reviewer's verdict on a queued pair: one per item and key (`owner`: ``key:<id>``, or
    ``open``); reviewing again replaces it. `pair_id` and `reason` repeat the item's (the
    exclusion list and the agreement rates read this table alone)."""

    __tablename__ = "reviews"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("review_items.pk", ondelete="CASCADE"))
    pair_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("item_pk", "owner", name="uq_reviews_item_owner"),
                      Index("ix_reviews_verdict", "verdict", "pair_id"))
