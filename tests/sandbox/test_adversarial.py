"""The adversarial sandbox suite: every hostile sample of hostile.py, on every backend.

Per backend, one module-scoped fixture runs all samples in two `run_many` batches: first
the honest controls, every hostile sample, then the later-run probes; then the probes
again in a second batch. Host-side checks run right after the batch that ran their
sample. The tests then read the stored results, one property per test case:

* ``test_verdict[<backend>-<category>/<name>]``: the verdict is one the sample allows
  (never ``passed`` for a hostile sample; exactly ``timeout``, ``memory`` or ``error``
  where that is well defined);
* ``test_host_untouched[<backend>-<category>/<name>:<check>]``: nothing leaked out of
  the sandbox (files, processes, connections, signals, secrets).

The docker cases carry the ``docker`` marker and skip, with the reason, when no engine
or no ``codealign-sandbox:latest`` image is available.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from codealign.errors import SandboxUnavailable
from codealign.sandbox import Execution, Job, SandboxConfig, Status, run_many
from codealign.sandbox.docker import docker_unavailable

from .hostile import CONTROLS, HOSTILE, LATER_PROBES, Category, HostBait, Hostile

BACKENDS = [pytest.param("bwrap", id="bwrap"),
            pytest.param("docker", id="docker", marks=pytest.mark.docker)]

FIRST_BATCH = [("", s) for s in CONTROLS + HOSTILE] + [("after-hostile:", p) for p in LATER_PROBES]
SECOND_BATCH = [("second-batch:", p) for p in LATER_PROBES]
CASES = FIRST_BATCH + SECOND_BATCH


@dataclass
class Outcome:
    """What one case produced: its execution (None when run_many raised) and host checks."""

    execution: Execution | None
    raised: str = ""
    host: dict[str, str | None] | None = None  # check name -> failure message, None if it held


@dataclass
class Suite:
    backend: str
    outcomes: dict[str, Outcome]
    misordered: list[tuple[str, str]]
    seconds: float


def _run_batch(batch: list[tuple[str, Hostile]], bait: HostBait, config: SandboxConfig
               ) -> tuple[dict[str, Outcome], list[tuple[str, str]]]:
    jobs = [Job(prefix + s.id, s.task, bait.render(s)) for prefix, s in batch]
    try:
        executions: list[Execution | None] = list(run_many(jobs, config))
        raised = [""] * len(jobs)
    except SandboxUnavailable:
        raise  # the backend itself is missing: one clear error, not one per job
    except Exception:
        # Hostile code must never make run_many raise; find which job does, one at a time.
        executions, raised = [], []
        for job in jobs:
            try:
                executions.append(run_many([job], config)[0])
                raised.append("")
            except Exception as exc:
                executions.append(None)
                raised.append(f"run_many raised {type(exc).__name__}: {exc}")
    misordered = [(job.sample_id, ex.sample_id) for job, ex in zip(jobs, executions)
                  if ex is not None and ex.sample_id != job.sample_id]
    if len(executions) != len(jobs):
        misordered.append((f"{len(jobs)} jobs", f"{len(executions)} executions"))
    outcomes = {}
    for (prefix, sample), ex, why in zip(batch, executions, raised):
        host: dict[str, str | None] = {}
        for check in sample.checks:
            if ex is None:
                host[check.__name__] = "no execution to check"
                continue
            try:
                check(ex, bait, sample)
                host[check.__name__] = None
            except AssertionError as exc:
                host[check.__name__] = str(exc) or "check failed"
        outcomes[prefix + sample.id] = Outcome(ex, why, host)
    return outcomes, misordered


@pytest.fixture(scope="module", params=BACKENDS)
def suite(request: pytest.FixtureRequest):
    backend = request.param
    if backend == "docker" and (reason := docker_unavailable()):
        pytest.skip(reason)
    config = SandboxConfig(backend=backend)
    bait = HostBait()
    try:
        start = time.monotonic()
        outcomes, misordered = _run_batch(FIRST_BATCH, bait, config)
        later, later_misordered = _run_batch(SECOND_BATCH, bait, config)
        outcomes.update(later)
        yield Suite(backend, outcomes, misordered + later_misordered, time.monotonic() - start)
    finally:
        bait.close()


def _describe(ex: Execution) -> str:
    flags = ",".join(ex.flags) or "-"
    return (f"status={ex.status.value} tests={ex.tests_passed}/{ex.tests_total} flags={flags} "
            f"detail={ex.detail[:300]!r} outcomes={[(o.name, o.passed, o.detail[:80]) for o in ex.outcomes][:4]} "
            f"stdout[-300:]={ex.stdout[-300:]!r} stderr[-300:]={ex.stderr[-300:]!r}")


def _execution(suite: Suite, key: str) -> Execution:
    outcome = suite.outcomes[key]
    if outcome.execution is None:
        pytest.fail(f"{key}: {outcome.raised}")
    return outcome.execution


# --------------------------------------------------------------------------- the data itself


def test_enough_hostile_samples_in_every_category():
    per_category = {c: sum(s.category is c for s in HOSTILE) for c in Category if c is not Category.CONTROL}
    assert len(HOSTILE) >= 50, len(HOSTILE)
    assert all(n >= 5 for n in per_category.values()), per_category


def test_no_hostile_sample_may_pass():
    allowed = [s.id for s in HOSTILE if Status.PASSED in s.expect]
    assert not allowed


def test_case_ids_are_unique():
    ids = [prefix + s.id for prefix, s in CASES]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- per backend


def test_every_job_gets_its_execution_in_order(suite: Suite):
    assert not suite.misordered, suite.misordered


@pytest.mark.parametrize("prefix,sample", [pytest.param(p, s, id=p + s.id) for p, s in CASES])
def test_verdict(suite: Suite, prefix: str, sample: Hostile):
    ex = _execution(suite, prefix + sample.id)
    allowed = sorted(s.value for s in sample.expect)
    assert ex.status in sample.expect, f"expected one of {allowed}; {_describe(ex)}"


@pytest.mark.parametrize("prefix,sample,check", [
    pytest.param(p, s, c.__name__, id=f"{p}{s.id}:{c.__name__}") for p, s in CASES for c in s.checks])
def test_host_untouched(suite: Suite, prefix: str, sample: Hostile, check: str):
    outcome = suite.outcomes[prefix + sample.id]
    problem = outcome.host[check] if outcome.host else "no host checks ran"
    assert problem is None, f"{problem}; {_describe(outcome.execution) if outcome.execution else outcome.raised}"
