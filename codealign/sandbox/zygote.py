"""The in-sandbox harness: a zygote that forks one clean tester per execution.

This file runs INSIDE the sandbox (bwrap or a container) as ``python3 -I -S -B zygote.py``,
as PID 1 of the sandbox's PID namespace. It imports the standard library only, so it runs
on the sandbox's own interpreter. The host (``codealign.sandbox.session``) sends it jobs as
length-prefixed JSON frames on stdin and reads one response frame per job on stdout.

Three processes per execution, each distrusting the next:

    zygote (PID 1, trusted)        holds the host link; forks a tester per job; enforces the
      │                            wall clock; afterwards kills every process but itself
      │                            (kill(-1)) and wipes every writable directory.
      └─ tester (trusted)          runs the task's trusted setup and non-literal tests; forks
           │                       the worker; talks to it over two pipes; measures it with
           │                       wait4 and its kernel CPU clock; writes the record.
           └─ worker (UNTRUSTED)   loads the candidate module and answers call requests with
                                   marshal-level plain data. It never holds the result
                                   channel, the host link, the tests' expected values or the
                                   tests' source.

Both trusted processes are non-dumpable (no ptrace, no /proc/PID/mem or fd access from the
worker) and, being PID 1 or holding no signal handlers the worker can use, only killable,
which reads as a failure, never as a pass. See ``codealign/sandbox/__init__.py`` for the
whole threat model.
"""

import ast
import builtins
import gc
import ctypes
import fcntl
import json
import marshal
import mmap
import os
import resource
import select
import selectors
import signal
import struct
import sys
import time
import zlib

import base64

# Warm the modules candidates import most (HumanEval prompts import typing): every fork
# inherits them ready-made. Each one also makes every fork dearer, so the list is short.
import collections, functools, heapq, itertools, math, re, string, typing  # noqa: E401,F401 (preloaded on purpose)

FRAME = struct.Struct(">I")
MAX_FRAME = 256 << 20
PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
MAX_RESULT_BYTES = 16 << 20        # one reply from the worker
MAX_CALL_RESULT_BYTES = 1 << 20    # one literal call's result, as reported to the host
MAX_RECORD_RESULT_BYTES = 8 << 20  # all of them together: the host's frame stays bounded
HANDLE_TAG = "__codealign_handle__"
BUILTIN_TAG = "__codealign_builtin__"
OPS_CAP = 5_000_000      # a traced call stops counting here (a lower bound, flagged)
TINY_CALL_S = 2e-3       # calls faster than this are timed over many copies of the input
MAX_COPIES = 2000
MAX_COPY_BYTES = 1 << 20   # ... as long as the copies stay this small in all (marshal size)
REPEAT_BUDGET_S = 1.0   # timed passes stop once they have used this much CPU in all
WATCH_POLL_S = 0.05     # how often a profiling pass looks at the candidate's CPU clock
PIPE_CHUNK = 4096   # a pipe reported writable takes at least this much without blocking
PROGRESS = struct.Struct("<q")   # a traced call's count so far, in the page the worker shares


# ---------------------------------------------------------------- the wire: its only definition
#
# Every name that crosses a process boundary is spelled here and nowhere else: the tester's
# requests to the worker and the worker's replies (marshal tuples: plain str constants, since
# marshal takes no subclass of str), the events the tester records, and the keys of every JSON
# frame between the host and the zygote. The host imports these classes
# (`codealign.sandbox.wire` parses each response once into typed records).

class Op:
    """Requests from the tester to the worker: the first item of each tuple."""
    LOAD = "load"                # the go-ahead: load the candidate's module
    CALLS = "calls"              # (CALLS, ref, [args, ...], [budget, ...]): one reply per call,
                                 # streamed; a call with a budget is traced and stopped past it
    CALL = "call"                # (CALL, ref, args, trace)
    GETATTR = "getattr"
    SETATTR = "setattr"
    ITER = "iter"
    NEXT = "next"
    LEN = "len"
    GETITEM = "getitem"
    STR = "str"
    PERF_LOAD = "perf-load"      # (PERF_LOAD, [(blob, wired), ...]): the perf inputs, once
    PERF_STAGE = "perf-stage"    # (PERF_STAGE, index, copies): decode fresh copies of one
    PERF_RUN = "perf-run"        # (PERF_RUN, ref, trace, want, budget): call on the staged copies
                                 # (want: "", DIGEST or VALUE); a traced call with a budget
                                 # stops past that many line events
    NOOP = "noop"
    CALIBRATE = "calibrate"      # (CALIBRATE, n): run `calibration_loop(n)`, untraced
    EXIT = "exit"


class Reply:
    """The worker's replies: the first item of each tuple."""
    OK = "ok"                    # (OK, value, ops); PERF_RUN: (OK, value if VALUE, ops, digest)
    EXC = "exc"                  # (EXC, type name, message)
    EXIT = "exit"                # (EXIT, repr of the exit code): the candidate called exit
    STOP = "stop"                # NEXT: the iterator is exhausted
    LOADED = "loaded"            # (LOADED, [callable names])
    LOAD_ERROR = "load-error"    # (LOAD_ERROR, type name, message)
    OVER_BUDGET = "over-budget"  # (OVER_BUDGET, ops): a budgeted call ran past its line events


DIGEST = "digest"                # PERF_RUN's want: a digest of the result
VALUE = "value"                  # ... or the result itself (plain data)
CHECK_REF = "\0input_check"      # the ref of the task's input contract (never a Python name)


class Event:
    """What the tester saw the candidate's process do, as written in the record's events.
    Each one is also a `codealign.sandbox.execution.Flag` (a test checks it)."""
    GARBLED_REPLY = "garbled-reply"      # a reply that is not plain marshal data
    ENDED_IN_CALL = "ended-in-call"      # the process ended while a call was running
    EXIT_IN_CALL = "exit-in-call"        # it called exit while a call was running
    ENDED_AT_LOAD = "ended-at-load"
    EXIT_AT_LOAD = "exit-at-load"
    MEMORY = "memory"                    # a MemoryError


EVENTS = tuple(v for k, v in vars(Event).items() if k.isupper())


class JobKey:
    """The job frame (host to zygote, JSON)."""
    CODE = "code"                  # the candidate's module source
    CHECK = "check"                # PROBE: the task's input contract, source defining
                                   # input_check(*args) -> bool (loaded beside CODE)
    ENTRY = "entry"                # the entry point's name
    SETUP = "setup"                # trusted source run beside the tests (and perf inputs)
    CALLS = "calls"                # literal calls: argument-tuple sources
    CALL_BUDGETS = "call_budgets"  # each call's line-event budget, or None: not traced
    SCRIPT_COUNT = "script_count"  # how many test scripts follow in the secrets frame
    PROFILE = "profile"            # measure the candidate after the tests
    MEASURE_ONLY = "measure_only"  # skip the tests (a sample already known to pass)
    PROBE = "probe"                # input synthesis: run the entry point once on each perf input
    PROBE_GROUPS = "probe_groups"  # PROBE: each input's group
    PROBE_BUDGET_OPS = "probe_budget_ops"  # PROBE: line events a call may take
    PROBE_VALUES = "probe_values"  # PROBE: report each result itself, not a digest
    PROBE_WORK_FACTOR = "probe_work_factor"  # PROBE (digests): an input's untraced CPU may be
                                   # this many budgets' worth of this machine's line events
    PERF = "perf"                  # perf input sources (argument tuples)
    REPEATS = "repeats"
    TIMEOUT_S = "timeout_s"        # wall clock of the tests
    PERF_TIMEOUT_S = "perf_timeout_s"  # wall clock of the profiling, after the record
    PERF_BUDGET_S = "perf_budget_s"    # CPU seconds one profiling pass may take: past it the
                                       # profile stops and its figures are a lower bound
    CPU_S = "cpu_s"                # RLIMIT_CPU of the candidate's process
    MEMORY_MB = "memory_mb"
    NPROC = "nproc"
    FSIZE_MB = "fsize_mb"
    OUTPUT_LIMIT = "output_limit"  # bytes of stdout/stderr tail kept
    WORK_DIR = "work_dir"
    HAS_SECRETS = "has_secrets"    # a secrets frame follows (read by the tester only)


