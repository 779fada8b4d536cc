"""The nightly schedule: APScheduler 3 in the service, its job in the service's database.

One job, id ``codealign-nightly``, a cron expression in UTC, ``max_instances=1`` (a night
still running when the next fire time comes makes that trigger skip), ``coalesce=True`` and a
misfire grace time of 23 hours: after downtime over several fire times the scheduler runs
*one* catch-up night (the latest missed time), not one per missed night. The job's
arguments — cron, recipe path, the experiment overrides (`codealign.service.recipes.Overrides`
as plain data) — live with it in the job store (`SQLAlchemyJobStore`, table
``apscheduler_jobs``, created by APScheduler itself), so the schedule survives restarts and is
shared by every service process on the database; a paused schedule is a job without a next
run time. APScheduler *pickles* each job into that table and unpickles it when it loads the
store: whoever can write the service's database can run code in the service (see the threat
model in `codealign.service`). Stored overrides that are no longer allowed are dropped, with a
warning, when the scheduler starts.

A night runs as ``codealign nightly`` in a child process (the path cron and a CronJob take;
the heavy work stays out of the service; the child is SIGKILLed if the service dies, so a
killed service leaves an *interrupted* night, never an orphan). Never two nights: the child
takes the global run lock (`codealign.runs.lock`), the same one `POST /v1/runs` takes, and
gets the job's fire time as the night's *slot*: a second service on the same database that
fires for the same slot finds the lock held, or the slot's night recorded, and skips.

One scheduler per service: uvicorn ``--workers N`` runs the lifespan in every worker; only
the worker that wins an exclusive ``flock`` on ``<run_dir>/.scheduler-<db hash>.lock`` runs
jobs (the lock dies with its process). The others start the scheduler *paused*, so that
``PUT /v1/schedule`` still edits the job in the shared store; the running scheduler rereads
the store every `POLL_S` seconds, so an edit made elsewhere takes effect within a minute.

When the scheduler starts and the lineage's last night is ``interrupted`` (the service was
killed mid-night), it submits a one-off job that resumes it now. A service that shuts down
(SIGTERM) terminates the night it runs, which then reads ``interrupted`` the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from codealign.errors import ConfigError

__all__ = ["JOB_ID", "MISFIRE_GRACE_S", "NightlyRuntime", "NightlyScheduler", "nightly_job",
           "parse_cron", "latest_fire_time", "active_tasks", "index_night", "excluded_pairs", "run_night_process"]

JOB_ID = "codealign-nightly"
RESUME_JOB_ID = "codealign-nightly-resume"
MISFIRE_GRACE_S = 23 * 3600
POLL_S = 60
log = logging.getLogger("codealign.scheduler")


def parse_cron(cron: str):
    """A five-field crontab expression as an APScheduler `CronTrigger` in UTC (`ConfigError` if bad)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(cron, timezone=timezone.utc)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"not a five-field cron expression ({exc}): {cron!r}", field="cron") from None


def latest_fire_time(cron: str, now: datetime, within_s: float = MISFIRE_GRACE_S) -> datetime | None:
    """The last fire time of `cron` at or before `now` (looking back `within_s` at most): the slot
    a job running at `now` was fired for."""
    trigger = parse_cron(cron)
    t = trigger.get_next_fire_time(None, now - timedelta(seconds=within_s))
    latest = None
    while t is not None and t <= now:
        latest = t
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return latest


def _in_store(database_url: str, work: Callable[[Any], Any]) -> Any:
    """`work(session)` in a session of the service's database, opened for it and closed after
    (the ``codealign nightly`` process has no service of its own)."""
    from codealign.service.store.db import Database

    db = Database(database_url)
    try:
        with db.session() as session:
            return work(session)
    finally:
        db.close()


def active_tasks(database_url: str):
    """The service's API-submitted tasks that are ``active``, oldest first, and those to keep
    out of training (`codealign.service.intake.StoreTasks`: flags as the service's validator
    last decided them)."""
    from codealign.service.intake import store_tasks

    return _in_store(database_url, store_tasks)


