"""The nightly schedule driven by a frozen clock: APScheduler's own job processing (SQLAlchemy
job store, cron trigger, coalesce, misfire grace, max_instances) with time set by the test.

The scheduler class is APScheduler's `BaseScheduler` without its background thread: the test
calls `process_due()` (the thread's loop body) after moving the clock. The night itself is a
recorder of (recipe, slot): what is tested here is when nights are triggered, not the run.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from apscheduler.schedulers.base import BaseScheduler

from codealign.service.scheduler import NightlyRuntime, NightlyScheduler, latest_fire_time
from seeded_policy import write_tasks

UTC = timezone.utc


class SteppedScheduler(BaseScheduler):
    """APScheduler's scheduler with no thread: jobs are processed when the test says so."""

    def wakeup(self):
        pass

    def shutdown(self, wait=True):
        super().shutdown(wait)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """One frozen clock for APScheduler (scheduler and executor modules) and the runtime."""
    import apscheduler.executors.base
    import apscheduler.schedulers.base

    c = Clock(datetime(2026, 1, 1, 1, 0, tzinfo=UTC))

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return c.now.astimezone(tz) if tz else c.now.replace(tzinfo=None)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", FrozenDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", FrozenDatetime)
    return c


@pytest.fixture
def recipe(tmp_path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"name": "lineage", "model": str(model), "backend": "hf",
                                    "tasks": str(write_tasks(tmp_path / "tasks.jsonl")), "rounds": 1}))
    return path


def make(tmp_path: Path, clock: Clock, nights: list) -> NightlyScheduler:
    def record(runtime, recipe, overrides, slot):
        nights.append((recipe, overrides, slot))
        return "started"

    runtime = NightlyRuntime(run_dir=tmp_path / "runs", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                             clock=clock, night_runner=record)
    return NightlyScheduler(runtime, scheduler_class=SteppedScheduler, executor="debug")


def test_downtime_over_three_fire_times_runs_one_catch_up_night(tmp_path, clock, recipe):
    # Every 6 hours, so that all three missed fire times are within the misfire grace time:
    # coalescing, not the grace time, is what makes them one night.
    nights: list = []
    s = make(tmp_path, clock, nights)
    s.start(cron="0 */6 * * *", recipe=str(recipe), overrides={"rounds": 1})
    assert s.owner and s.get().next_run == datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
    s.process_due()
    assert nights == []                                  # 01:00: nothing due
    clock.now = datetime(2026, 1, 1, 6, 0, 5, tzinfo=UTC)
    s.process_due()
    s.process_due()                                      # processed twice: still one night
    assert [n[2] for n in nights] == [datetime(2026, 1, 1, 6, 0, tzinfo=UTC)]
    assert nights[0][:2] == (str(recipe), {"rounds": 1})
    s.shutdown()                                         # down from 06:00:05 on day 1 ...

    clock.now = datetime(2026, 1, 2, 2, 30, tzinfo=UTC)  # ... to day 2 02:30: 12:00, 18:00, 00:00 missed
    again = make(tmp_path, clock, nights)
    again.start(cron="5 5 * * *", recipe="ignored.yaml") # the stored job wins over start's defaults
    assert again.get().cron == "0 */6 * * *"
    again.process_due()
    again.process_due()
    assert [n[2] for n in nights] == [datetime(2026, 1, 1, 6, 0, tzinfo=UTC),
                                      datetime(2026, 1, 2, 0, 0, tzinfo=UTC)]   # one catch-up
    assert again.get().next_run == datetime(2026, 1, 2, 6, 0, tzinfo=UTC)
    clock.now = datetime(2026, 1, 2, 6, 0, 1, tzinfo=UTC)
    again.process_due()
    assert len(nights) == 3
    again.shutdown()


