"""One shared, incremental reader of each run's ``events.jsonl`` for the event streams.

Every Server-Sent-Events subscriber of a run reads from the run's `RunTail`: the file is read
from where the last read stopped, when it has grown, at most once per `POLL_S` whoever asks;
each new line is parsed once and kept as the text it was written as (the event's SSE data),
with its seq and type. A subscriber only bisects the kept events for those after its own
seq, so fifty subscribers cost about what one does. A line without its newline yet (the
writer is appending) waits for the next read; a file that shrank or was replaced (another
inode) is read again from the start.

`RunTail.terminal` is the run's state as read *before* the events of the same refresh, so a
stream that ends on a terminal state has sent every event written before it.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunTail", "EventTails", "POLL_S"]

POLL_S = 0.5


@dataclass
class RunTail:
    """The events of the run at `run_path`, as far as read."""

    run_path: Path
    events: list[tuple[int, str, str]] = field(default_factory=list)   # (seq, type, JSON text)
    terminal: bool = False
    _offset: int = 0
    _inode: int | None = None
    _read_at: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _read(self) -> None:
        """Read what was appended since the last read (blocking file I/O)."""
        from codealign.runs import read_state
        from codealign.runs.events import EVENTS_FILE

        self.terminal = read_state(self.run_path).status.terminal
        path = self.run_path / EVENTS_FILE
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._inode, self._offset = stat.st_ino, 0
                    self.events = []
                if stat.st_size == self._offset:
                    return
                handle.seek(self._offset)
                data = handle.read(stat.st_size - self._offset)
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1              # complete lines only
        self._offset += end
        events = self.events
        for raw in data[:end].split(b"\n"):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
                record = json.loads(text)
                seq, kind = int(record["seq"]), str(record["type"])
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                continue                          # a torn line left by a crash
            if events and seq <= events[-1][0]:
                continue
            events.append((seq, kind, text))

    async def refresh(self) -> None:
        """Read new events if nobody did in the last `POLL_S` (in a thread: the first read of
        a long run's file may take a while)."""
        async with self._lock:
            now = time.monotonic()
            if now - self._read_at < POLL_S:
                return
            await asyncio.to_thread(self._read)
            self._read_at = time.monotonic()

    def after(self, seq: int) -> list[tuple[int, str, str]]:
        """The events with a seq above `seq`, in order."""
        events = self.events
        return events[bisect.bisect_right(events, seq, key=lambda e: e[0]):]


class EventTails:
    """The app's tails, one per run (the `SIZE` most recently used are kept)."""

    SIZE = 64

    def __init__(self) -> None:
        self._tails: OrderedDict[Path, RunTail] = OrderedDict()
        self._guard = threading.Lock()

    def of(self, run_path: Path) -> RunTail:
        with self._guard:
            tail = self._tails.get(run_path)
            if tail is None:
                tail = self._tails[run_path] = RunTail(run_path)
            self._tails.move_to_end(run_path)
            while len(self._tails) > self.SIZE:
                self._tails.popitem(last=False)
            return tail
