"""The host's side of the zygote protocol: job frames out, typed responses in.

Every name on the wire is defined once, in `codealign.sandbox.zygote` (`JobKey`,
`ResponseKey`, `RecordKey`, `Event`, ...): this module builds job frames with those keys and
parses each response exactly once into the frozen records below, which is all the verdict
(`codealign.sandbox.assess`) and the input synthesis read. A response that does not
parse (a key missing, a value of the wrong type, an event no harness version writes) is a
`SandboxFault` that names what was wrong: evidence is never dropped silently. The zygote
is trusted, but the values inside a record are the candidate's (plain data, decoded here by
`codealign.sandbox.plain.decode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codealign.errors import SandboxFault
from codealign.sandbox.config import Job, SandboxConfig
from codealign.sandbox.plain import decode
from codealign.sandbox.testcases import TestPlan
from codealign.sandbox.zygote import (EVENTS, CallKey, FinalKey, HelloKey, JobKey, PerfKey, ProbeKey,
                                      RecordKey, ResponseKey, ScriptKey, SecretsKey, TesterKey)

__all__ = ["HOST_MARGIN_S", "CallReply", "ScriptReply", "TestRecord", "PerfFigures", "ProbeReply",
           "WorkerEnd", "TesterEnd", "Response", "Hello", "job_frame", "probe_frame", "secrets_frame",
           "host_timeout", "parse_hello", "parse_response"]

HOST_MARGIN_S = 10.0   # the host waits this much longer than the zygote's own clocks


# ---------------------------------------------------------------------------------------------
# Job frames (host to zygote)


def job_frame(job: Job, plan: TestPlan, config: SandboxConfig, *, measure_only: bool = False,
              budgets: Sequence[int | None] | None = None) -> dict[str, Any]:
    """The zygote's job frame for `job`. `measure_only`: a profiling run of a sample already
    known to pass (the tests are skipped when there is something else to measure).
    `budgets`: each literal call's line-event budget (None: not traced; the default for
    every call)."""
    budgets = list(budgets) if budgets is not None else [None] * len(plan.calls)
    if len(budgets) != len(plan.calls):
        raise ValueError(f"{len(budgets)} budgets for {len(plan.calls)} calls")
    task = job.task
    timeout = config.task_timeout(task)
    perf_budget = timeout * config.perf_timeout_factor if job.profile else 0.0
    return {JobKey.CODE: job.code, JobKey.CHECK: None, JobKey.ENTRY: task.entry_point,
            JobKey.SETUP: task.trusted_setup(), JobKey.CALLS: [c.args_src for c in plan.calls],
            JobKey.CALL_BUDGETS: budgets,
            JobKey.SCRIPT_COUNT: len(plan.scripts),
            JobKey.PROFILE: job.profile, JobKey.MEASURE_ONLY: measure_only, JobKey.PROBE: False,
            JobKey.PROBE_VALUES: False, JobKey.PROBE_WORK_FACTOR: 0,
            JobKey.PERF: list(task.perf_inputs), JobKey.REPEATS: job.repeats or config.repeats,
            JobKey.TIMEOUT_S: timeout, JobKey.PERF_TIMEOUT_S: perf_budget,
            JobKey.PERF_BUDGET_S: timeout if job.profile else 0.0,
            JobKey.CPU_S: timeout + perf_budget, JobKey.MEMORY_MB: task.memory_mb,
            JobKey.NPROC: config.nproc, JobKey.FSIZE_MB: config.fsize_mb,
            JobKey.OUTPUT_LIMIT: config.output_limit}


def probe_frame(job: Job, config: SandboxConfig, groups: tuple[int, ...], budget_ops: int, *,
                values: bool = False, check: str | None = None, work_factor: int = 0) -> dict[str, Any]:
    """A probe of `job.code` on `job.task.perf_inputs` (input synthesis): each input run once,
    traced, stopped past `budget_ops` line events; larger inputs of a group (`groups`, one
    per input) only while the smaller ones finished. `values`: report each result (else a
    digest); `check`: the input contract (source of ``input_check``), asked first;
    `work_factor`: a digest probe also bounds each call's untraced CPU by that many budgets'
    worth of this machine's line events (`zygote.probe`)."""
    frame = job_frame(job, TestPlan((), ()), config)
    limit = config.task_timeout(job.task)   # a safety net only: the budget decides
    frame.update({JobKey.PROBE: True, JobKey.PROBE_GROUPS: list(groups), JobKey.CHECK: check,
                  JobKey.PROBE_BUDGET_OPS: budget_ops, JobKey.PROBE_VALUES: values,
                  JobKey.PROBE_WORK_FACTOR: work_factor,
                  JobKey.PERF_TIMEOUT_S: limit, JobKey.CPU_S: 2 * limit + 1})
    return frame