def test_a_night_missed_by_more_than_the_grace_time_is_not_run(tmp_path, clock, recipe):
    nights: list = []
    s = make(tmp_path, clock, nights)
    s.start(cron="0 2 * * *", recipe=str(recipe))
    s.shutdown()
    clock.now = datetime(2026, 1, 2, 1, 59, tzinfo=UTC)     # day 1's 02:00 is 23 h 59 min late
    again = make(tmp_path, clock, nights)
    again.start()
    again.process_due()
    assert nights == []
    assert again.get().next_run == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    again.shutdown()


def test_paused_schedule_runs_nothing_and_edits_are_validated(tmp_path, clock, recipe):
    from codealign.errors import ConfigError

    nights: list = []
    s = make(tmp_path, clock, nights)
    s.start(cron="0 2 * * *", recipe=str(recipe))
    paused = s.configure(paused=True)
    assert paused.paused and paused.next_run is None and paused.cron == "0 2 * * *"
    clock.now = datetime(2026, 1, 3, 2, 0, 5, tzinfo=UTC)
    s.process_due()
    assert nights == []
    with pytest.raises(ConfigError, match="cron"):
        s.configure(cron="every night")
    with pytest.raises(ConfigError, match="rounds"):
        s.configure(overrides={"rounds": 0})
    assert s.get().paused                                # a refused edit changed nothing
    resumed = s.configure(paused=False, cron="30 3 * * *")
    assert resumed.next_run == datetime(2026, 1, 3, 3, 30, tzinfo=UTC)
    clock.now = datetime(2026, 1, 3, 3, 30, 1, tzinfo=UTC)
    s.process_due()
    assert [n[2] for n in nights] == [datetime(2026, 1, 3, 3, 30, tzinfo=UTC)]
    s.shutdown()


def test_only_one_worker_process_of_a_service_runs_the_scheduler(tmp_path, clock, recipe):
    nights: list = []
    first, second = make(tmp_path, clock, nights), make(tmp_path, clock, nights)
    first.start(cron="0 2 * * *", recipe=str(recipe))
    second.start()
    assert first.owner and not second.owner
    # The second still edits the shared job; only the first runs it.
    second.configure(cron="0 3 * * *")
    clock.now = datetime(2026, 1, 1, 3, 0, 1, tzinfo=UTC)
    second.process_due()
    assert nights == []
    first.process_due()
    assert [n[2] for n in nights] == [datetime(2026, 1, 1, 3, 0, tzinfo=UTC)]
    first.shutdown()
    second.shutdown()
    third = make(tmp_path, clock, nights)               # the lock died with its holder
    third.start()
    assert third.owner
    third.shutdown()


def test_latest_fire_time():
    now = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    assert latest_fire_time("0 2 * * *", now) == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert latest_fire_time("0 2 * * *", datetime(2026, 3, 1, 1, 0, tzinfo=UTC)) == \
        datetime(2026, 2, 28, 2, 0, tzinfo=UTC)
    assert latest_fire_time("*/15 * * * *", now) == datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    assert latest_fire_time("0 2 1 1 *", now) is None     # beyond the grace window


def test_a_night_still_running_makes_the_next_fire_time_skip(tmp_path, clock, recipe):
    import threading

    started, release, slots = threading.Event(), threading.Event(), []

    def long_night(runtime, recipe, overrides, slot):
        slots.append(slot)
        started.set()
        release.wait()
        return "started"

    runtime = NightlyRuntime(run_dir=tmp_path / "runs", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                             clock=clock, night_runner=long_night)
    s = NightlyScheduler(runtime, scheduler_class=SteppedScheduler)       # the thread-pool executor
    s.start(cron="0 * * * *", recipe=str(recipe))
    clock.now = datetime(2026, 1, 1, 1, 0, 1, tzinfo=UTC)
    s.process_due()
    assert started.wait(60)
    clock.now = datetime(2026, 1, 1, 2, 0, 1, tzinfo=UTC)                # the night is still going
    s.process_due()
    release.set()
    s.scheduler.shutdown(wait=True)
    assert slots == [datetime(2026, 1, 1, 1, 0, tzinfo=UTC)]             # max_instances=1
    s.shutdown()