class SecretsKey:
    """The secrets frame that follows a job frame: only the tester reads it."""
    SCRIPTS = "scripts"


class HelloKey:
    """The zygote's first frame."""
    READY = "ready"
    PYTHON = "python"


class ResponseKey:
    """The zygote's answer to one job (zygote to host, JSON)."""
    FRAMES = "frames"              # what the tester emitted, in order (the *Key classes below)
    TESTER = "tester"              # how the tester ended (TesterKey)
    TIMED_OUT = "timed_out"        # the tests' wall clock ran out
    PERF_TIMED_OUT = "perf_timed_out"  # the profiling's wall clock ran out (tests complete)
    WALL_S = "wall_s"
    STDOUT = "stdout"
    STDERR = "stderr"
    STDOUT_BYTES = "stdout_bytes"  # how much was written in all (the tails are capped)
    STDERR_BYTES = "stderr_bytes"
    FAULT = "fault"                # the zygote's own failure (no other key then)
    DESYNC = "desync"              # ... after which it exits: the host starts a fresh one


class TesterKey:
    EXIT = "exit"
    SIGNAL = "signal"
    KILLED_BY_US = "killed_by_us"


class RecordKey:
    """The tester's record frame: the verdict's evidence."""
    COMPLETE = "complete"          # True: the record frame
    LOAD = "load"                  # {OK: bool, ERROR: str}
    CALLS = "calls"                # one CallKey dict per literal call
    SCRIPTS = "scripts"            # one ScriptKey dict per script
    EVENTS = "events"              # Event values
    OK = "ok"
    ERROR = "error"


class CallKey:
    """One literal call's result: VALUE, or OPAQUE (+ TYPE, TRUTH), or OVER_BUDGET, or ERROR."""
    VALUE = "value"                # the result as tagged JSON (encode_plain)
    OPS = "ops"                    # a budgeted call's line events
    OVER_BUDGET = "over_budget"    # a budgeted call ran past its budget: the count reached
    OPAQUE = "opaque"              # a non-plain result's repr
    TYPE = "type"
    TRUTH = "truth"                # its bool(), when that worked
    ERROR = "error"


class ScriptKey:
    PASSED = "passed"
    ERROR = "error"


class PerfKey:
    """The profile frame: {PERF: {...figures}}; ERROR instead of figures when it failed.
    LOWER_BOUND: a pass ran past PERF_BUDGET_S of CPU and was stopped; then CPU_S is the CPU
    that pass had used (at least the budget) and OPS the line events counted by then."""
    PERF = "perf"
    OPS = "ops"
    OPS_CAPPED = "ops_capped"
    CPU_S = "cpu_s"
    LOWER_BOUND = "lower_bound"
    BUDGET_S = "budget_s"
    MEDIAN_S = "median_s"
    REPEATS = "repeats"
    OVERHEAD_S = "overhead_s"
    OP_S = "op_s"                  # CPU seconds per plain line event, timed in the same job
    COPIES = "copies"
    CALLS = "calls"
    SOURCE = "source"              # "perf", "calls" or "tests": what was measured
    ERROR = "error"


class ProbeKey:
    """A probe frame (one per probed input), or PROBE_ERROR once when none could run."""
    PROBE = "probe"                # the input's index
    OK = "ok"                      # the call returned within its budget
    OPS = "ops"                    # line events it took (when over budget: as far as it got)
    OVER_BUDGET = "over_budget"
    DIGEST = "digest"              # of the result (OK)
    CPU_S = "cpu_s"                # the call's CPU time untraced (a probe for digests)
    VALUE = "value"                # the result as tagged JSON (OK, PROBE_VALUES)
    REJECTED = "rejected"          # the input contract said no (or raised: ERROR)
    ERROR = "error"                # what it raised
    PROBE_ERROR = "probe_error"
    OP_S = "op_s"                  # a frame of its own: this machine's CPU seconds per line event


class FinalKey:
    """The last frame: the kernel's accounting of the candidate's process."""
    FINAL = "final"
    CPU_S = "cpu_s"
    PEAK_KB = "peak_kb"
    EXIT = "exit"
    SIGNAL = "signal"


class Tag:
    """Tagged JSON of a plain value (`encode_plain`; the host decodes it with
    `codealign.sandbox.plain.decode`): JSON's own types stand for themselves, every other
    plain type is a one-key object."""
    INT = "i"                      # an int of 64 bits or more, in hex
    FLOAT = "f"                    # nan, inf, -inf (by repr)
    TUPLE = "t"
    DICT = "d"                     # [[key, value], ...]
    SET = "s"
    FROZENSET = "fs"
    BYTES = "b"                    # base64
    COMPLEX = "c"                  # [repr(real), repr(imag)]


SECRETS_READ = "secrets_read"      # the tester's first frame when secrets came (zygote only)

# What the zygote adds to a job it received (never on the wire).
AS_INIT = "_as_init"               # the zygote is PID 1 of its own namespace
HOST_IN = "_host_in"               # the host link, for the tester to read the secrets frame
SCRIPTS = "_scripts"               # the test scripts (the tester's copy of the secrets)


# ---------------------------------------------------------------- framing and helpers

def read_exact(fd, n, waiter=None):
    chunks, got = [], 0
    while got < n:
        if waiter is not None:
            waiter.wait(fd)
        b = os.read(fd, n - got)
        if not b:
            return None
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_frame(fd, limit=MAX_FRAME, waiter=None):
    head = read_exact(fd, FRAME.size, waiter)
    if head is None:
        return None
    (n,) = FRAME.unpack(head)
    if n > limit:
        return None
    return read_exact(fd, n, waiter)


def write_frame(fd, payload, waiter=None):
    data = FRAME.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        if waiter is not None:
            waiter.wait(fd, selectors.EVENT_WRITE)
            view = view[os.write(fd, view[:PIPE_CHUNK]):]
        else:
            view = view[os.write(fd, view):]


_libc = ctypes.CDLL(None, use_errno=True)


def make_undumpable():
    """PR_SET_DUMPABLE=0: other processes of our uid can no longer ptrace us or open our
    /proc/PID/{mem,fd,environ}."""
    if _libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")


def cpu_clock_of(pid):
    """The kernel's CPU-time clock of another process (clock_getcpuclockid)."""
    return ((~pid) << 3) | 2  # CPUCLOCK_SCHED, process-wide


