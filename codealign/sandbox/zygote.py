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
import os
import resource
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
PIPE_CHUNK = 4096   # a pipe reported writable takes at least this much without blocking


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
    """Plain data (already validated) to tagged JSON for the host."""
    if depth > 200:
        raise ValueError("result nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if abs(value) < (1 << 63) else {"i": format(value, "x")}
    if t is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"f": repr(value)}
    if t is list:
        return [encode_plain(v, depth + 1) for v in value]
    if t is tuple:
        return {"t": [encode_plain(v, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[encode_plain(k, depth + 1), encode_plain(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "fs": [encode_plain(v, depth + 1) for v in value]}
    if t is bytes:
        return {"b": base64.b64encode(value).decode()}
    if t is complex:
        return {"c": [repr(value.real), repr(value.imag)]}
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


def worker_main(code, req_fd, resp_fd):
    """Load the candidate module, then serve call requests until told to exit."""
    def reply(msg):
        try:
            data = marshal.dumps(msg)
        except (ValueError, TypeError) as exc:
            data = marshal.dumps(("exc", "TypeError", "unsendable result: %s" % exc))
        write_frame(resp_fd, data)

    if read_frame(req_fd) is None:    # the tester's go-ahead
        return
    module = {"__name__": "candidate", "__builtins__": builtins}
    try:
        compiled = compile(code, "candidate.py", "exec")
        exec(compiled, module)
    except SystemExit as exc:
        reply(("exit", repr_short(exc.code)))
        return
    except MemoryError:
        reply(("exc", "MemoryError", "while loading the module"))
        return
    except BaseException as exc:
        reply(("load-error", type(exc).__name__, repr_short(exc)))
        return
    names = [k for k, v in list(module.items()) if callable(v) and not k.startswith("__")]
    reply(("loaded", names))
    table, counter = [], [0]

    def tracer(frame, event, arg):
        """Global trace function: trace line events in the candidate's own frames only."""
        return count_lines if frame.f_code.co_filename == "candidate.py" else None

    def count_lines(frame, event, arg):
        if event == "line":
            counter[0] += 1
            if counter[0] >= OPS_CAP:   # enough to rank it: the rest runs untraced
                sys.settrace(None)
                return None
        return count_lines

    def resolve(ref):
        return module[ref] if type(ref) is str else table[ref]

    # Profiling: the perf inputs arrive once as marshal blobs; each timed call is staged
    # first (decoded into fresh objects, so an in-place mutation never reaches the next
    # call), then run with nothing but a count and a digest sent back.
    perf_blobs, staged = [], [None, None]   # staged: [arguments, last result]

    def handle(msg):
        op = msg[0]
        if op == "perf-run":
            _, ref, trace, want_digest = msg
            fn, copies = resolve(ref), staged[0]   # freed at the next stage, not in the window
            if trace:
                counter[0] = 0
                sys.settrace(tracer)
                try:
                    staged[1] = fn(*copies[0])
                finally:
                    sys.settrace(None)
            elif len(copies) == 1:
                staged[1] = fn(*copies[0])
            else:   # a tiny call, timed over many fresh copies of its input at once
                results = staged[1] = []
                for args in copies:
                    results.append(fn(*args))
            digest = None
            if want_digest:
                plain = marshal.dumps(to_plain(staged[1], []))
                digest = "%d:%08x" % (len(plain), zlib.crc32(plain))
            return ("ok", None, counter[0] if trace else None, digest)
        if op == "perf-stage":
            staged[:] = [None, None]   # the last call's objects are freed here, outside the window
            _, index, count = msg
            blob, wired = perf_blobs[index]
            staged[0] = [from_wire(marshal.loads(blob), table) if wired else marshal.loads(blob)
                         for _ in range(count)]
            return ("ok", None, None)
        if op == "perf-load":
            perf_blobs[:] = msg[1]
            return ("ok", len(perf_blobs), None)
        if op == "noop":
            return ("ok", None, None)
        if op == "call":
            _, ref, args, trace = msg
            fn, args = resolve(ref), from_wire(args, table)
            if not trace:
                return ("ok", to_plain(fn(*args), table), None)
            counter[0] = 0
            sys.settrace(tracer)
            try:
                result = fn(*args)
            finally:
                sys.settrace(None)
            return ("ok", to_plain(result, table), counter[0])
        if op == "getattr":
            return ("ok", to_plain(getattr(resolve(msg[1]), msg[2]), table), None)
        if op == "setattr":
            setattr(table[msg[1]], msg[2], from_wire(msg[3], table))
            return ("ok", None, None)
        if op == "iter":
            return ("ok", to_plain(iter(table[msg[1]]), table), None)
        if op == "next":
            try:
                return ("ok", to_plain(next(table[msg[1]]), table), None)
            except StopIteration:
                return ("stop",)
        if op == "len":
            return ("ok", len(table[msg[1]]), None)
        if op == "getitem":
            return ("ok", to_plain(table[msg[1]][from_wire(msg[2], table)], table), None)
        if op == "str":
            return ("ok", str(table[msg[1]]), None)
        return ("exc", "RuntimeError", "unknown request")

    while True:
        raw = read_frame(req_fd)
        if raw is None:
            return
        msg = marshal.loads(raw)
        if msg[0] == "exit":
            return
        # "calls" streams one reply per call without waiting for more requests.
        batch = [("call", msg[1], args, False) for args in msg[2]] if msg[0] == "calls" else [msg]
        for one in batch:
            try:
                reply(handle(one))
            except SystemExit as exc:
                reply(("exit", repr_short(exc.code)))
                return
            except MemoryError:
                table.clear()
                reply(("exc", "MemoryError", ""))
            except BaseException as exc:
                reply(("exc", type(exc).__name__, repr_short(exc)))


# ---------------------------------------------------------------- the tester (trusted)

class WorkerGone(Exception):
    """The candidate's process ended or broke the protocol."""


class Deadline(BaseException):
    """The execution's wall-clock limit passed (direct mode only). A BaseException, so
    that no handler for candidate failures swallows it."""


class CandidateException(Exception):
    """An exception of a non-builtin type raised by candidate code."""


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

    def __init__(self, pid, req_fd, resp_fd, waiter):
        self.pid, self.req_fd, self.resp_fd, self.waiter = pid, req_fd, resp_fd, waiter
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
            self.events.append("garbled-reply")
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
            self.events.append("ended-in-call")
            raise WorkerGone("candidate process ended before answering")
        if reply[0] == "exit":
            self.alive = False
            self.events.append("exit-in-call")
        return reply

    def cpu_seconds(self):
        try:
            return time.clock_gettime(self.clock)
        except OSError:
            return None


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
            return self._ask("call", self._ref, to_wire(args), False)
        # Profiling over the tests' own calls: count and time only the candidate's side.
        start = self._worker.cpu_seconds()
        reply = self._worker.request(("call", self._ref, to_wire(args), True))
        end = self._worker.cpu_seconds()
        if start is not None and end is not None:
            meter["cpu_s"] += end - start
        if reply[0] == "ok" and type(reply[2]) is int:
            meter["ops"] += reply[2]
        meter["calls"] += 1
        return unwrap(self._worker, reply)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", self._ref, name)

    def __setattr__(self, name, value):
        if name in Remote.__slots__:
            object.__setattr__(self, name, value)
        else:
            self._ask("setattr", self._ref, name, to_wire(value))

    def __iter__(self):
        it = self._ask("iter", self._ref)
        return it if isinstance(it, Remote) else iter(it)

    def __next__(self):
        reply = self._worker.request(("next", self._ref))
        if reply[0] == "stop":
            raise StopIteration
        return unwrap(self._worker, reply)

    def __len__(self):
        n = self._ask("len", self._ref)
        if type(n) is not int:
            raise TypeError("len() of candidate object is not an int")
        return n

    def __getitem__(self, key):
        return self._ask("getitem", self._ref, to_wire(key))

    def __str__(self):
        s = self._ask("str", self._ref)
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
    if kind == "ok":
        return lift(worker, reply[1])
    if kind == "exc":
        if reply[1] == "MemoryError":
            worker.events.append("memory")
        raise builtin_exception(reply[1], reply[2] if len(reply) > 2 else "")
    if kind == "exit":
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
    mem = job["memory_mb"] << 20
    cpu = int(job["cpu_s"]) + 1
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu),
                       (resource.RLIMIT_NPROC, job["nproc"]),
                       (resource.RLIMIT_FSIZE, job["fsize_mb"] << 20),
                       (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


def spawn_worker(job, stdio, waiter):
    """Fork the candidate's process. `stdio`: the (stdout, stderr) descriptors it gets; it
    keeps nothing else but its two pipe ends. It loads the candidate's code only once the
    first request arrives (see `release`), so whatever the tester does before that, such as
    reading the test scripts, happens while no candidate code runs."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if not job["as_init"]:
                os.setpgid(0, 0)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(stdio[0], 1)
            os.dup2(stdio[1], 2)
            high_req, high_resp = fcntl.fcntl(req_r, fcntl.F_DUPFD, 100), fcntl.fcntl(resp_w, fcntl.F_DUPFD, 100)
            req, resp = os.dup2(high_req, 3), os.dup2(high_resp, 4)
            os.closerange(5, 4096)
            set_limits(job)
            worker_main(job["code"], req, resp)
        finally:
            os._exit(0)
    os.close(req_r)
    os.close(resp_w)
    return Worker(pid, req_w, resp_r, waiter)


def load_record(job, worker):
    """Let the worker load the candidate's code and read its reply; returns (record,
    candidate callable names)."""
    record = {"load": None, "calls": [], "scripts": [], "events": []}
    entry = job["entry"]
    try:
        write_frame(worker.req_fd, marshal.dumps(("load",)), worker.waiter)
        reply = worker.receive()
    except OSError:
        reply = None
    names = []
    if reply is None:
        record["load"] = {"ok": False, "error": "candidate process ended while loading"}
        record["events"].append("ended-at-load")
    elif reply[0] == "loaded" and entry in reply[1]:
        record["load"] = {"ok": True}
        names = [n for n in reply[1] if type(n) is str]
    elif reply[0] == "loaded":
        record["load"] = {"ok": False, "error": "entry point %r is not defined or not callable" % entry}
    elif reply[0] == "exit":
        worker.alive = False
        record["load"] = {"ok": False, "error": "candidate called exit(%s) while loading" % (reply[1],)}
        record["events"].append("exit-at-load")
    elif reply[0] == "exc" and len(reply) > 1 and reply[1] == "MemoryError":
        record["load"] = {"ok": False, "error": "MemoryError while loading"}
        record["events"].append("memory")
    else:
        record["load"] = {"ok": False, "error": "%s: %s" % (reply[1], reply[2]) if len(reply) > 2 else "load failed"}
    return record, names


def run_calls(job, worker, record):
    """The literal calls: only the arguments go in, plain results come out for the host.
    They go as one batch; the worker streams back one reply per call."""
    if not job["calls"]:
        return
    try:
        worker.send(("calls", job["entry"], [ast.literal_eval(src) for src in job["calls"]]))
    except WorkerGone as exc:
        record["calls"].extend({"error": str(exc)} for _ in job["calls"])
        return
    reported = 0
    for _ in job["calls"]:
        try:
            reply = worker.reply()
            reported += worker.last_size
            if worker.last_size > MAX_CALL_RESULT_BYTES or reported > MAX_RECORD_RESULT_BYTES:
                record["calls"].append({"error": "result too large to report (%d bytes)" % worker.last_size})
            elif reply[0] == "ok":
                value = reply[1]
                if type(value) is tuple and len(value) == 5 and value[0] == HANDLE_TAG:
                    truth = value[4] if type(value[4]) is bool else None
                    record["calls"].append({"opaque": value[3], "type": value[2], "truth": truth})
                else:
                    record["calls"].append({"value": encode_plain(value)})
            else:
                unwrap(worker, reply)
        except WorkerGone as exc:
            record["calls"].append({"error": str(exc)})
        except Exception as exc:
            record["calls"].append({"error": describe(exc)})


def run_scripts(job, worker, record, names):
    """The other tests, run here with proxies for the candidate's functions."""
    base = {"__name__": "__codealign_tests__", "__builtins__": builtins}
    for name in names:
        base[name] = Remote(worker, name, "<candidate function %s>" % name)
    setup_error = None
    try:
        exec(compile(job["setup"], "setup.py", "exec"), base)
    except BaseException as exc:
        setup_error = "trusted setup failed: " + describe(exc)
    proxy = Remote(worker, job["entry"], "<candidate function %s>" % job["entry"])
    base[job["entry"]] = base["candidate"] = proxy
    for src in job["scripts"]:
        if setup_error:
            record["scripts"].append({"passed": False, "error": setup_error})
            continue
        try:
            exec(compile(src, "tests.py", "exec"), dict(base))
            record["scripts"].append({"passed": True})
        except AssertionError as exc:
            record["scripts"].append({"passed": False, "error": "AssertionError: %s" % str(exc)[:300]})
        except WorkerGone as exc:
            record["scripts"].append({"passed": False, "error": str(exc)})
        except BaseException as exc:
            record["scripts"].append({"passed": False, "error": describe(exc)})


def check_candidate(job, worker, emit):
    """Everything after the fork: load, calls, scripts, optional profile, exit. `emit` gets
    the record frame, the perf (or probe) frames and the final frame, in that order.

    ``measure_only`` jobs (a sample already known to pass) skip the tests and only
    profile; ``probe`` jobs time each perf input once and report it (perf-input synthesis).
    """
    record, names = load_record(job, worker)
    sources = job["perf"] or job["calls"]
    if record["load"]["ok"] and job["profile"] and not sources and job["scripts"]:
        # No perf inputs and no literal calls: the workload is the test scripts' own calls.
        worker.meter = {"ops": 0, "cpu_s": 0.0, "calls": 0}
    if record["load"]["ok"] and not (job["measure_only"] and sources) and not job["probe"]:
        if not job["measure_only"]:
            run_calls(job, worker, record)
        if job["scripts"]:
            run_scripts(job, worker, record, names)
    record["events"].extend(worker.events)
    record["complete"] = True
    emit(record)
    if job["probe"] and record["load"]["ok"] and worker.alive:
        probe(job, worker, emit)
    elif job["profile"] and record["load"]["ok"] and worker.alive:
        try:
            figures = profile(job, worker)
        except Exception as exc:
            figures = {"error": "profiling failed: " + describe(exc)}
        emit({"perf": figures})
    emit(finish_worker(worker))


def load_perf_inputs(job, worker):
    """Evaluate the perf input sources once (trusted, here) and hand them to the worker as
    marshal blobs; returns their sizes in bytes."""
    ns = {"__name__": "__codealign_perf__", "__builtins__": builtins}
    exec(compile(job["setup"], "setup.py", "exec"), ns)
    sources = job["perf"] or job["calls"]
    blobs = []
    for src in sources:
        value = eval(compile(src, "perf.py", "eval"), ns)
        try:   # plain data (the usual case) crosses as is, with no per-element conversion
            blobs.append((marshal.dumps(value), False))
        except ValueError:   # builtins passed as arguments (``int``, ``len``) travel by name
            blobs.append((marshal.dumps(to_wire(value)), True))
    unwrap(worker, worker.request(("perf-load", blobs)))
    return [len(blob) for blob, _ in blobs]


def timed_call(job, worker, index, trace=False, digest=False, copies=1):
    """Stage input `index` (`copies` fresh decodings of it), then run the entry point on
    each; returns (reply, CPU seconds of the candidate's process over the calls alone,
    read from the kernel)."""
    unwrap(worker, worker.request(("perf-stage", index, copies)))
    start = worker.cpu_seconds()
    reply = worker.request(("perf-run", job["entry"], trace, digest))
    end = worker.cpu_seconds()
    if start is None or end is None:
        raise WorkerGone("cannot read the candidate's CPU clock")
    if reply[0] != "ok":
        unwrap(worker, reply)
    return reply, end - start


def profile(job, worker):
    """Deterministic line-event count (one traced pass) and the candidate's CPU time per
    pass over the perf inputs (or else the literal calls): `repeats` untraced passes (fewer
    once they used REPEAT_BUDGET_S), each call timed alone (decoding its arguments is not in
    the window), less the round trip of an empty request; a call under TINY_CALL_S is timed
    over enough fresh copies of its input to fill that window, and divided. The fastest
    pass is the figure (a busy machine only ever adds time)."""
    if worker.meter is not None:
        m = worker.meter
        return {"ops": m["ops"], "cpu_s": m["cpu_s"], "repeats": [m["cpu_s"]],
                "source": "tests", "calls": m["calls"]}
    try:
        sizes = load_perf_inputs(job, worker)
    except WorkerGone as exc:
        return {"error": str(exc)}
    except Exception as exc:
        return {"error": "perf input failed: " + describe(exc)}
    if not sizes:
        return {"error": "no perf inputs and no test calls to measure"}
    try:
        overhead = []
        for _ in range(3):
            start = worker.cpu_seconds()
            unwrap(worker, worker.request(("noop",)))
            overhead.append(worker.cpu_seconds() - start)
        base = min(overhead)
        ops, copies = 0, []
        for i, size in enumerate(sizes):
            reply, spent = timed_call(job, worker, i, trace=True)
            if type(reply[2]) is not int:
                return {"error": "the traced perf call gave no count"}
            ops += reply[2]
            _, spent = timed_call(job, worker, i)
            spent = max(spent - base, 1e-7)
            fit = int(TINY_CALL_S / spent) if spent < TINY_CALL_S else 1
            copies.append(max(1, min(fit, MAX_COPIES, MAX_COPY_BYTES // max(size, 1))))
        times = []
        for _ in range(job["repeats"]):
            times.append(sum(max(timed_call(job, worker, i, copies=n)[1] - base, 0.0) / n
                             for i, n in enumerate(copies)))
            if sum(times) > REPEAT_BUDGET_S:   # a slow candidate is clearly slow already
                break
    except WorkerGone as exc:
        return {"error": str(exc)}
    except Exception as exc:
        return {"error": "perf call raised " + describe(exc)}
    times.sort()
    return {"ops": ops, "ops_capped": ops >= OPS_CAP, "cpu_s": times[0],
            "median_s": times[len(times) // 2], "repeats": times, "overhead_s": base,
            "copies": copies, "source": "perf" if job["perf"] else "calls"}


def probe(job, worker, emit):
    """Perf-input synthesis: time each candidate input once, in order, and report it with
    a digest of the result. Inputs of a group come smallest first; once one exceeds the
    budget (or fails), the larger ones of its group are skipped."""
    try:
        n = len(load_perf_inputs(job, worker))
    except Exception as exc:
        emit({"probe_error": describe(exc)})
        return
    dead = set()
    for i in range(n):
        group = job["probe_groups"][i]
        if group in dead:
            continue
        try:
            reply, cpu = timed_call(job, worker, i, digest=True)
            frame = {"probe": i, "ok": True, "cpu_s": cpu, "digest": reply[3]}
        except WorkerGone as exc:
            emit({"probe": i, "ok": False, "error": str(exc)})
            return
        except Exception as exc:
            frame = {"probe": i, "ok": False, "error": describe(exc)}
        emit(frame)
        if not frame["ok"] or frame["cpu_s"] > job["probe_budget_s"]:
            dead.add(group)


def finish_worker(worker):
    """Ask the worker to exit, reap it, and return its exit and kernel accounting."""
    if worker.alive:
        try:
            write_frame(worker.req_fd, marshal.dumps(("exit",)), worker.waiter)
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
    final = {"final": True, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_kb": usage.ru_maxrss}
    if os.WIFSIGNALED(status):
        final["signal"] = os.WTERMSIG(status)
    else:
        final["exit"] = os.WEXITSTATUS(status)
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
        tester = {"exit": 0}
        hit_deadline = False
    except Deadline:
        tester, hit_deadline = {"killed_by_us": True}, True
    return frames, tester, hit_deadline, worker.pid


def run_forked(job, out_w, err_w, waiter):
    """Jobs with scripts or profiling: a forked tester runs them, so the trusted test code
    never leaves state behind in the zygote."""
    out_r, err_r = list(waiter.tails)
    rec_r, rec_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if not job["as_init"]:
                os.setpgid(0, 0)
            os.close(rec_r)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            sys.setrecursionlimit(10000)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            high_rec = fcntl.fcntl(rec_w, fcntl.F_DUPFD, 100)
            high_host = fcntl.fcntl(job["host_in"], fcntl.F_DUPFD, 100)
            rec = os.dup2(high_rec, 3)
            host = os.dup2(high_host, 4) if job["has_secrets"] else None
            os.closerange(5 if host else 4, 4096)
            worker = spawn_worker(job, (1, 2), None)
            emit = lambda frame: write_frame(rec, json.dumps(frame).encode())  # noqa: E731
            if host is not None:
                raw = read_frame(host)
                os.close(host)
                if raw is None:
                    return
                job["scripts"] = json.loads(raw)["scripts"]
                emit({"secrets_read": True})
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
                if len(frames) == 1 and job["profile"]:
                    waiter.deadline = time.monotonic() + job["perf_timeout_s"]
    except Deadline:
        hit_deadline = True
    os.close(rec_r)
    if hit_deadline:
        tester = {"killed_by_us": True}
    else:
        _, status, _ = os.wait4(pid, 0)
        tester = ({"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status)
                  else {"exit": os.WEXITSTATUS(status)})
    return frames, tester, hit_deadline, pid


def run_job(job):
    work = job["work_dir"]
    job["as_init"] = os.getpid() == 1
    # Every run ends by wiping these (below), and a fresh sandbox starts with them empty.
    scratch = [work] + (["/dev/shm", "/var/tmp", "/dev/mqueue"] if job["as_init"] else [])
    os.chdir(work)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    waiter = Waiter(out_r, err_r, job["output_limit"], start + job["timeout_s"])
    job["scripts"] = []   # they reach the tester only; see run_forked
    forked = bool(job["has_secrets"] or job["profile"])
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
    if job["as_init"]:
        clear_ipc()
    if job["has_secrets"] and not any(f.get("secrets_read") for f in frames):
        # The tester died before taking its frame off our link: we can no longer tell
        # where the next job starts. Say so; the host starts a fresh sandbox.
        return {"fault": "desync: the tester did not read the test scripts", "desync": True}
    frames = [f for f in frames if "secrets_read" not in f]
    complete = bool(frames) and frames[0].get("complete") is True
    out, err = waiter.tails[out_r], waiter.tails[err_r]
    return {"frames": frames, "tester": tester, "timed_out": hit_deadline and not complete,
            "perf_timed_out": hit_deadline and complete, "wall_s": wall,
            "stdout": out.text(), "stderr": err.text(),
            "stdout_bytes": out.total, "stderr_bytes": err.total}


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
    write_frame(host_out, json.dumps({"ready": True, "python": sys.version.split()[0]}).encode())
    while True:
        raw = read_frame(host_in)
        if raw is None:
            return
        job = json.loads(raw)
        job["host_in"] = host_in
        try:
            response = run_job(job)
        except Exception as exc:   # our own fault: say so, the host restarts us
            response = {"fault": describe(exc)}
        write_frame(host_out, json.dumps(response).encode())
        if response.get("desync"):
            return


if __name__ == "__main__":
    main()