def secrets_frame(scripts: tuple[str, ...]) -> dict[str, Any] | None:
    """The frame that follows a job with test scripts (read by the tester only)."""
    return {SecretsKey.SCRIPTS: list(scripts)} if scripts else None


def host_timeout(job: Job, config: SandboxConfig) -> float:
    """How long the host waits for the answer to `job` before it replaces the sandbox."""
    factor = 1 + (config.perf_timeout_factor if job.profile else 0)
    return config.task_timeout(job.task) * factor + HOST_MARGIN_S


# ---------------------------------------------------------------------------------------------
# Typed responses (zygote to host)


@dataclass(frozen=True)
class CallReply:
    """One literal call's result: a plain `value` (`returned`), an `opaque` non-plain object
    (its repr, type name and truth value when bool() worked), a budgeted call's count when
    it ran past its budget (`over_budget`), or an `error`."""

    returned: bool = False
    value: Any = None
    opaque: str | None = None
    type_name: str = ""
    truth: bool | None = None
    over_budget: int | None = None
    error: str = ""


@dataclass(frozen=True)
class ScriptReply:
    passed: bool
    error: str = ""


@dataclass(frozen=True)
class TestRecord:
    """The tester's record: whether the module loaded, each call's and script's result, and
    the events it saw (`zygote.Event` values, in order, each once)."""

    loaded: bool
    load_error: str
    calls: tuple[CallReply, ...]
    scripts: tuple[ScriptReply, ...]
    events: tuple[str, ...]

    def saw(self, event: str) -> bool:
        return event in self.events


@dataclass(frozen=True)
class PerfFigures:
    """The profile of a passing sample, or the `error` that stopped it. `lower_bound`: a
    pass ran past its CPU budget (`budget_s`) and was stopped; `cpu_s` is the CPU it had
    used (at least the budget) and `ops` the line events counted by then. `op_s`: CPU
    seconds per plain line event, timed in the same job (None: not measured)."""

    ops: int | None = None
    cpu_s: float | None = None
    lower_bound: bool = False
    budget_s: float = 0.0
    op_s: float | None = None
    error: str = ""


@dataclass(frozen=True)
class ProbeReply:
    """One probed input: its index, the line events the call took (as far as it got when it
    ran past the budget) and, when it returned within the budget, a digest of the result;
    else what it raised."""

    index: int
    ok: bool
    ops: int | None = None
    over_budget: bool = False
    digest: str | None = None
    value: Any = None               # the result as tagged JSON (a probe for values)
    cpu_s: float | None = None      # the call's CPU untraced (a probe for digests)
    rejected: bool = False          # the input contract did not accept the input
    error: str = ""


@dataclass(frozen=True)
class WorkerEnd:
    """The kernel's accounting of the candidate's process and how it ended."""

    cpu_s: float
    peak_kb: int
    exit: int | None
    signal: int | None

    @property
    def clean(self) -> bool:
        return self.exit == 0 and self.signal is None