def encode_plain(value, depth=0):
    """Plain data (already validated) to tagged JSON for the host (`Tag`)."""
    if depth > 200:
        raise ValueError("result nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if abs(value) < (1 << 63) else {Tag.INT: format(value, "x")}
    if t is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {Tag.FLOAT: repr(value)}
    if t is list:
        return [encode_plain(v, depth + 1) for v in value]
    if t is tuple:
        return {Tag.TUPLE: [encode_plain(v, depth + 1) for v in value]}
    if t is dict:
        return {Tag.DICT: [[encode_plain(k, depth + 1), encode_plain(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {Tag.SET if t is set else Tag.FROZENSET: [encode_plain(v, depth + 1) for v in value]}
    if t is bytes:
        return {Tag.BYTES: base64.b64encode(value).decode()}
    if t is complex:
        return {Tag.COMPLEX: [repr(value.real), repr(value.imag)]}
    raise TypeError(type(value).__name__)


def check_plain(value, depth=0):
    """True when `value` is built only of exact plain types (what marshal gave us)."""
    if depth > 200:
        return False
    t = type(value)
    if t in (list, tuple, set, frozenset):
        return all(check_plain(v, depth + 1) for v in value)
    if t is dict:
        return all(check_plain(k, depth + 1) and check_plain(v, depth + 1) for k, v in value.items())
    return t in PLAIN_TYPES


# ---------------------------------------------------------------- the worker (untrusted)

CALIBRATION_N = 100_000
PROFILE_CALIBRATION_N = 5_000   # profile: a short loop (about 10,000 line events) per job


def calibration_loop(n):
    """2n + 2 line events of plain Python: what one costs on this machine, right now."""
    i = 0
    while i < n:
        i += 1
    return i


class OverBudget(BaseException):
    """Raised into a budgeted call at its last allowed line event. A BaseException, so that
    no ``except Exception`` of the code under test swallows it (the count decides anyway)."""


def to_plain(value, table, depth=0):
    """Worker side: the result as marshal-able plain data, or a handle for other objects.

    Runs in the candidate's process, so nothing here is trusted: whatever it produces is
    only ever read as plain data by the tester.
    """
    if depth > 100:
        raise RecursionError("result nested too deeply")
    t = type(value)
    if value is None or t in (bool, int, float, complex, str, bytes):
        return value
    if t in (list, tuple, set, frozenset):
        return t(to_plain(v, table, depth + 1) for v in value)
    if t is dict:
        return {to_plain(k, table, depth + 1): to_plain(v, table, depth + 1) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(t, "_fields"):   # namedtuple
        return tuple(to_plain(v, table, depth + 1) for v in value)
    if isinstance(value, dict) and t.__module__ == "collections":   # Counter, OrderedDict, defaultdict
        return {to_plain(k, table, depth + 1): to_plain(v, table, depth + 1) for k, v in dict.items(value)}
    table.append(value)
    try:
        truth = bool(value)
    except BaseException:
        truth = None
    return (HANDLE_TAG, len(table) - 1, t.__name__, repr_short(value), truth)


def repr_short(value):
    try:
        r = repr(value)
    except BaseException:
        return "<unrepresentable>"
    return r if len(r) <= 200 else r[:200] + "..."


def from_wire(value, table):
    """Worker side: replace handle and builtin markers in arguments by what they name."""
    t = type(value)
    if t is tuple and len(value) == 2 and value[0] == HANDLE_TAG:
        return table[value[1]]
    if t is tuple and len(value) == 2 and value[0] == BUILTIN_TAG:
        return getattr(builtins, value[1])
    if t in (list, tuple):
        return t(from_wire(v, table) for v in value)
    if t is dict:
        return {k: from_wire(v, table) for k, v in value.items()}
    return value


def worker_main(code, check_code, req_fd, resp_fd, progress):
    """Load the candidate module (and, for a probe, the task's input contract beside it, in
    a namespace of its own), then serve call requests until told to exit. `progress`: a
    page shared with the tester, where a traced call's count so far is written now and
    then (read if the call has to be stopped)."""
    def reply(msg):
        try:
            data = marshal.dumps(msg)
        except (ValueError, TypeError) as exc:
            data = marshal.dumps((Reply.EXC, "TypeError", "unsendable result: %s" % exc))
        write_frame(resp_fd, data)

    if read_frame(req_fd) is None:    # the tester's go-ahead
        return
    module = {"__name__": "candidate", "__builtins__": builtins}
    try:
        compiled = compile(code, "candidate.py", "exec")
        exec(compiled, module)
    except SystemExit as exc:
        reply((Reply.EXIT, repr_short(exc.code)))
        return
    except MemoryError:
        reply((Reply.EXC, "MemoryError", "while loading the module"))
        return
    except BaseException as exc:
        reply((Reply.LOAD_ERROR, type(exc).__name__, repr_short(exc)))
        return
    names = [k for k, v in list(module.items()) if callable(v) and not k.startswith("__")]
    contract = {"__name__": "input_check", "__builtins__": builtins}
    if check_code:
        try:
            exec(compile(check_code, "input_check.py", "exec"), contract)
            if not callable(contract.get("input_check")):
                raise NameError("the input contract defines no function input_check")
        except BaseException as exc:
            reply((Reply.LOAD_ERROR, type(exc).__name__, "input_check: " + repr_short(exc)))
            return
    reply((Reply.LOADED, names))
    table, counter, limit = [], [0], [OPS_CAP, False]   # limit: [count, abort the call there]

    def tracer(frame, event, arg):
        """Global trace function: trace line events in the candidate's own frames only."""
        return count_lines if frame.f_code.co_filename == "candidate.py" else None

    def count_lines(frame, event, arg):
        if event == "line":
            counter[0] += 1
            if not counter[0] & 1023:
                PROGRESS.pack_into(progress, 0, counter[0])
            if counter[0] >= limit[0]:
                sys.settrace(None)
                if limit[1]:   # a budgeted call: stop it here
                    raise OverBudget()
                return None    # OPS_CAP: enough to rank it, the rest runs untraced
        return count_lines

    def traced(fn, args, budget):
        """fn(*args) with its line events counted; with a `budget`, stopped past it: then
        the OVER_BUDGET reply (decided by the count, whatever the call did about it)."""
        counter[0] = 0
        PROGRESS.pack_into(progress, 0, 0)
        limit[:] = [budget, True] if budget is not None else [OPS_CAP, False]
        sys.settrace(tracer)
        try:
            result = fn(*args)
        except BaseException:
            if budget is not None and counter[0] >= budget:
                return True, None
            raise
        finally:
            sys.settrace(None)
        return budget is not None and counter[0] >= budget, result

    def resolve(ref):
        if ref == CHECK_REF:
            return contract["input_check"]
        return module[ref] if type(ref) is str else table[ref]

    # Profiling: the perf inputs arrive once as marshal blobs; each timed call is staged
    # first (decoded into fresh objects, so an in-place mutation never reaches the next
    # call), then run with nothing but a count and a digest sent back.
    perf_blobs, staged = [], [None, None]   # staged: [arguments, last result]

    def handle(msg):
        op = msg[0]
        if op == Op.PERF_RUN:
            _, ref, trace, want, budget = msg
            fn, copies = resolve(ref), staged[0]   # freed at the next stage, not in the window
            if trace:
                over, staged[1] = traced(fn, copies[0], budget)
                if over:
                    return (Reply.OVER_BUDGET, counter[0])
            elif len(copies) == 1:
                staged[1] = fn(*copies[0])
            else:   # a tiny call, timed over many fresh copies of its input at once
                results = staged[1] = []
                for args in copies:
                    results.append(fn(*args))
            if want == VALUE:
                return (Reply.OK, to_plain(staged[1], table), counter[0] if trace else None, None)
            digest = None
            if want == DIGEST:
                plain = marshal.dumps(to_plain(staged[1], []))
                digest = "%d:%08x" % (len(plain), zlib.crc32(plain))
            return (Reply.OK, None, counter[0] if trace else None, digest)
        if op == Op.PERF_STAGE:
            staged[:] = [None, None]   # the last call's objects are freed here, outside the window
            _, index, count = msg
            blob, wired = perf_blobs[index]
            staged[0] = [from_wire(marshal.loads(blob), table) if wired else marshal.loads(blob)
                         for _ in range(count)]
            return (Reply.OK, None, None)
        if op == Op.PERF_LOAD:
            perf_blobs[:] = msg[1]
            return (Reply.OK, len(perf_blobs), None)
        if op == Op.NOOP:
            return (Reply.OK, None, None)
        if op == Op.CALIBRATE:
            calibration_loop(msg[1])
            return (Reply.OK, None, None)
        if op == Op.CALL:
            _, ref, args, trace, budget = msg
            fn, args = resolve(ref), from_wire(args, table)
            if not trace:
                return (Reply.OK, to_plain(fn(*args), table), None)
            over, result = traced(fn, args, budget)
            if over:
                return (Reply.OVER_BUDGET, counter[0])
            return (Reply.OK, to_plain(result, table), counter[0])
        if op == Op.GETATTR:
            return (Reply.OK, to_plain(getattr(resolve(msg[1]), msg[2]), table), None)
        if op == Op.SETATTR:
            setattr(table[msg[1]], msg[2], from_wire(msg[3], table))
            return (Reply.OK, None, None)
        if op == Op.ITER:
            return (Reply.OK, to_plain(iter(table[msg[1]]), table), None)
        if op == Op.NEXT:
            try:
                return (Reply.OK, to_plain(next(table[msg[1]]), table), None)
            except StopIteration:
                return (Reply.STOP,)
        if op == Op.LEN:
            return (Reply.OK, len(table[msg[1]]), None)
        if op == Op.GETITEM:
            return (Reply.OK, to_plain(table[msg[1]][from_wire(msg[2], table)], table), None)
        if op == Op.STR:
            return (Reply.OK, str(table[msg[1]]), None)
        return (Reply.EXC, "RuntimeError", "unknown request")

    while True:
        raw = read_frame(req_fd)
        if raw is None:
            return
        msg = marshal.loads(raw)
        if msg[0] == Op.EXIT:
            return
        # CALLS streams one reply per call without waiting for more requests.
        batch = ([(Op.CALL, msg[1], args, budget is not None, budget) for args, budget in zip(msg[2], msg[3])]
                 if msg[0] == Op.CALLS else [msg])
        for one in batch:
            try:
                reply(handle(one))
            except SystemExit as exc:
                reply((Reply.EXIT, repr_short(exc.code)))
                return
            except MemoryError:
                table.clear()
                reply((Reply.EXC, "MemoryError", ""))
            except BaseException as exc:
                reply((Reply.EXC, type(exc).__name__, repr_short(exc)))


# ---------------------------------------------------------------- the tester (trusted)

class WorkerGone(Exception):
    """The candidate's process ended or broke the protocol."""


class Deadline(BaseException):
    """The execution's wall-clock limit passed (direct mode only). A BaseException, so
    that no handler for candidate failures swallows it."""


class CandidateException(Exception):
    """An exception of a non-builtin type raised by candidate code."""


class OverCpu(Exception):
    """A profiling pass used more than its CPU budget (`used`: the CPU seconds it used)."""

    def __init__(self, used):
        super().__init__("used %.3f s of CPU" % used)
        self.used = used


class CpuWatch:
    """A forked tester's wait while a profiling pass runs: block on the worker's pipe as
    usual, but stop the pass (OverCpu) once the candidate's process has used `budget_s` of
    CPU in it, read from the kernel. Set as the worker's waiter for one pass at a time."""

    def __init__(self, worker, budget_s):
        self.worker, self.budget_s, self.start = worker, budget_s, 0.0

    def begin(self):
        self.start = self.used(0.0)
        self.worker.waiter = self

    def end(self):
        self.worker.waiter = None

    def used(self, since):
        now = self.worker.cpu_seconds()
        if now is None:
            raise WorkerGone("cannot read the candidate's CPU clock")
        return now - since

    def wait(self, fd, events=selectors.EVENT_READ):
        readers, writers = ([fd], []) if events == selectors.EVENT_READ else ([], [fd])
        while True:
            ready = select.select(readers, writers, [], WATCH_POLL_S)
            if ready[0] or ready[1]:
                return
            used = self.used(self.start)
            if used > self.budget_s:
                raise OverCpu(used)


class Waiter:
    """Blocks until a descriptor is readable, meanwhile draining the candidate's stdout and
    stderr into capped tails, and enforcing the wall clock. Used when the zygote itself
    talks to the worker (direct mode); a forked tester blocks plainly instead, since the
    zygote above it watches the clock and the output."""

    def __init__(self, out_fd, err_fd, limit, deadline):
        self.tails = {out_fd: Tail(limit), err_fd: Tail(limit)}
        self.deadline = deadline
        self.sel = selectors.DefaultSelector()
        for f in self.tails:
            self.sel.register(f, selectors.EVENT_READ)

    def wait(self, fd, events=selectors.EVENT_READ):
        self.sel.register(fd, events)
        try:
            while True:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise Deadline()
                for key, _ in self.sel.select(remaining):
                    if key.fd == fd:
                        return
                    data = os.read(key.fd, 65536)
                    if data:
                        self.tails[key.fd].add(data)
                    else:
                        self.sel.unregister(key.fd)
        finally:
            self.sel.unregister(fd)


class Worker:
    """The trusted end of the pipes to the candidate's process."""

    def __init__(self, pid, req_fd, resp_fd, waiter, progress):
        self.pid, self.req_fd, self.resp_fd, self.waiter = pid, req_fd, resp_fd, waiter
        self.progress = progress
        self.clock = cpu_clock_of(pid)
        self.alive = True
        self.events = []
        self.last_size = 0
        self.meter = None   # a dict while the tests' own calls are being measured

    def receive(self):
        """The next reply as a validated plain tuple, or None if the worker is gone."""
        try:
            raw = read_frame(self.resp_fd, MAX_RESULT_BYTES, self.waiter)
        except OSError:
            raw = None
        if raw is None:
            self.alive = False
            return None
        self.last_size = len(raw)
        try:
            reply = marshal.loads(raw)
        except Exception:
            reply = None
        if type(reply) is not tuple or not reply or type(reply[0]) is not str or not check_plain(reply):
            self.alive = False
            self.events.append(Event.GARBLED_REPLY)
            return None
        return reply

    def send(self, msg):
        if not self.alive:
            raise WorkerGone("candidate process already ended")
        try:
            write_frame(self.req_fd, marshal.dumps(msg), self.waiter)
        except OSError:
            self.alive = False
            raise WorkerGone("candidate process ended before answering")

    def request(self, msg):
        self.send(msg)
        return self.reply()

    def reply(self):
        if not self.alive:
            raise WorkerGone("candidate process already ended")
        reply = self.receive()
        if reply is None:
            self.events.append(Event.ENDED_IN_CALL)
            raise WorkerGone("candidate process ended before answering")
        if reply[0] == Reply.EXIT:
            self.alive = False
            self.events.append(Event.EXIT_IN_CALL)
        return reply

    def cpu_seconds(self):
        try:
            return time.clock_gettime(self.clock)
        except OSError:
            return None

    def counted(self):
        """The line events of the traced call in flight, as far as the worker last wrote
        them (at most 1023 short; the candidate's own process writes it, like every count)."""
        return max(0, PROGRESS.unpack_from(self.progress, 0)[0])


def builtin_exception(name, message):
    cls = getattr(builtins, name, None) if type(name) is str else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return CandidateException("%s: %s" % (name, message))


class Remote:
    """A candidate-side object seen from the tester: callable, iterable, never equal to plain data."""

    __slots__ = ("_worker", "_ref", "_label")

    def __init__(self, worker, ref, label):
        self._worker, self._ref, self._label = worker, ref, label

    def _ask(self, *msg):
        return unwrap(self._worker, self._worker.request(msg))

    def __call__(self, *args):
        meter = self._worker.meter
        if meter is None:
            return self._ask(Op.CALL, self._ref, to_wire(args), False, None)
        # Profiling over the tests' own calls: count and time only the candidate's side.
        start = self._worker.cpu_seconds()
        reply = self._worker.request((Op.CALL, self._ref, to_wire(args), True, None))
        end = self._worker.cpu_seconds()
        if start is not None and end is not None:
            meter[PerfKey.CPU_S] += end - start
        if reply[0] == Reply.OK and type(reply[2]) is int:
            meter[PerfKey.OPS] += reply[2]
        meter[PerfKey.CALLS] += 1
        return unwrap(self._worker, reply)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask(Op.GETATTR, self._ref, name)

    def __setattr__(self, name, value):
        if name in Remote.__slots__:
            object.__setattr__(self, name, value)
        else:
            self._ask(Op.SETATTR, self._ref, name, to_wire(value))

    def __iter__(self):
        it = self._ask(Op.ITER, self._ref)
        return it if isinstance(it, Remote) else iter(it)

    def __next__(self):
        reply = self._worker.request((Op.NEXT, self._ref))
        if reply[0] == Reply.STOP:
            raise StopIteration
        return unwrap(self._worker, reply)

    def __len__(self):
        n = self._ask(Op.LEN, self._ref)
        if type(n) is not int:
            raise TypeError("len() of candidate object is not an int")
        return n

    def __getitem__(self, key):
        return self._ask(Op.GETITEM, self._ref, to_wire(key))

    def __str__(self):
        s = self._ask(Op.STR, self._ref)
        return s if type(s) is str else self._label

    def __repr__(self):
        return self._label


def to_wire(value):
    """Trusted side: arguments for the worker. Handles and builtins (types such as ``int``
    that tests pass as arguments) travel by reference."""
    if isinstance(value, Remote):
        return (HANDLE_TAG, value._ref)
    t = type(value)
    if t is type or t is type(len):
        name = getattr(value, "__name__", None)
        if getattr(builtins, name or "", None) is value:
            return (BUILTIN_TAG, name)
    if t in (list, tuple):
        return t(to_wire(v) for v in value)
    if t is dict:
        return {k: to_wire(v) for k, v in value.items()}
    return value


def unwrap(worker, reply):
    """A reply as the tests see it: plain data, a Remote, or a raised exception."""
    kind = reply[0]
    if kind == Reply.OK:
        return lift(worker, reply[1])
    if kind == Reply.EXC:
        if reply[1] == "MemoryError":
            worker.events.append(Event.MEMORY)
        raise builtin_exception(reply[1], reply[2] if len(reply) > 2 else "")
    if kind == Reply.EXIT:
        raise WorkerGone("candidate called exit (%s)" % (reply[1],))
    raise WorkerGone("unexpected reply %r" % (kind,))


def lift(worker, value):
    t = type(value)
    if t is tuple and len(value) == 5 and value[0] == HANDLE_TAG and type(value[1]) is int:
        return Remote(worker, value[1], "<%s object from candidate: %s>" % (value[2], value[3]))
    if t is list:
        return [lift(worker, v) for v in value]
    if t is tuple:
        return tuple(lift(worker, v) for v in value)
    if t is dict:
        return {k: lift(worker, v) for k, v in value.items()}
    return value


def describe(exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    return text if len(text) <= 500 else text[:500] + "..."


def set_limits(job):
    mem = job[JobKey.MEMORY_MB] << 20
    cpu = int(job[JobKey.CPU_S]) + 1
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu),
                       (resource.RLIMIT_NPROC, job[JobKey.NPROC]),
                       (resource.RLIMIT_FSIZE, job[JobKey.FSIZE_MB] << 20),
                       (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


def spawn_worker(job, stdio, waiter):
    """Fork the candidate's process. `stdio`: the (stdout, stderr) descriptors it gets; it
    keeps nothing else but its two pipe ends. It loads the candidate's code only once the
    first request arrives (see `release`), so whatever the tester does before that, such as
    reading the test scripts, happens while no candidate code runs."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    progress = mmap.mmap(-1, PROGRESS.size)   # anonymous and shared: it survives the fork
    pid = os.fork()
    if pid == 0:
        try:
            if not job[AS_INIT]:
                os.setpgid(0, 0)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(stdio[0], 1)
            os.dup2(stdio[1], 2)
            high_req, high_resp = fcntl.fcntl(req_r, fcntl.F_DUPFD, 100), fcntl.fcntl(resp_w, fcntl.F_DUPFD, 100)
            req, resp = os.dup2(high_req, 3), os.dup2(high_resp, 4)
            os.closerange(5, 4096)
            set_limits(job)
            worker_main(job[JobKey.CODE], job[JobKey.CHECK], req, resp, progress)
        finally:
            os._exit(0)
    os.close(req_r)
    os.close(resp_w)
    return Worker(pid, req_w, resp_r, waiter, progress)


def load_record(job, worker):
    """Let the worker load the candidate's code and read its reply; returns (record,
    candidate callable names)."""
    record = {RecordKey.LOAD: None, RecordKey.CALLS: [], RecordKey.SCRIPTS: [], RecordKey.EVENTS: []}
    entry = job[JobKey.ENTRY]
    try:
        write_frame(worker.req_fd, marshal.dumps((Op.LOAD,)), worker.waiter)
        reply = worker.receive()
    except OSError:
        reply = None
    names = []
    if reply is None:
        error = "candidate process ended while loading"
        record[RecordKey.EVENTS].append(Event.ENDED_AT_LOAD)
    elif reply[0] == Reply.LOADED and entry in reply[1]:
        error = None
        names = [n for n in reply[1] if type(n) is str]
    elif reply[0] == Reply.LOADED:
        error = "entry point %r is not defined or not callable" % entry
    elif reply[0] == Reply.EXIT:
        worker.alive = False
        error = "candidate called exit(%s) while loading" % (reply[1],)
        record[RecordKey.EVENTS].append(Event.EXIT_AT_LOAD)
    elif reply[0] == Reply.EXC and len(reply) > 1 and reply[1] == "MemoryError":
        error = "MemoryError while loading"
        record[RecordKey.EVENTS].append(Event.MEMORY)
    else:
        error = "%s: %s" % (reply[1], reply[2]) if len(reply) > 2 else "load failed"
    record[RecordKey.LOAD] = ({RecordKey.OK: True} if error is None
                              else {RecordKey.OK: False, RecordKey.ERROR: error})
    return record, names


def run_calls(job, worker, record):
    """The literal calls: only the arguments go in, plain results come out for the host.
    They go as one batch; the worker streams back one reply per call. A call with a budget
    (a differential test) is traced and stopped past that many line events."""
    if not job[JobKey.CALLS]:
        return
    budgets = job[JobKey.CALL_BUDGETS]
    try:
        worker.send((Op.CALLS, job[JobKey.ENTRY], [ast.literal_eval(src) for src in job[JobKey.CALLS]],
                     budgets))
    except WorkerGone as exc:
        record[RecordKey.CALLS].extend({CallKey.ERROR: str(exc)} for _ in job[JobKey.CALLS])
        return
    reported = 0
    for budget in budgets:
        try:
            reply = worker.reply()
            reported += worker.last_size
            if worker.last_size > MAX_CALL_RESULT_BYTES or reported > MAX_RECORD_RESULT_BYTES:
                record[RecordKey.CALLS].append({CallKey.ERROR: "result too large to report (%d bytes)" % worker.last_size})
            elif reply[0] == Reply.OVER_BUDGET and budget is not None:
                record[RecordKey.CALLS].append({CallKey.OVER_BUDGET: reply[1]})
            elif reply[0] == Reply.OK:
                value = reply[1]
                if type(value) is tuple and len(value) == 5 and value[0] == HANDLE_TAG:
                    truth = value[4] if type(value[4]) is bool else None
                    record[RecordKey.CALLS].append({CallKey.OPAQUE: value[3], CallKey.TYPE: value[2], CallKey.TRUTH: truth})
                else:
                    record[RecordKey.CALLS].append({CallKey.VALUE: encode_plain(value)})
            else:
                unwrap(worker, reply)
        except WorkerGone as exc:
            record[RecordKey.CALLS].append({CallKey.ERROR: str(exc)})
        except Exception as exc:
            record[RecordKey.CALLS].append({CallKey.ERROR: describe(exc)})


def run_scripts(job, worker, record, names):
    """The other tests, run here with proxies for the candidate's functions."""
    base = {"__name__": "__codealign_tests__", "__builtins__": builtins}
    for name in names:
        base[name] = Remote(worker, name, "<candidate function %s>" % name)
    setup_error = None
    try:
        exec(compile(job[JobKey.SETUP], "setup.py", "exec"), base)
    except BaseException as exc:
        setup_error = "trusted setup failed: " + describe(exc)
    proxy = Remote(worker, job[JobKey.ENTRY], "<candidate function %s>" % job[JobKey.ENTRY])
    base[job[JobKey.ENTRY]] = base["candidate"] = proxy
    for src in job[SCRIPTS]:
        if setup_error:
            record[RecordKey.SCRIPTS].append({ScriptKey.PASSED: False, ScriptKey.ERROR: setup_error})
            continue
        try:
            exec(compile(src, "tests.py", "exec"), dict(base))
            record[RecordKey.SCRIPTS].append({ScriptKey.PASSED: True})
        except AssertionError as exc:
            record[RecordKey.SCRIPTS].append({ScriptKey.PASSED: False, ScriptKey.ERROR: "AssertionError: %s" % str(exc)[:300]})
        except WorkerGone as exc:
            record[RecordKey.SCRIPTS].append({ScriptKey.PASSED: False, ScriptKey.ERROR: str(exc)})
        except BaseException as exc:
            record[RecordKey.SCRIPTS].append({ScriptKey.PASSED: False, ScriptKey.ERROR: describe(exc)})


def check_candidate(job, worker, emit):
    """Everything after the fork: load, calls, scripts, optional profile, exit. `emit` gets
    the record frame, the perf (or probe) frames and the final frame, in that order.

    ``measure_only`` jobs (a sample already known to pass) skip the tests and only
    profile; ``probe`` jobs time each perf input once and report it (perf-input synthesis).
    """
    record, names = load_record(job, worker)
    sources = job[JobKey.PERF] or job[JobKey.CALLS]
    if record[RecordKey.LOAD][RecordKey.OK] and job[JobKey.PROFILE] and not sources and job[SCRIPTS]:
        # No perf inputs and no literal calls: the workload is the test scripts' own calls.
        worker.meter = {PerfKey.OPS: 0, PerfKey.CPU_S: 0.0, PerfKey.CALLS: 0}
    if record[RecordKey.LOAD][RecordKey.OK] and not (job[JobKey.MEASURE_ONLY] and sources) and not job[JobKey.PROBE]:
        if not job[JobKey.MEASURE_ONLY]:
            run_calls(job, worker, record)
        if job[SCRIPTS]:
            run_scripts(job, worker, record, names)
    record[RecordKey.EVENTS].extend(worker.events)
    record[RecordKey.COMPLETE] = True
    emit(record)
    if job[JobKey.PROBE] and record[RecordKey.LOAD][RecordKey.OK] and worker.alive:
        probe(job, worker, emit)
    elif job[JobKey.PROFILE] and record[RecordKey.LOAD][RecordKey.OK] and worker.alive:
        try:
            figures = profile(job, worker)
        except Exception as exc:
            figures = {PerfKey.ERROR: "profiling failed: " + describe(exc)}
        emit({PerfKey.PERF: figures})
    emit(finish_worker(worker))


def load_perf_inputs(job, worker):
    """Evaluate the perf input sources once (trusted, here) and hand them to the worker as
    marshal blobs; returns their sizes in bytes."""
    ns = {"__name__": "__codealign_perf__", "__builtins__": builtins}
    exec(compile(job[JobKey.SETUP], "setup.py", "exec"), ns)
    sources = job[JobKey.PERF] or job[JobKey.CALLS]
    blobs = []
    for src in sources:
        value = eval(compile(src, "perf.py", "eval"), ns)
        try:   # plain data (the usual case) crosses as is, with no per-element conversion
            blobs.append((marshal.dumps(value), False))
        except ValueError:   # builtins passed as arguments (``int``, ``len``) travel by name
            blobs.append((marshal.dumps(to_wire(value)), True))
    unwrap(worker, worker.request((Op.PERF_LOAD, blobs)))
    return [len(blob) for blob, _ in blobs]


def timed_call(job, worker, index, trace=False, want="", copies=1, budget=None, ref=None):
    """Stage input `index` (`copies` fresh decodings of it), then run the entry point (or
    `ref`) on each; returns (reply, CPU seconds of the candidate's process over the calls
    alone, read from the kernel). An OVER_BUDGET reply is returned as it is."""
    unwrap(worker, worker.request((Op.PERF_STAGE, index, copies)))
    start = worker.cpu_seconds()
    reply = worker.request((Op.PERF_RUN, job[JobKey.ENTRY] if ref is None else ref, trace, want, budget))
    end = worker.cpu_seconds()
    if start is None or end is None:
        raise WorkerGone("cannot read the candidate's CPU clock")
    if reply[0] not in (Reply.OK, Reply.OVER_BUDGET):
        unwrap(worker, reply)
    return reply, end - start


def profile(job, worker):
    """Deterministic line-event count (one traced pass, each call stopped at OPS_CAP) and the
    candidate's CPU time per pass over the perf inputs (or else the literal calls):
    `repeats` untraced passes (fewer once they used REPEAT_BUDGET_S), each call timed alone
    (decoding its arguments is not in the window), less the round trip of an empty request;
    a call under TINY_CALL_S is timed over enough fresh copies of its input to fill that
    window, and divided. The fastest pass is the figure (a busy machine only ever adds time).

    Every pass runs under a CPU budget (PERF_BUDGET_S, `CpuWatch`): a candidate that uses
    more in one pass is stopped there (its process is killed) and its figures are a lower
    bound: the CPU that pass used and the line events counted by then."""
    if worker.meter is not None:
        m = worker.meter
        return {PerfKey.OPS: m[PerfKey.OPS], PerfKey.CPU_S: m[PerfKey.CPU_S],
                PerfKey.REPEATS: [m[PerfKey.CPU_S]], PerfKey.SOURCE: "tests",
                PerfKey.CALLS: m[PerfKey.CALLS]}
    try:
        sizes = load_perf_inputs(job, worker)
    except WorkerGone as exc:
        return {PerfKey.ERROR: str(exc)}
    except Exception as exc:
        return {PerfKey.ERROR: "perf input failed: " + describe(exc)}
    if not sizes:
        return {PerfKey.ERROR: "no perf inputs and no test calls to measure"}
    source = "perf" if job[JobKey.PERF] else "calls"
    watch = CpuWatch(worker, job[JobKey.PERF_BUDGET_S])
    ops, capped, counting = 0, False, False

    def watched(one_pass):
        watch.begin()
        try:
            return one_pass()
        finally:
            watch.end()

    def count():
        nonlocal ops, capped, counting
        counting = True
        for i in range(len(sizes)):
            reply, _ = timed_call(job, worker, i, trace=True, budget=OPS_CAP)
            if reply[0] == Reply.OVER_BUDGET:
                ops, capped = ops + reply[1], True
            elif type(reply[2]) is int:
                ops += reply[2]
            else:
                raise WorkerGone("the traced perf call gave no count")
        counting = False

    try:
        overhead = []
        for _ in range(3):
            start = worker.cpu_seconds()
            unwrap(worker, worker.request((Op.NOOP,)))
            overhead.append(worker.cpu_seconds() - start)
        base = min(overhead)
        op_s = line_event_s(worker, PROFILE_CALIBRATION_N, less=base)
        watched(count)
        spent = watched(lambda: [max(timed_call(job, worker, i)[1] - base, 1e-7) for i in range(len(sizes))])
        copies = [max(1, min(int(TINY_CALL_S / t) if t < TINY_CALL_S else 1, MAX_COPIES,
                             MAX_COPY_BYTES // max(size, 1))) for t, size in zip(spent, sizes)]
        times = []
        for _ in range(job[JobKey.REPEATS]):
            times.append(watched(lambda: sum(max(timed_call(job, worker, i, copies=n)[1] - base, 0.0) / n
                                             for i, n in enumerate(copies))))
            if sum(times) > REPEAT_BUDGET_S:   # a slow candidate is clearly slow already
                break
    except OverCpu as stop:
        try:
            os.kill(worker.pid, signal.SIGKILL)   # it is mid-call: there is no other way to stop it
        except ProcessLookupError:
            pass
        worker.alive = False
        if counting:   # stopped inside a traced call: what it had counted so far
            ops += worker.counted()
        return {PerfKey.LOWER_BOUND: True, PerfKey.CPU_S: stop.used, PerfKey.OPS: ops,
                PerfKey.OPS_CAPPED: capped, PerfKey.BUDGET_S: job[JobKey.PERF_BUDGET_S],
                PerfKey.SOURCE: source}
    except WorkerGone as exc:
        return {PerfKey.ERROR: str(exc)}
    except Exception as exc:
        return {PerfKey.ERROR: "perf call raised " + describe(exc)}
    times.sort()
    return {PerfKey.OPS: ops, PerfKey.OPS_CAPPED: capped, PerfKey.CPU_S: times[0],
            PerfKey.MEDIAN_S: times[len(times) // 2], PerfKey.REPEATS: times,
            PerfKey.OVERHEAD_S: base, PerfKey.OP_S: op_s, PerfKey.COPIES: copies,
            PerfKey.SOURCE: source}


def line_event_s(worker, n, less=0.0):
    """CPU seconds per line event of `calibration_loop(n)` in the worker, now; `less`: the
    round trip of an empty request, taken off the reading."""
    start = worker.cpu_seconds()
    unwrap(worker, worker.request((Op.CALIBRATE, n)))
    return max(worker.cpu_seconds() - start - less, 1e-9) / (2 * n + 2)


def probe(job, worker, emit):
    """Input synthesis: run the entry point once on each candidate input, in order, traced
    and stopped past the operation budget (a machine-independent limit), and report the
    count and a digest of the result, or the result itself (PROBE_VALUES). With an input
    contract (CHECK), an input it does not accept is not run. Inputs of a group come
    smallest first; once one runs past the budget (or fails), the larger ones of its group
    are skipped.

    A probe for digests (perf inputs) also times each call untraced, and first times
    `calibration_loop` (OP_S: CPU seconds per line event here): work the count cannot see,
    inside C builtins, is bounded in this machine's own line events (PROBE_WORK_FACTOR
    budgets' worth), so a faster machine keeps the same inputs."""
    try:
        n = len(load_perf_inputs(job, worker))
        op_s = None
        if not job[JobKey.PROBE_VALUES]:
            op_s = line_event_s(worker, CALIBRATION_N)
            emit({ProbeKey.OP_S: op_s})
    except Exception as exc:
        emit({ProbeKey.PROBE_ERROR: describe(exc)})
        return
    dead, reported = set(), 0
    want = VALUE if job[JobKey.PROBE_VALUES] else DIGEST
    for i in range(n):
        group = job[JobKey.PROBE_GROUPS][i]
        if group in dead:
            continue
        try:
            if job[JobKey.CHECK]:
                reply, _ = timed_call(job, worker, i, want=VALUE, ref=CHECK_REF)
                if reply[1] is not True:
                    emit({ProbeKey.PROBE: i, ProbeKey.OK: False, ProbeKey.REJECTED: True})
                    continue
            reply, _ = timed_call(job, worker, i, trace=True, want=want,
                                  budget=job[JobKey.PROBE_BUDGET_OPS])
            reported += worker.last_size
            if reply[0] == Reply.OVER_BUDGET:
                frame = {ProbeKey.PROBE: i, ProbeKey.OK: False, ProbeKey.OVER_BUDGET: True,
                         ProbeKey.OPS: reply[1]}
            elif want == VALUE and (worker.last_size > MAX_CALL_RESULT_BYTES
                                    or reported > MAX_RECORD_RESULT_BYTES):
                frame = {ProbeKey.PROBE: i, ProbeKey.OK: False,
                         ProbeKey.ERROR: "result too large to report (%d bytes)" % worker.last_size}
            elif want == VALUE:
                value = reply[1]
                if type(value) is tuple and len(value) == 5 and value[0] == HANDLE_TAG:
                    frame = {ProbeKey.PROBE: i, ProbeKey.OK: False,
                             ProbeKey.ERROR: "returned a non-plain %s object" % value[2]}
                else:
                    frame = {ProbeKey.PROBE: i, ProbeKey.OK: True, ProbeKey.OPS: reply[2],
                             ProbeKey.VALUE: encode_plain(value)}
            else:
                _, cpu = timed_call(job, worker, i)
                frame = {ProbeKey.PROBE: i, ProbeKey.OK: True, ProbeKey.OPS: reply[2],
                         ProbeKey.DIGEST: reply[3], ProbeKey.CPU_S: cpu}
                if cpu > job[JobKey.PROBE_BUDGET_OPS] * job[JobKey.PROBE_WORK_FACTOR] * op_s:
                    dead.add(group)   # the larger ones of its group would cost more still
        except WorkerGone as exc:
            emit({ProbeKey.PROBE: i, ProbeKey.OK: False, ProbeKey.ERROR: str(exc)})
            return
        except Exception as exc:
            frame = {ProbeKey.PROBE: i, ProbeKey.OK: False, ProbeKey.ERROR: describe(exc)}
        emit(frame)
        if not frame[ProbeKey.OK]:
            dead.add(group)


def finish_worker(worker):
    """Ask the worker to exit, reap it, and return its exit and kernel accounting."""
    if worker.alive:
        try:
            write_frame(worker.req_fd, marshal.dumps((Op.EXIT,)), worker.waiter)
        except OSError:
            pass
    for f in (worker.req_fd, worker.resp_fd):
        try:
            os.close(f)
        except OSError:
            pass
    if worker.waiter is not None:
        # Wait for the exit within the deadline: a candidate may refuse to die.
        pidfd = os.pidfd_open(worker.pid)
        try:
            worker.waiter.wait(pidfd)
        finally:
            os.close(pidfd)
    _, status, usage = os.wait4(worker.pid, 0)
    final = {FinalKey.FINAL: True, FinalKey.CPU_S: usage.ru_utime + usage.ru_stime,
             FinalKey.PEAK_KB: usage.ru_maxrss}
    if os.WIFSIGNALED(status):
        final[FinalKey.SIGNAL] = os.WTERMSIG(status)
    else:
        final[FinalKey.EXIT] = os.WEXITSTATUS(status)
    return final


# ---------------------------------------------------------------- the zygote (trusted, PID 1)

def wipe(path):
    """Remove everything under `path` (not `path` itself)."""
    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        full = os.path.join(path, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                try:
                    os.chmod(full, 0o700)
                except OSError:
                    pass
                wipe(full)
                os.rmdir(full)
            else:
                os.unlink(full)
        except OSError:
            pass


def clear_ipc():
    """Remove every System V shared memory segment, semaphore set and message queue of
    our IPC namespace (only called as PID 1 of our own namespaces), so no run leaves data
    for the next. POSIX message queues live in /dev/mqueue, wiped like the tmpfs."""
    ipc_rmid = 0
    for kind, ctl in (("shm", _libc.shmctl), ("msg", _libc.msgctl), ("sem", _libc.semctl)):
        try:
            with open("/proc/sysvipc/" + kind) as table:
                ids = [int(line.split()[1]) for line in table.readlines()[1:] if line.strip()]
        except OSError:
            continue
        for ident in ids:
            if kind == "sem":
                ctl(ident, 0, ipc_rmid, None)
            else:
                ctl(ident, ipc_rmid, None)


def kill_everyone(group):
    """SIGKILL every process in the namespace but us, and reap them all.

    Only as PID 1 of our own namespace is kill(-1) confined to the sandbox; outside one
    (the unsafe backend) only the run's process group `group` is killed.
    """
    target = -1 if os.getpid() == 1 else -group
    while True:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


class Tail:
    """Keeps the last `limit` bytes of a stream and counts the rest."""

    def __init__(self, limit):
        self.limit, self.buf, self.total = limit, bytearray(), 0

    def add(self, data):
        self.total += len(data)
        self.buf += data
        if len(self.buf) > 2 * self.limit:
            del self.buf[:-self.limit]

    def text(self):
        return bytes(self.buf[-self.limit:]).decode("utf-8", "replace")


def run_direct(job, out_w, err_w, waiter):
    """Calls-only jobs: the zygote itself is the tester (one fork instead of two). Nothing
    here touches the zygote's state but the record it builds."""
    frames = []
    worker = spawn_worker(job, (out_w, err_w), waiter)
    os.close(out_w)
    os.close(err_w)
    try:
        check_candidate(job, worker, frames.append)
        tester = {TesterKey.EXIT: 0}
        hit_deadline = False
    except Deadline:
        tester, hit_deadline = {TesterKey.KILLED_BY_US: True}, True
    return frames, tester, hit_deadline, worker.pid


def run_forked(job, out_w, err_w, waiter):
    """Jobs with scripts or profiling: a forked tester runs them, so the trusted test code
    never leaves state behind in the zygote."""
    out_r, err_r = list(waiter.tails)
    rec_r, rec_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if not job[AS_INIT]:
                os.setpgid(0, 0)
            os.close(rec_r)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            sys.setrecursionlimit(10000)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            high_rec = fcntl.fcntl(rec_w, fcntl.F_DUPFD, 100)
            high_host = fcntl.fcntl(job[HOST_IN], fcntl.F_DUPFD, 100)
            rec = os.dup2(high_rec, 3)
            host = os.dup2(high_host, 4) if job[JobKey.HAS_SECRETS] else None
            os.closerange(5 if host else 4, 4096)
            worker = spawn_worker(job, (1, 2), None)
            emit = lambda frame: write_frame(rec, json.dumps(frame).encode())  # noqa: E731
            if host is not None:
                raw = read_frame(host)
                os.close(host)
                if raw is None:
                    return
                job[SCRIPTS] = json.loads(raw)[SecretsKey.SCRIPTS]
                emit({SECRETS_READ: True})
            check_candidate(job, worker, emit)
        finally:
            os._exit(0)
    for f in (rec_w, out_w, err_w):
        os.close(f)
    frames, buf = [], bytearray()
    hit_deadline = False
    try:
        while True:
            waiter.wait(rec_r)
            data = os.read(rec_r, 65536)
            if not data:
                break
            buf += data
            while len(buf) >= FRAME.size:
                (n,) = FRAME.unpack(buf[:FRAME.size])
                if len(buf) < FRAME.size + n:
                    break
                frames.append(json.loads(bytes(buf[FRAME.size:FRAME.size + n])))
                del buf[:FRAME.size + n]
                if len(frames) == 1 and job[JobKey.PROFILE]:
                    waiter.deadline = time.monotonic() + job[JobKey.PERF_TIMEOUT_S]
    except Deadline:
        hit_deadline = True
    os.close(rec_r)
    if hit_deadline:
        tester = {TesterKey.KILLED_BY_US: True}
    else:
        _, status, _ = os.wait4(pid, 0)
        tester = ({TesterKey.SIGNAL: os.WTERMSIG(status)} if os.WIFSIGNALED(status)
                  else {TesterKey.EXIT: os.WEXITSTATUS(status)})
    return frames, tester, hit_deadline, pid


def run_job(job):
    work = job[JobKey.WORK_DIR]
    job[AS_INIT] = os.getpid() == 1
    # Every run ends by wiping these (below), and a fresh sandbox starts with them empty.
    scratch = [work] + (["/dev/shm", "/var/tmp", "/dev/mqueue"] if job[AS_INIT] else [])
    os.chdir(work)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    waiter = Waiter(out_r, err_r, job[JobKey.OUTPUT_LIMIT], start + job[JobKey.TIMEOUT_S])
    job[SCRIPTS] = []   # they reach the tester only; see run_forked
    forked = bool(job[JobKey.HAS_SECRETS] or job[JobKey.PROFILE])
    frames, tester, hit_deadline, group = (run_forked if forked else run_direct)(job, out_w, err_w, waiter)
    wall = time.monotonic() - start
    kill_everyone(group)
    # Every writer is dead now, so these reads end at EOF.
    for fd, tail in waiter.tails.items():
        data = os.read(fd, 65536)
        while data:
            tail.add(data)
            data = os.read(fd, 65536)
        os.close(fd)
    waiter.sel.close()
    for path in scratch:
        wipe(path)
    if job[AS_INIT]:
        clear_ipc()
    if job[JobKey.HAS_SECRETS] and not any(f.get(SECRETS_READ) for f in frames):
        # The tester died before taking its frame off our link: we can no longer tell
        # where the next job starts. Say so; the host starts a fresh sandbox.
        return {ResponseKey.FAULT: "desync: the tester did not read the test scripts", ResponseKey.DESYNC: True}
    frames = [f for f in frames if SECRETS_READ not in f]
    complete = bool(frames) and frames[0].get(RecordKey.COMPLETE) is True
    out, err = waiter.tails[out_r], waiter.tails[err_r]
    return {ResponseKey.FRAMES: frames, ResponseKey.TESTER: tester,
            ResponseKey.TIMED_OUT: hit_deadline and not complete,
            ResponseKey.PERF_TIMED_OUT: hit_deadline and complete, ResponseKey.WALL_S: wall,
            ResponseKey.STDOUT: out.text(), ResponseKey.STDERR: err.text(),
            ResponseKey.STDOUT_BYTES: out.total, ResponseKey.STDERR_BYTES: err.total}


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    make_undumpable()
    host_in = os.dup(0)
    host_out = os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    for f in (0, 1):
        os.dup2(devnull, f)
    # Everything imported so far is shared with every fork: keep the collector off it, so
    # children don't copy those pages by touching them.
    gc.collect()
    gc.freeze()
    write_frame(host_out, json.dumps({HelloKey.READY: True, HelloKey.PYTHON: sys.version.split()[0]}).encode())
    while True:
        raw = read_frame(host_in)
        if raw is None:
            return
        job = json.loads(raw)
        job[HOST_IN] = host_in
        try:
            response = run_job(job)
        except Exception as exc:   # our own fault: say so, the host restarts us
            response = {ResponseKey.FAULT: describe(exc)}
        write_frame(host_out, json.dumps(response).encode())
        if response.get(ResponseKey.DESYNC):
            return


if __name__ == "__main__":
    main()
