"""The Execution record: what running one sample against its task's tests produced."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from codealign.sandbox.zygote import Event

__all__ = ["Status", "Flag", "TestOutcome", "Cost", "Execution"]


class Status(str, enum.Enum):
    """Outcome of one execution. Only `PASSED` means every test passed honestly."""

    PASSED = "passed"      # every test accounted for and passed, clean exit
    FAILED = "failed"      # ran to completion, some test failed
    ERROR = "error"        # did not load or crashed (syntax error, missing entry point, signal)
    TIMEOUT = "timeout"    # wall-clock or CPU limit hit
    MEMORY = "memory"      # address-space limit hit
    TAMPERED = "tampered"  # tried to interfere with the harness (forged records, killed it, ...)

    @property
    def passed(self) -> bool:
        return self is Status.PASSED

    @property
    def rank(self) -> int:
        """Order for choosing between failures: higher is closer to working code."""
        return {Status.PASSED: 5, Status.FAILED: 4, Status.TIMEOUT: 3, Status.MEMORY: 2,
                Status.ERROR: 1, Status.TAMPERED: 0}[self]


class Flag(str, enum.Enum):
    """What the harness saw at run time, as written in `Execution.flags`.

    A flag is either **tamper evidence** (the candidate interfered with the harness) or a
    **diagnostic** (something worth knowing that says nothing about honesty: a chatty
    program, a slow one, a profiling run that could not finish). Only tamper evidence ever
    makes a sample tampered (`codealign.judges.rules`). A flag is written as its value,
    optionally followed by ``": detail"`` (``"perf-error: ValueError: ..."``), or for
    signals as ``candidate-signal-NAME``. Every `zygote.Event` the tester records is a flag of
    the same value (defined there, once).
    """

    # tamper evidence
    HARNESS_KILLED = "harness-killed"                  # the trusted tester was killed
    EXIT_AT_LOAD = Event.EXIT_AT_LOAD                  # exit(0) while loading the module
    EXIT_BEFORE_COMPLETION = "exit-before-completion"  # exit(0) while tests were running
    EXIT_IN_CALL = Event.EXIT_IN_CALL
    GARBLED_REPLY = Event.GARBLED_REPLY                # broke the worker protocol
    # diagnostics
    STDOUT_TRUNCATED = "stdout-truncated"
    STDERR_TRUNCATED = "stderr-truncated"
    PERF_ERROR = "perf-error"
    PERF_TIMEOUT = "perf-timeout"
    PERF_UNAVAILABLE = "perf-unavailable"
    SANDBOX_UNRESPONSIVE = "sandbox-unresponsive"
    CANDIDATE_SIGNAL = "candidate-signal"
    ENDED_IN_CALL = Event.ENDED_IN_CALL
    ENDED_AT_LOAD = Event.ENDED_AT_LOAD
    MEMORY = Event.MEMORY
    # An `error` the infrastructure caused (a lost Ray worker or node), not the candidate:
    # such a sample says nothing about the code and is left out of pass rates and pairs.
    INFRASTRUCTURE = "infrastructure"

    @property
    def tamper(self) -> bool:
        """True when this flag is evidence of tampering (never for a diagnostic)."""
        return self in _TAMPER_FLAGS

    def text(self, detail: str = "") -> str:
        """The flag as stored in `Execution.flags`."""
        return f"{self.value}: {detail}" if detail else self.value

    @classmethod
    def parse(cls, text: str) -> "Flag | None":
        """The flag a stored string names; None for a string no version of the harness
        wrote (whoever reads it decides what an unknown flag means).

        >>> Flag.parse("perf-error: ValueError: x"), Flag.parse("candidate-signal-SIGSEGV")
        (<Flag.PERF_ERROR: 'perf-error'>, <Flag.CANDIDATE_SIGNAL: 'candidate-signal'>)
        >>> Flag.parse("trace-changed") is None
        True
        """
        head = text.split(":", 1)[0].strip()
        if head.startswith(cls.CANDIDATE_SIGNAL.value + "-"):
            return cls.CANDIDATE_SIGNAL
        try:
            return cls(head)
        except ValueError:
            return None


_TAMPER_FLAGS = frozenset({Flag.HARNESS_KILLED, Flag.EXIT_AT_LOAD, Flag.EXIT_BEFORE_COMPLETION,
                           Flag.EXIT_IN_CALL, Flag.GARBLED_REPLY})


@dataclass(frozen=True)
class TestOutcome:
    """One test case: `name` (e.g. ``"call[3]"``, ``"script"``), whether it passed, and why not."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Cost:
    """Cost figures measured from outside the candidate's process.

    `cpu_s` and `peak_kb` come from the kernel's accounting of the candidate's process
    (wait4 rusage); `ops` is a deterministic count of executed Python line events in
    the entry point during the perf calls (only when profiling was asked for, else None);
    `perf_cpu_s` the candidate's CPU time per pass over them.

    `lower_bound`: profiling ran past its CPU budget (one task timeout of CPU per pass) and
    was stopped: `perf_cpu_s` is the CPU that pass had used when stopped (at least the
    budget) and `ops` the line events counted by then (never None then). The true cost is at
    least these figures (the diagnostic flag ``perf-timeout`` says so too).

    `op_s`: CPU seconds per plain Python line event, timed by the tester in the same job
    (a short loop): this machine's speed at that moment, the unit in which the judges say
    how small a measured difference is too small to tell (None: not measured).
    """

    cpu_s: float = 0.0
    peak_kb: int = 0
    wall_s: float = 0.0
    ops: int | None = None
    perf_cpu_s: float | None = None
    lower_bound: bool = False
    op_s: float | None = None


@dataclass(frozen=True)
class Execution:
    """The trusted verdict on one sample. Produced by the sandbox, never by the candidate."""

    sample_id: str
    task_id: str
    status: Status
    tests_passed: int
    tests_total: int
    outcomes: tuple[TestOutcome, ...] = ()
    cost: Cost = field(default_factory=Cost)
    stdout: str = ""
    stderr: str = ""
    detail: str = ""          # the harness's own explanation (e.g. "exit before completion record")
    flags: tuple[str, ...] = ()  # what the harness saw at run time: `Flag` texts
    backend: str = ""

    @property
    def sandbox_passed(self) -> bool:
        """The sandbox's status is ``passed``: every test accounted for and passed, clean
        exit. Not yet an honest pass: only `codealign.judges.rules.passed_honestly` (and
        `Verdict.passed`) also rule out tamper evidence and the tamper judge's findings."""
        return self.status is Status.PASSED

    @property
    def infrastructure_error(self) -> bool:
        """The execution never happened: its worker or node was lost (`Flag.INFRASTRUCTURE`)."""
        return self.status is Status.ERROR and Flag.INFRASTRUCTURE.text() in self.flags

    @property
    def fraction_passed(self) -> float:
        return self.tests_passed / self.tests_total if self.tests_total else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        d["outcomes"] = [dataclasses.asdict(o) for o in self.outcomes]
        d["flags"] = list(self.flags)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Execution":
        d = dict(d)
        d["status"] = Status(d["status"])
        d["outcomes"] = tuple(TestOutcome(**o) for o in d.get("outcomes", ()))
        d["flags"] = tuple(d.get("flags", ()))
        d["cost"] = Cost(**d.get("cost", {}))
        return cls(**d)
