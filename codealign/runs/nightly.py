"""One night of the self-improvement loop: a run in a lineage, resumed if it was interrupted.

A *lineage* is the config's ``name``; its nights are run directories
``<run_dir>/<lineage>-night-NNNN`` (NNNN = 0001, 0002, ...), each holding the run engine's usual
layout plus ``night.json``, this module's record of the night (written when the night is
created and again when it ends; the run's own state stays in ``state.json``).

`run_night` does, in order (the caller holds the global run lock, `codealign.runs.lock`):

1. find the lineage's previous night; if its run is ``interrupted`` (crash, ``kill -9``,
   reboot) or still ``queued``, resume that run — no new night is made;
2. if the caller names the scheduled time this night is for (``slot``) and a night for it
   exists already, do nothing (two schedulers on one database, a retried CronJob);
3. otherwise snapshot the tasks — the config's sources plus ``extra_tasks`` (the service's
   API-submitted ``active`` tasks, passed in so that ``runs`` never imports the service) —
   and create a child run with ``parent_run`` = the previous night that ran: the engine
   starts it from that night's last promoted adapter (the base model the first time). The
   split is the seeded per-task hash rule of `codealign.trainer.evaluate.split_tasks`, so a
   task lands on the same side every night (a submitted task in ``keep_out``, a near
   duplicate of a held-out task, never on the train side);
4. when nothing changed since the previous night — the same tasks, recipe and excluded pairs,
   and that night succeeded without promoting anything, so a new run would repeat it draw for
   draw — record a night with status ``nothing-new`` and no run (it still shows that it ran).

The pairs reviewers excluded (``excluded_pairs``, the service's, passed in as data) are written
into the night's run before it executes, new or resumed (`codealign.runs.exclusions`).

A night's published figures (`night_record`) are read from its run: rounds, whether a round
was promoted, and the held-out pass@1 and secure-rate deltas of the last promoted round
against the night's round 0 — the previous night's promoted policy evaluated on the same
tasks with the same draws — each with its paired bootstrap interval (`codealign.trainer.stats`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from codealign.config import RUN_NAME_MAX, RunConfig, check_tasks, is_run_name
from codealign.errors import ConfigError, ExitStatus
from codealign.jsonl import write_json
from codealign.records import TaskResult, last_promoted
from codealign.records.nights import NOTHING_NEW, Night, NightRecord, parse_night

__all__ = ["NightOutcome", "NightResult", "run_night", "list_nights", "night_record", "night_records",
           "NIGHT_FILE"]

NIGHT_FILE = "night.json"


class NightOutcome(str, Enum):
    """What one `run_night` call did; each carries the exit status of ``codealign nightly``."""

    STARTED = "started"              # a new night ran (or was recorded as nothing-new)
    RESUMED = "resumed"              # the interrupted previous night was resumed and finished
    SKIPPED = "skipped"              # the run lock is held, or this slot has its night already
    FAILED = "failed"                # the night's run failed
    CANCELED = "canceled"            # the night's run was canceled

    @property
    def exit_code(self) -> ExitStatus:
        """The `ExitStatus` of ``codealign nightly`` (bad input and unexpected errors end every
        command alike)."""
        return {"started": ExitStatus.OK, "failed": ExitStatus.FAILED, "skipped": ExitStatus.BUSY,
                "canceled": ExitStatus.CANCELED, "resumed": ExitStatus.RESUMED}[self.value]


@dataclass(frozen=True)
class NightResult:
    outcome: NightOutcome
    night: int | None = None          # the night's number in its lineage
    run_path: Path | None = None      # None for a nothing-new night or a skip
    status: str | None = None         # the run's final status, or "nothing-new"
    message: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _night_dirs(run_dir: Path, lineage: str) -> list[tuple[int, Path]]:
    pattern = re.compile(re.escape(lineage) + r"-night-(\d{4,})")
    found = []
    if run_dir.is_dir():
        for p in run_dir.iterdir():
            m = pattern.fullmatch(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
    return sorted(found)


def _read_night(path: Path) -> Night | None:
    f = path / NIGHT_FILE
    return parse_night(json.loads(f.read_text(encoding="utf-8")), path=str(f)) if f.exists() else None


def _write_night(path: Path, night: Night) -> None:
    write_json(path / NIGHT_FILE, night.to_dict())


def list_nights(run_dir: str | Path, lineage: str) -> list[Path]:
    """The lineage's night directories, oldest first."""
    return [p for _, p in _night_dirs(Path(run_dir), lineage)]


