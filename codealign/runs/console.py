"""A subscriber that shows a run's events on a terminal: stage lines and rich progress bars.

The CLI (``codealign loop``, ``runs resume``) and the demo use it; the engine itself never
prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codealign.records import format_cost
from codealign.runs.events import Event, Note, Progress, StageFinished

__all__ = ["ConsoleReporter", "describe"]


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def describe(stage: str, result: dict[str, Any]) -> str:
    """A stage's summary in words (the log line after ``round k · stage:``)."""
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
        if result.get("skipped"):
            return result["skipped"]
        cost = result["mean_cost"]
        return (f"pass@1 {_fmt(result['pass@1'])}, secure rate {_fmt(result['secure_rate'])}, mean cost "
                + ("n/a" if cost is None else format_cost(cost, result["cost_unit"])))
    if stage == "gate":
        return f"{result['status']}: {result['reason']}"
    return ""


class ConsoleReporter:
    """Calls `log(line)` for notes and finished stages; with `bars`, draws one transient rich
    bar per progress step (on stderr)."""

    def __init__(self, log: Callable[[str], None], bars: bool = True) -> None:
        self.log, self.bars = log, bars
        self._bar = None          # (rich Progress, task id, key)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            if self.bars:
                self._progress(event)
            return
        self._close()
        if isinstance(event, Note):
            self.log(event.text)
        elif isinstance(event, StageFinished):
            if event.skipped:
                self.log(f"round {event.round} · {event.stage}: done already, skipped")
            else:
                self.log(f"round {event.round} · {event.stage}: {describe(event.stage, event.summary)} "
                         f"({event.seconds:.1f} s)")

    def _progress(self, event: Progress) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        key = (event.round, event.stage, event.label)
        if self._bar is None or self._bar[2] != key:
            self._close()
            bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=True, console=Console(stderr=True))
            bar.start()
            self._bar = (bar, bar.add_task(event.label, total=event.total), key)
        bar, task, _ = self._bar
        bar.update(task, completed=event.done, total=event.total)
        if event.done >= event.total:
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar[0].stop()
            self._bar = None
