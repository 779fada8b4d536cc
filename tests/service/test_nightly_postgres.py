"""Two services on one PostgreSQL database: one night per trigger.

Each "service" is a `NightlyScheduler` with its own runs directory (its own host) on the same
PostgreSQL job store, driven by a frozen clock (see test_nightly_schedule); its nights are
real `codealign nightly` child processes taking the real run lock (flock + advisory lock). The
recipe's model cannot be loaded, so each night that starts fails fast — and leaves its night
directory, which is what is counted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from codealign.runs.lock import RunLock
from codealign.service.scheduler import NightlyRuntime, NightlyScheduler
from seeded_policy import write_recipe
from tests.service.conftest import new_pg_database
from tests.service.test_nightly_schedule import SteppedScheduler, clock  # noqa: F401 (fixture)

UTC = timezone.utc


def service(tmp_path: Path, host: str, url: str, clock) -> NightlyScheduler:
    runtime = NightlyRuntime(run_dir=tmp_path / host / "runs", database_url=url, clock=clock)
    return NightlyScheduler(runtime, scheduler_class=SteppedScheduler)   # the thread-pool executor


def nights(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/runs/lin-night-*"))


def test_two_services_on_one_postgres_database_start_one_night_per_trigger(tmp_path, postgres_server,
                                                                          clock):
    from codealign.service.store import upgrade

    url = new_pg_database(postgres_server)
    upgrade(url)                                     # what each service does when it starts
    model = tmp_path / "not-a-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    recipe = write_recipe(tmp_path, model, name="lin")
    one, two = service(tmp_path, "one", url, clock), service(tmp_path, "two", url, clock)
    one.start(cron="0 2 * * *", recipe=str(recipe))
    two.start(cron="0 2 * * *", recipe=str(recipe))
    assert one.owner and two.owner                   # two hosts: both schedulers run jobs

    clock.now = datetime(2026, 1, 1, 2, 0, 1, tzinfo=UTC)
    one.process_due()                                # fires: the shared job moves to tomorrow
    two.process_due()                                # finds nothing due
    one.scheduler.shutdown(wait=True)                # the night's thread has finished
    assert nights(tmp_path) == ["one/runs/lin-night-0001"]
    assert two.get().next_run == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)

    # Next trigger, fired by the second while a night on a third host holds the run lock.
    clock.now = datetime(2026, 1, 2, 2, 0, 1, tzinfo=UTC)
    with RunLock(tmp_path / "three" / "runs", url):
        two.process_due()
        two.scheduler.shutdown(wait=True)
    assert nights(tmp_path) == ["one/runs/lin-night-0001"]   # skipped: exit 3, no night
    one.shutdown()
    two.shutdown()