def _task_dicts(tasks: list) -> list[dict[str, Any]]:
    return [t.to_dict() for t in tasks]


def _snapshot(config: RunConfig, extra_tasks: list) -> tuple[list, list[str]]:
    """Configured tasks then submitted ones; a submitted id that a configured task already uses
    is left out (the configured source wins) and named in the second list."""
    tasks = list(check_tasks(config))
    seen = {t.task_id for t in tasks}
    clashes = []
    for t in extra_tasks:
        if t.task_id in seen:
            clashes.append(t.task_id)
            continue
        seen.add(t.task_id)
        tasks.append(t)
    return tasks, clashes


def _comparable_config(config_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config_dict.items() if k not in ("name", "run_dir", "parent_run")}


def _finish(run_path: Path, night: int, record: Night, state) -> NightResult:
    _write_night(run_path, dataclasses.replace(record, finished_at=state.finished_at or _now(),
                                               status=state.status.value))
    outcome = {"succeeded": NightOutcome.STARTED, "failed": NightOutcome.FAILED,
               "canceled": NightOutcome.CANCELED}.get(state.status.value, NightOutcome.FAILED)
    return NightResult(outcome, night, run_path, state.status.value, state.error or "")


def run_night(config: RunConfig, *, extra_tasks: list | None = None, slot: datetime | None = None,
              trigger: str = "cli", rounds: int | None = None, cancel=None,
              subscribers=(), keep_out: dict[str, str] | None = None,
              excluded_pairs: Collection[str] | None = None) -> NightResult:
    """Run (or resume) the lineage's night; see the module docstring. The caller holds the run
    lock. `keep_out`: submitted tasks never to train on, with why (`create_run`'s).
    `excluded_pairs` (the service's reviewed-out pair ids, passed in as data like
    `extra_tasks`) is written into the night's run first (`codealign.runs.exclusions`); None
    leaves a resumed night's file as it is."""
    from codealign.runs import RunStatus, create_run, execute_run, read_state
    from codealign.runs.exclusions import read_exclusions, write_exclusions

    def exclusions(path: Path) -> None:
        if excluded_pairs is not None:
            write_exclusions(path, excluded_pairs, source=f"codealign nightly ({trigger})")

    lineage = config.name
    run_dir = Path(config.run_dir)
    nights = _night_dirs(run_dir, lineage)
    slot_iso = slot.astimezone(timezone.utc).isoformat(timespec="seconds") if slot else None

    if nights:
        number, last = nights[-1]
        record = _read_night(last)
        if (last / "state.json").exists():
            state = read_state(last)
            if state.status in (RunStatus.INTERRUPTED, RunStatus.QUEUED):
                record = dataclasses.replace(
                    record or Night(lineage=lineage, night=number, run=last.name,
                                    started_at=state.started_at or _now(), trigger=trigger),
                    status=RunStatus.RUNNING.value)
                _write_night(last, record)
                exclusions(last)
                done = execute_run(last, rounds=rounds, cancel=cancel, subscribers=subscribers)
                result = _finish(last, number, record, done)
                if result.outcome is NightOutcome.STARTED:
                    result = dataclasses.replace(result, outcome=NightOutcome.RESUMED)
                return result
    if slot_iso is not None:
        for number, path in reversed(nights):
            rec = _read_night(path)
            if rec and rec.slot == slot_iso:
                return NightResult(NightOutcome.SKIPPED, number, path, rec.status,
                                   f"night {number} ran for {slot_iso} already")

    tasks, clashes = _snapshot(config, list(extra_tasks or ()))
    previous = next(((n, p) for n, p in reversed(nights) if (p / "state.json").exists()), None)
    previous_ids: list[str] = []
    nothing_new = False
    if previous is not None:
        from codealign.runs import RunReader

        reader = RunReader(previous[1])
        previous_tasks = _task_dicts(reader.tasks())
        previous_ids = [t["task_id"] for t in previous_tasks]
        previous_config = json.loads((previous[1] / "config.json").read_text(encoding="utf-8"))
        nothing_new = (previous_tasks == _task_dicts(tasks)
                       and _comparable_config(previous_config) == _comparable_config(config.section_dicts())
                       and reader.state().status is RunStatus.SUCCEEDED
                       and last_promoted(reader.rounds()) is None
                       and (excluded_pairs is None or read_exclusions(previous[1]) == frozenset(excluded_pairs)))

    number = (nights[-1][0] if nights else 0) + 1
    name = f"{lineage}-night-{number:04d}"
    if not is_run_name(name):
        raise ConfigError(f"the night's run name {name!r} is not a run name (at most {RUN_NAME_MAX} "
                          "characters: shorten the lineage)", path=config.source, field="name")
    night_path = run_dir / name
    record = Night(
        lineage=lineage, night=number, run=None if nothing_new else name,
        parent_run=previous[1].name if previous else None, trigger=trigger, slot=slot_iso,
        started_at=_now(), tasks=len(tasks),
        tasks_added=[t.task_id for t in tasks if t.task_id not in set(previous_ids)],
        tasks_removed=[t for t in previous_ids if t not in {x.task_id for x in tasks}],
        submitted_tasks=[t.task_id for t in (extra_tasks or ()) if t.task_id not in clashes],
        submitted_clashes=clashes)
    if nothing_new:
        _write_night(night_path, dataclasses.replace(record, status=NOTHING_NEW, finished_at=_now()))
        return NightResult(NightOutcome.STARTED, number, None, NOTHING_NEW,
                           f"nothing new since night {previous[0]}: recorded, no run")
    child = dataclasses.replace(config, name=name)
    keep_out = {t: why for t, why in (keep_out or {}).items() if t not in clashes}
    create_run(child, tasks=tasks, parent_run=previous[1] if previous else None, keep_out=keep_out)
    record = dataclasses.replace(record, status=RunStatus.QUEUED.value)
    _write_night(night_path, record)
    exclusions(night_path)
    state = execute_run(night_path, rounds=rounds, cancel=cancel, subscribers=subscribers)
    return _finish(night_path, number, record, state)


