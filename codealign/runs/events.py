"""Typed events of a run: the engine emits them, everything that shows progress subscribes.

The engine never prints. It hands each event to its subscribers (callables taking the event
object: the CLI's bars and log lines, a test's list, the service's stream) and appends it to
``events.jsonl`` in the run directory, one JSON object per line with ``seq`` (1, 2, ... per
run, continued across resumes), ``time`` (ISO 8601, UTC) and ``type``, then the event's fields.

>>> StageFinished(round=1, stage="execute", seconds=2.5, summary={"passed": 3}).to_dict()
{'type': 'stage_finished', 'round': 1, 'stage': 'execute', 'seconds': 2.5, 'summary': {'passed': 3}, 'skipped': False}
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from codealign.runs.state import now_iso

__all__ = ["Event", "RunStarted", "RunFinished", "RunFailed", "RunCanceled", "StageStarted",
           "StageFinished", "Progress", "RoundDecided", "Note", "EventLog", "read_events",
           "EVENTS_FILE", "EVENT_TYPES"]

EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class Event:
    """Base of every event; `type` names it in ``events.jsonl``."""

    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        """The one serializer: ``{"type": ..., <fields>}``."""
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}


@dataclass(frozen=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    run: str
    rounds: int
    resumed: int = 0
    parent_run: str | None = None


@dataclass(frozen=True)
class RunFinished(Event):
    """The run succeeded: every requested round is decided."""

    type: ClassVar[str] = "run_finished"
    rounds: int
    status: str = "succeeded"


@dataclass(frozen=True)
class RunFailed(Event):
    type: ClassVar[str] = "run_failed"
    error: str
    round: int | None = None
    stage: str | None = None
    traceback: str = ""


@dataclass(frozen=True)
class RunCanceled(Event):
    type: ClassVar[str] = "run_canceled"
    round: int | None = None
    stage: str | None = None


@dataclass(frozen=True)
class StageStarted(Event):
    type: ClassVar[str] = "stage_started"
    round: int
    stage: str


@dataclass(frozen=True)
class StageFinished(Event):
    """A stage's done mark was written (or, `skipped`, found from an earlier attempt)."""

    type: ClassVar[str] = "stage_finished"
    round: int
    stage: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


@dataclass(frozen=True)
class Progress(Event):
    """`done` of `total` units of one step of a stage (`label`: "sampling (base)", "exec", "train")."""

    type: ClassVar[str] = "progress"
    round: int
    stage: str
    done: int
    total: int
    label: str = ""


@dataclass(frozen=True)
class RoundDecided(Event):
    type: ClassVar[str] = "round_decided"
    round: int
    status: str
    reason: str


@dataclass(frozen=True)
class Note(Event):
    """A line worth showing that is no stage's result (e.g. "loading <model>")."""

    type: ClassVar[str] = "note"
    text: str


EVENT_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in (
    RunStarted, RunFinished, RunFailed, RunCanceled, StageStarted, StageFinished, Progress,
    RoundDecided, Note)}

Subscriber = Callable[[Event], None]


class EventLog:
    """Appends events to ``events.jsonl`` (numbering them) and hands them to subscribers.

    Only the lease holder opens one. A line torn by a killed process is cut off on open, so
    numbering continues from the last whole event.
    """

    def __init__(self, run_path: str | Path, subscribers: Iterable[Subscriber] = ()) -> None:
        self.path = Path(run_path) / EVENTS_FILE
        self.subscribers = list(subscribers)
        self._lock = threading.RLock()
        self.seq = _repair(self.path)

    def emit(self, event: Event) -> None:
        """Append `event`, then hand it to each subscriber, in order (one event at a time,
        whichever thread emits: sandbox workers report progress from their own threads)."""
        with self._lock:
            self.seq += 1
            record = {"seq": self.seq, "time": now_iso(), **event.to_dict()}
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            for subscriber in self.subscribers:
                subscriber(event)


def _repair(path: Path) -> int:
    """The last whole event's seq; drops a torn last line."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]
        with open(path, "r+b") as handle:
            handle.truncate(len(data))
            handle.flush()
            os.fsync(handle.fileno())
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return json.loads(lines[-1])["seq"] if lines[-1] else 0


def read_events(run_path: str | Path, after_seq: int = 0) -> list[dict[str, Any]]:
    """Events with ``seq > after_seq``, as dicts, in order (a torn last line is skipped)."""
    path = Path(run_path) / EVENTS_FILE
    if not path.exists():
        return []
    out = []
    for raw in path.read_bytes().split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue                         # the line a writer is appending, or a torn one
        if record["seq"] > after_seq:
            out.append(record)
    return out