@dataclass(frozen=True)
class TesterEnd:
    exit: int | None = None
    signal: int | None = None
    killed_by_us: bool = False

    def __str__(self) -> str:
        return ("killed at the deadline" if self.killed_by_us
                else f"signal {self.signal}" if self.signal is not None else f"exit {self.exit}")


@dataclass(frozen=True)
class Response:
    """One job's answer, parsed once."""

    record: TestRecord | None       # None: the tester wrote none
    perf: PerfFigures | None
    final: WorkerEnd | None         # None: the tester died before reaping the candidate
    probes: tuple[ProbeReply, ...]
    probe_error: str
    op_s: float | None              # a digest probe: this machine's CPU seconds per line event
    tester: TesterEnd
    timed_out: bool                 # the tests' wall clock ran out
    perf_timed_out: bool            # the profiling's wall clock ran out (the tests completed)
    wall_s: float
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool


@dataclass(frozen=True)
class Hello:
    python: str


class _Reader:
    """Typed access to one JSON object of a frame; a bad key is a SandboxFault naming it."""

    def __init__(self, obj: Any, what: str) -> None:
        if type(obj) is not dict:
            raise SandboxFault(f"malformed {what}: not an object ({str(obj)[:80]})")
        self.obj, self.what = obj, what

    def has(self, key: str) -> bool:
        return key in self.obj

    def get(self, key: str, kinds: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.obj:
            if default is ...:
                raise SandboxFault(f"malformed {self.what}: no {key!r}")
            return default
        value = self.obj[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
            raise SandboxFault(f"malformed {self.what}: {key!r} is {str(value)[:80]}")
        return value


def _positive(value: float | int | None) -> float | None:
    """A positive measured figure, or None (absent, zero or negative)."""
    return float(value) if value is not None and value > 0 else None


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


_NUMBER = (int, float)


def parse_hello(obj: Any) -> Hello | None:
    """The zygote's first frame; None unless it says it is ready."""
    if type(obj) is not dict or obj.get(HelloKey.READY) is not True:
        return None
    return Hello(str(obj.get(HelloKey.PYTHON, "")))


def parse_response(obj: Any) -> Response:
    """The zygote's response to one job; raises SandboxFault for the zygote's own failure
    (a ``fault`` frame) or a response that does not parse."""
    top = _Reader(obj, "response")
    if top.has(ResponseKey.FAULT):
        raise SandboxFault(f"zygote failed: {top.get(ResponseKey.FAULT, str)}")
    frames = top.get(ResponseKey.FRAMES, list)
    record = perf = final = None
    probes: list[ProbeReply] = []
    probe_error, op_s = "", None
    for raw in frames:
        frame = _Reader(raw, "frame")
        if frame.has(RecordKey.COMPLETE):
            record = _record(frame) if record is None else record
        elif frame.has(PerfKey.PERF):
            perf = _perf(_Reader(frame.get(PerfKey.PERF, dict), "perf frame"))
        elif frame.has(FinalKey.FINAL):
            final = _final(frame)
        elif frame.has(ProbeKey.PROBE):
            probes.append(_probe(frame))
        elif frame.has(ProbeKey.PROBE_ERROR):
            probe_error = frame.get(ProbeKey.PROBE_ERROR, str)
        elif frame.has(ProbeKey.OP_S):
            op_s = float(frame.get(ProbeKey.OP_S, _NUMBER))
        else:
            raise SandboxFault(f"malformed response: unknown frame {str(raw)[:120]}")
    tester = _Reader(top.get(ResponseKey.TESTER, dict), "tester end")
    stdout, stderr = top.get(ResponseKey.STDOUT, str), top.get(ResponseKey.STDERR, str)
    return Response(
        record=record, perf=perf, final=final, probes=tuple(probes), probe_error=probe_error, op_s=op_s,
        tester=TesterEnd(tester.get(TesterKey.EXIT, int, None), tester.get(TesterKey.SIGNAL, int, None),
                         tester.get(TesterKey.KILLED_BY_US, bool, False)),
        timed_out=top.get(ResponseKey.TIMED_OUT, bool),
        perf_timed_out=top.get(ResponseKey.PERF_TIMED_OUT, bool),
        wall_s=float(top.get(ResponseKey.WALL_S, _NUMBER)),
        stdout=stdout, stderr=stderr,
        stdout_truncated=top.get(ResponseKey.STDOUT_BYTES, int) > len(stdout.encode()),
        stderr_truncated=top.get(ResponseKey.STDERR_BYTES, int) > len(stderr.encode()))


def _record(frame: _Reader) -> TestRecord:
    load = _Reader(frame.get(RecordKey.LOAD, dict), "load result")
    events = tuple(dict.fromkeys(frame.get(RecordKey.EVENTS, list)))
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise SandboxFault(f"malformed record: unknown events {unknown[:3]}")
    return TestRecord(
        loaded=load.get(RecordKey.OK, bool), load_error=load.get(RecordKey.ERROR, str, ""),
        calls=tuple(_call(_Reader(c, "call result")) for c in frame.get(RecordKey.CALLS, list)),
        scripts=tuple(_script(_Reader(s, "script result")) for s in frame.get(RecordKey.SCRIPTS, list)),
        events=events)


def _call(got: _Reader) -> CallReply:
    if got.has(CallKey.VALUE):
        try:
            return CallReply(returned=True, value=decode(got.obj[CallKey.VALUE]))
        except (ValueError, TypeError, KeyError) as exc:
            return CallReply(error=f"undecodable result: {exc}")
    if got.has(CallKey.OVER_BUDGET):
        return CallReply(over_budget=got.get(CallKey.OVER_BUDGET, int))
    if got.has(CallKey.OPAQUE):
        return CallReply(opaque=got.get(CallKey.OPAQUE, str), type_name=got.get(CallKey.TYPE, str, ""),
                         truth=got.get(CallKey.TRUTH, (bool, type(None)), None))
    return CallReply(error=got.get(CallKey.ERROR, str, "no result"))


def _script(got: _Reader) -> ScriptReply:
    return ScriptReply(got.get(ScriptKey.PASSED, bool), got.get(ScriptKey.ERROR, str, ""))


def _perf(perf: _Reader) -> PerfFigures:
    if perf.has(PerfKey.ERROR):
        return PerfFigures(error=perf.get(PerfKey.ERROR, str))
    return PerfFigures(ops=perf.get(PerfKey.OPS, int), cpu_s=float(perf.get(PerfKey.CPU_S, _NUMBER)),
                       lower_bound=perf.get(PerfKey.LOWER_BOUND, bool, False),
                       budget_s=float(perf.get(PerfKey.BUDGET_S, _NUMBER, 0.0)),
                       op_s=_positive(perf.get(PerfKey.OP_S, _NUMBER, None)))


def _final(frame: _Reader) -> WorkerEnd:
    return WorkerEnd(cpu_s=float(frame.get(FinalKey.CPU_S, _NUMBER)),
                     peak_kb=frame.get(FinalKey.PEAK_KB, int),
                     exit=frame.get(FinalKey.EXIT, int, None), signal=frame.get(FinalKey.SIGNAL, int, None))


def _probe(frame: _Reader) -> ProbeReply:
    return ProbeReply(index=frame.get(ProbeKey.PROBE, int), ok=frame.get(ProbeKey.OK, bool),
                      ops=frame.get(ProbeKey.OPS, (int, type(None)), None),
                      over_budget=frame.get(ProbeKey.OVER_BUDGET, bool, False),
                      digest=frame.get(ProbeKey.DIGEST, (str, type(None)), None),
                      value=frame.obj.get(ProbeKey.VALUE), rejected=frame.get(ProbeKey.REJECTED, bool, False),
                      cpu_s=frame.get(ProbeKey.CPU_S, _NUMBER, None),
                      error=frame.get(ProbeKey.ERROR, str, ""))