# ---------------------------------------------------------------------------------------------
# Published records


def _per_task(results: list[TaskResult]) -> tuple[dict[str, float], dict[str, float]]:
    """(pass rate per held-out task, secure share of passes per held-out task with a pass)."""
    held = [r for r in results if r.side == "heldout"]
    passing = {r.task_id: r.pass_rate for r in held}
    secure = {r.task_id: r.secure_passed / r.passed for r in held if r.passed}
    return passing, secure


def night_record(path: str | Path) -> NightRecord:
    """The night's published record: its night.json plus figures read from its run.

    ``pass_at_1_delta`` and ``secure_rate_delta`` compare the night's last promoted round with
    its round 0 (the previous promoted policy) on the held-out tasks: the first is the task-mean
    of pass-rate differences, the second of secure-share differences over tasks that both
    policies pass at least once; both `codealign.trainer.stats.delta_mean` intervals. They are
    None when the night promoted nothing (its policy is the previous one)."""
    from codealign.trainer.stats import delta_mean

    path = Path(path)
    lineage, _, number = path.name.rpartition("-night-")
    night = _read_night(path) or Night(lineage=lineage, night=int(number))
    fields = {f.name: getattr(night, f.name) for f in dataclasses.fields(Night)}
    if not night.run or not (path / "state.json").exists():
        return NightRecord(**fields)
    from codealign.runs import RunReader

    reader = RunReader(path)
    state = reader.state()
    fields.update(status=state.status.value, finished_at=state.finished_at,
                  started_at=night.started_at or state.started_at)
    rounds = reader.rounds()
    decided = sum(1 for r in rounds if r.round >= 1)
    last = last_promoted(rounds)
    if last is None:
        return NightRecord(**fields, resumed=state.resumed, rounds=decided)
    base_pass, base_secure = _per_task(reader.task_results(0))
    new_pass, new_secure = _per_task(reader.task_results(last.round))
    return NightRecord(**fields, resumed=state.resumed, rounds=decided, promoted=True,
                       promoted_round=last.round, pass_at_1_delta=delta_mean(base_pass, new_pass),
                       secure_rate_delta=delta_mean(base_secure, new_secure))


def night_records(run_dir: str | Path, lineage: str) -> list[NightRecord]:
    """Every night of the lineage, oldest first."""
    return [night_record(p) for p in list_nights(run_dir, lineage)]
