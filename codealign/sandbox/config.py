"""SandboxConfig (how to isolate) and Job (what to run)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import Field

from codealign.errors import ConfigError
from codealign.stage_config import Boolean, Integer, Number, Text, stage_config
from codealign.tasks.task import Task

__all__ = ["SandboxConfig", "Job", "BACKENDS", "UNSAFE_BACKEND"]

Backend = Literal["bwrap", "docker", "unsafe-no-isolation"]
"""How executions are isolated (`SandboxConfig.backend`)."""
BACKENDS: tuple[str, ...] = get_args(Backend)
UNSAFE_BACKEND = "unsafe-no-isolation"


@stage_config
class SandboxConfig:
    """How executions are isolated and fanned out.

    Attributes:
        backend: ``"bwrap"`` (default: Linux namespaces + rlimits), ``"docker"`` (warm
            containers through the Docker SDK), or ``"unsafe-no-isolation"``, which runs the
            same harness as a plain subprocess of the host: rlimits only, full access to the
            host's files and network. It exists for machines without either and is never
            chosen implicitly.
        workers: parallel sandboxes; 0 means one per CPU core.
        python: the interpreter inside the sandbox (bwrap: a host path outside /root and
            home; docker: a path in the image).
        image: the Docker image of the docker backend.
        tmpfs_mb: size of the writable tmpfs (the working directory).
        output_limit: bytes of stdout/stderr kept (the tail) per execution.
        nproc: RLIMIT_NPROC for the candidate: processes and threads it may have.
        fsize_mb: RLIMIT_FSIZE: the largest file the candidate may write.
        perf_timeout_factor: the profiling phase may take this many times the task's
            timeout (it repeats the perf calls).
        jobs_per_sandbox: restart a sandbox after this many executions (0: never). Runs are
            already isolated from each other; this bounds any slow leak in the zygote.
        repeats: timed passes over the perf inputs when profiling (a `Job` may override);
            the cost figure is the fastest pass.
        timeout_s: the wall-clock limit of one execution's tests, for every task (None:
            each task's own ``timeout_s``).
        synthesise_perf_inputs: profile tasks without ``perf_inputs`` on inputs scaled up
            from their tests' call arguments (`codealign.sandbox.perfinputs`), kept where the
            task's reference finishes within an operation budget.
        differential: check every sample of a task with a reference against the reference
            on inputs mutated from its tests' own (`codealign.sandbox.strengthen`): a sample
            passes only if it passes the tests and agrees on every such input.
        inputs_cache_dir: where synthesised inputs are cached by content
            (`codealign.sandbox.inputs`; "" = the user cache, ``~/.cache/codealign/inputs``).
        executor: ``"local"`` (a pool of `workers` sandboxes on this machine) or ``"ray"``
            (stateless Ray tasks on the nodes offering the ``sandbox`` resource; see
            `codealign.sandbox.ray_executor`).
        ray_address: the Ray cluster to join (e.g. ``"auto"``, ``"ray://head:10001"``); None
            joins the Ray already initialised in this process, or starts a local one.
    """

    backend: Backend = "bwrap"
    workers: Annotated[Integer, Field(ge=0)] = 0
    python: str = "/usr/bin/python3"
    image: str = "codealign-sandbox:latest"
    tmpfs_mb: Annotated[Integer, Field(ge=1)] = 64
    output_limit: Annotated[Integer, Field(ge=0)] = 8192
    nproc: Annotated[Integer, Field(ge=4)] = 64
    fsize_mb: Annotated[Integer, Field(ge=1)] = 32
    perf_timeout_factor: Annotated[Number, Field(gt=0)] = 6.0
    jobs_per_sandbox: Annotated[Integer, Field(ge=0)] = 2000
    repeats: Annotated[Integer, Field(ge=1, le=100)] = 5
    timeout_s: Annotated[Number, Field(gt=0, le=3600)] | None = None
    synthesise_perf_inputs: Boolean = True
    differential: Boolean = True
    inputs_cache_dir: str = ""
    executor: Literal["local", "ray"] = "local"
    ray_address: Text | None = None

    @property
    def worker_count(self) -> int:
        return self.workers or len(os.sched_getaffinity(0))

    def task_timeout(self, task: Task) -> float:
        """The wall-clock limit of one execution of `task`'s tests."""
        return self.timeout_s if self.timeout_s is not None else task.timeout_s


@dataclass(frozen=True)
class Job:
    """One sample to execute: `code` is the whole candidate module.

    With `profile`, a sample that passes is also measured on the task's perf inputs (or
    its literal test calls, or its test scripts' calls): a deterministic line-event count
    and the fastest of `repeats` passes of the candidate's CPU time (None: the
    SandboxConfig's `repeats`), read from the kernel by the trusted tester.
    """

    sample_id: str
    task: Task
    code: str
    profile: bool = False
    repeats: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, str):
            raise ConfigError(f"code must be a string, got {type(self.code).__name__}", field="code")
        if self.repeats is not None and not (isinstance(self.repeats, int) and 1 <= self.repeats <= 100):
            raise ConfigError(f"repeats must be in [1, 100], got {self.repeats!r}", field="repeats")