def excluded_pairs(database_url: str) -> list[str]:
    """The pair ids the service's reviewers excluded (`codealign.service.reviews`), for a night."""
    from codealign.service.reviews import excluded_pair_ids

    return _in_store(database_url, excluded_pair_ids)


def index_night(database_url: str, run_path: Path, lineage: str, review_per_reason: int) -> None:
    """Put a night's run in the service's run index (GET /v1/runs lists it under its lineage),
    and its rounds' pairs in the review queue (`review_per_reason` of each reason)."""
    from codealign.service.runindex import index_run

    def work(session) -> None:
        index_run(session, run_path.name, run_path, config_name=lineage, review_per_reason=review_per_reason)
        session.commit()

    _in_store(database_url, work)


def _typed(overrides: dict[str, Any] | None):
    """The stored overrides as `Overrides` (`ConfigError` naming the field if not allowed)."""
    from pydantic import ValidationError

    from codealign.service.recipes import Overrides

    try:
        return Overrides.model_validate(overrides or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(first["msg"], field=".".join(["overrides", *map(str, first["loc"])])) from None


def run_night_process(runtime: "NightlyRuntime", recipe: str, overrides: dict[str, Any],
                      slot: datetime | None) -> str:
    """``codealign nightly`` in a child process (the same path as cron's): the heavy work stays
    out of the service, and the run lock is the child's. The child is SIGKILLed if the service
    dies (a killed service leaves an interrupted night, resumed on restart, never an orphan).
    `overrides` (typed) reach it as the recipe sections they change, as the recipe is now.
    Returns the outcome's value."""
    import functools
    import json
    import subprocess
    import sys

    from codealign.runs.nightly import NightOutcome
    from codealign.service.recipes import load_recipe, nightly_overrides
    from codealign.service.workers import die_with

    try:   # the recipe as it is now passes the service's checks (the operator may have edited it)
        typed = _typed(overrides)
        load_recipe(Path(recipe), typed, settings=runtime.settings, run_dir=runtime.run_dir)
    except ConfigError as exc:
        log.error("night for %s not started: %s", slot, exc)
        return NightOutcome.FAILED.value
    top = nightly_overrides(Path(recipe), typed)
    cmd = [runtime.python or sys.executable, "-m", "codealign", "nightly", "--config", recipe,
           "--run-dir", str(runtime.run_dir), "--overrides", json.dumps(top)]
    if slot is not None:
        cmd += ["--slot", slot.isoformat()]
    env = {**os.environ, "CODEALIGN_DATABASE_URL": runtime.database_url}
    proc = subprocess.Popen(cmd, env=env, preexec_fn=functools.partial(die_with, os.getpid()), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runtime.children.add(proc)
    try:
        _, stderr = proc.communicate()
    finally:
        runtime.children.discard(proc)
    by_code = {o.exit_code: o.value for o in NightOutcome}
    outcome = by_code.get(proc.returncode, NightOutcome.FAILED.value)
    (log.info if outcome != "failed" else log.error)(
        "night for %s: %s (exit %s) %s", slot, outcome, proc.returncode, stderr[-2000:])
    return outcome


@dataclass
class NightlyRuntime:
    """What the job needs from the service process that runs it."""

    run_dir: Path
    database_url: str
    python: str | None = None
    """Interpreter of the night's process (default: this one)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    night_runner: Callable[..., str] = run_night_process
    """``(runtime, recipe, overrides, slot) -> outcome``; replaceable in the scheduling tests."""
    children: set = field(default_factory=set)
    """The night processes running now (stopped when the service shuts down)."""
    settings: Any = None
    """The service's `Settings`: the ceilings of the overrides, and whether the unsafe sandbox
    is allowed (None: the schema's ceilings; never)."""


_current = threading.local()      # .runtime: the runtime of the scheduler running this job


class _WithRuntime:
    """A thread pool whose tasks see their scheduler's runtime (two schedulers may share a
    process: the tests' two "hosts")."""

    def __init__(self, pool, runtime: NightlyRuntime) -> None:
        self.pool, self.runtime = pool, runtime

    def submit(self, fn, *args):
        def run():
            _current.runtime = self.runtime
            try:
                return fn(*args)
            finally:
                _current.runtime = None
        return self.pool.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait)


def _executor(kind: str, runtime: NightlyRuntime):
    from apscheduler.executors.debug import DebugExecutor
    from apscheduler.executors.pool import ThreadPoolExecutor

    if kind == "threadpool":
        executor = ThreadPoolExecutor(max_workers=2)
        executor._pool = _WithRuntime(executor._pool, runtime)
        return executor

    class InlineExecutor(DebugExecutor):     # runs the job in the caller's thread (tests)
        def _do_submit_job(self, job, run_times):
            _current.runtime = runtime
            try:
                super()._do_submit_job(job, run_times)
            finally:
                _current.runtime = None

    return InlineExecutor()


def nightly_job(cron: str | None, recipe: str, overrides: dict[str, Any] | None = None) -> str:
    """The scheduled job (referenced by name in the job store): one night, for the fire time
    it runs for (its *slot*). `cron` None: a one-off resume, no slot."""
    runtime = getattr(_current, "runtime", None)
    if runtime is None:
        log.error("nightly job fired in a process without a started scheduler; skipped")
        return "skipped"
    slot = latest_fire_time(cron, runtime.clock()) if cron else None
    return runtime.night_runner(runtime, recipe, dict(overrides or {}), slot)


@dataclass(frozen=True)
class Schedule:
    """The job's settings as the API shows them."""

    cron: str
    paused: bool
    recipe: str
    overrides: dict[str, Any]
    next_run: datetime | None


class NightlyScheduler:
    """The service's scheduler: `start()` in the app's lifespan, `shutdown()` at its end."""

    def __init__(self, runtime: NightlyRuntime, *, scheduler_class=None,
                 executor: str = "threadpool") -> None:
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        cls = scheduler_class or BackgroundScheduler
        self.runtime = runtime
        self.scheduler = cls(
            jobstores={"default": SQLAlchemyJobStore(url=runtime.database_url), "local": MemoryJobStore()},
            executors={"default": _executor(executor, runtime)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S},
            timezone=timezone.utc)
        self._lock_fd: int | None = None

    @property
    def owner(self) -> bool:
        """Whether this process runs the jobs (it holds the service's scheduler lock)."""
        return self._lock_fd is not None

    def _take_process_lock(self) -> bool:
        digest = hashlib.sha256(self.runtime.database_url.encode()).hexdigest()[:16]
        self.runtime.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.runtime.run_dir / f".scheduler-{digest}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def start(self, *, cron: str | None = None, recipe: str | None = None,
              overrides: dict[str, Any] | None = None, paused: bool = False,
              run_jobs: bool = True) -> None:
        """Start; create the job from the given defaults if the store has none and `recipe` is
        set. `run_jobs` False: only edit the schedule here (another process runs it)."""
        owner = run_jobs and self._take_process_lock()
        if not owner:
            log.warning("another worker of this service runs the nightly scheduler; this one "
                        "only edits the schedule")
        self.scheduler.start(paused=not owner)
        if owner:
            # Reread the shared job store every minute (another process may edit the schedule).
            self.scheduler.add_job(_poll, "interval", seconds=POLL_S, id="poll", jobstore="local",
                                   replace_existing=True)
        if self.scheduler.get_job(JOB_ID) is None and recipe:
            self.configure(cron=cron, recipe=recipe, overrides=overrides, paused=paused)
        self._drop_refused_overrides()
        if owner:
            self._resume_interrupted()

    def _drop_refused_overrides(self) -> None:
        job = self.scheduler.get_job(JOB_ID)
        if job is None:
            return
        try:
            _typed(job.kwargs.get("overrides"))
        except ConfigError as exc:
            log.warning("the stored nightly overrides are no longer allowed (%s); they are dropped", exc)
            job.modify(kwargs={**job.kwargs, "overrides": {}})

    def shutdown(self) -> None:
        """Stop: a night still running is terminated (SIGTERM) and reads ``interrupted``; the
        service resumes it when it starts again."""
        for child in list(self.runtime.children):
            child.terminate()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def process_due(self) -> None:
        """Run what is due now (the background thread does this by itself; tests drive it)."""
        self.scheduler._process_jobs()

    def get(self) -> Schedule | None:
        job = self.scheduler.get_job(JOB_ID)
        if job is None:
            return None
        kw = job.kwargs
        return Schedule(kw["cron"], job.next_run_time is None, kw["recipe"], dict(kw.get("overrides") or {}),
                        job.next_run_time)

    def configure(self, *, cron: str | None = None, recipe: str | None = None,
                  overrides: dict[str, Any] | None = None, paused: bool | None = None) -> Schedule:
        """Create or change the job (fields left None keep their value); validates first:
        `overrides` (plain data) must be `Overrides`, within the service's ceilings."""
        from codealign.service.recipes import load_recipe

        current = self.get()
        cron = cron if cron is not None else (current.cron if current else None) or "0 2 * * *"
        recipe = recipe if recipe is not None else (current.recipe if current else None)
        overrides = overrides if overrides is not None else (current.overrides if current else {})
        paused = paused if paused is not None else (current.paused if current else False)
        if not recipe:
            raise ConfigError("no run recipe: give the path of a YAML recipe", field="recipe")
        trigger = parse_cron(cron)
        typed = _typed(overrides)
        load_recipe(Path(recipe), typed, settings=self.runtime.settings,
                    run_dir=self.runtime.run_dir)                               # every check now
        self.scheduler.add_job(nightly_job, trigger, id=JOB_ID, name="codealign nightly",
                               kwargs={"cron": cron, "recipe": str(recipe),
                                       "overrides": typed.model_dump(exclude_none=True)},
                               replace_existing=True)
        if paused:
            self.scheduler.pause_job(JOB_ID)
        return self.get()

    def lineage(self) -> str | None:
        """The recipe's name: the lineage whose nights the schedule makes."""
        from codealign.config import load_config

        current = self.get()
        if current is None:
            return None
        return load_config(current.recipe, check=False).name

    def _resume_interrupted(self) -> None:
        from codealign.runs.nightly import list_nights

        current = self.get()
        if current is None:
            return
        nights = list_nights(self.runtime.run_dir, self.lineage())
        if not nights or not (nights[-1] / "state.json").exists():
            return
        from codealign.runs import RunStatus, read_state

        if read_state(nights[-1]).status is RunStatus.INTERRUPTED:
            log.warning("night %s was interrupted: resuming it now", nights[-1].name)
            self.scheduler.add_job(nightly_job, "date", run_date=self.runtime.clock(), id=RESUME_JOB_ID,
                                   jobstore="local", replace_existing=True, misfire_grace_time=None,
                                   kwargs={"cron": None, "recipe": current.recipe,
                                           "overrides": current.overrides})


def _poll() -> None:
    """A no-op job whose only effect is that the scheduler wakes and rereads the job store."""


def start_service_scheduler(settings) -> NightlyScheduler:
    """The service lifespan's scheduler: the job store in the service database, nights in its
    runs directory; the default schedule from ``CODEALIGN_NIGHTLY_RECIPE`` / ``_CRON`` when the
    database holds none. With ``CODEALIGN_SCHEDULER=false`` it starts paused (edits only)."""
    from codealign.service.recipes import recipe_path

    runtime = NightlyRuntime(run_dir=Path(settings.runs_dir), database_url=settings.database_url,
                             python=settings.worker_python, settings=settings)
    scheduler = NightlyScheduler(runtime)
    recipe = str(recipe_path(settings, settings.nightly_recipe)) if settings.nightly_recipe else None
    scheduler.start(cron=settings.nightly_cron, recipe=recipe, run_jobs=settings.scheduler)
    return scheduler
