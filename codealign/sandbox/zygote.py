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
import ctypes
import json
import marshal
import os
import resource
import selectors
import signal
import struct
import sys
import time

# Warm the modules candidates commonly import: the fork inherits them ready-made.
import bisect, collections, copy, datetime, decimal, fractions, functools, hashlib  # noqa: E401,F401
import heapq, itertools, math, operator, random, re, statistics, string, typing  # noqa: E401,F401
import base64, secrets, shlex, subprocess, tempfile, textwrap, unicodedata  # noqa: E401,F401

FRAME = struct.Struct(">I")
MAX_FRAME = 256 << 20
PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
MAX_RESULT_BYTES = 16 << 20
HANDLE_TAG = "__codealign_handle__"


# ---------------------------------------------------------------- framing and helpers

def read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, n - got)
        if not b:
            return None
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_frame(fd, limit=MAX_FRAME):
    head = read_exact(fd, FRAME.size)
    if head is None:
        return None
    (n,) = FRAME.unpack(head)
    if n > limit:
        return None
    return read_exact(fd, n)


def write_frame(fd, payload):
    data = FRAME.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
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
    return (HANDLE_TAG, len(table) - 1, t.__name__, repr_short(value))


def repr_short(value):
    try:
        r = repr(value)
    except BaseException:
        return "<unrepresentable>"
    return r if len(r) <= 200 else r[:200] + "..."


def from_wire(value, table):
    """Worker side: replace handle markers in arguments by the objects they name."""
    t = type(value)
    if t is tuple and len(value) == 2 and value[0] == HANDLE_TAG:
        return table[value[1]]
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
        if event == "line" and frame.f_code.co_filename == "candidate.py":
            counter[0] += 1
        return tracer

    while True:
        raw = read_frame(req_fd)
        if raw is None:
            return
        msg = marshal.loads(raw)
        op = msg[0]
        if op == "exit":
            return
        try:
            if op == "call":
                _, name, args, trace = msg
                fn = table[name] if type(name) is int else module[name]
                args = from_wire(args, table)
                if trace:
                    counter[0] = 0
                    sys.settrace(tracer)
                    try:
                        result = fn(*args)
                    finally:
                        sys.settrace(None)
                    reply(("ok", to_plain(result, table), counter[0]))
                else:
                    reply(("ok", to_plain(fn(*args), table), None))
            elif op == "getattr":
                reply(("ok", to_plain(getattr(table[msg[1]], msg[2]), table), None))
            elif op == "iter":
                reply(("ok", to_plain(iter(table[msg[1]]), table), None))
            elif op == "next":
                try:
                    reply(("ok", to_plain(next(table[msg[1]]), table), None))
                except StopIteration:
                    reply(("stop",))
            elif op == "len":
                reply(("ok", len(table[msg[1]]), None))
            elif op == "getitem":
                reply(("ok", to_plain(table[msg[1]][from_wire(msg[2], table)], table), None))
            elif op == "str":
                reply(("ok", str(table[msg[1]]), None))
            else:
                reply(("exc", "RuntimeError", "unknown request"))
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


class CandidateException(Exception):
    """An exception of a non-builtin type raised by candidate code."""


class Worker:
    """The tester's end of the pipes to the candidate's process."""

    def __init__(self, pid, req_fd, resp_fd):
        self.pid, self.req_fd, self.resp_fd = pid, req_fd, resp_fd
        self.clock = cpu_clock_of(pid)
        self.alive = True
        self.events = []

    def request(self, msg):
        if not self.alive:
            raise WorkerGone("candidate process already ended")
        try:
            write_frame(self.req_fd, marshal.dumps(msg))
            raw = read_frame(self.resp_fd, MAX_RESULT_BYTES)
        except OSError:
            raw = None
        if raw is None:
            self.alive = False
            raise WorkerGone("candidate process ended before answering")
        try:
            reply = marshal.loads(raw)
        except Exception:
            self.alive = False
            self.events.append("garbled-reply")
            raise WorkerGone("candidate process sent a garbled reply")
        if type(reply) is not tuple or not reply or type(reply[0]) is not str or not check_plain(reply):
            self.alive = False
            self.events.append("garbled-reply")
            raise WorkerGone("candidate process sent a malformed reply")
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
        reply = self._worker.request(msg)
        return unwrap(self._worker, reply)

    def __call__(self, *args):
        return self._ask("call", self._ref, to_wire(args), False)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", self._ref, name)

    def __iter__(self):
        it = self._ask("iter", self._ref)
        if not isinstance(it, Remote):
            return iter(it)
        return it

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
    if isinstance(value, Remote):
        return (HANDLE_TAG, value._ref)
    t = type(value)
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
    if t is tuple and len(value) == 4 and value[0] == HANDLE_TAG and type(value[1]) is int:
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


def spawn_worker(job):
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(req_w)
            os.close(resp_r)
            os.close(job["record_fd"])
            set_limits(job)
            worker_main(job["code"], req_r, resp_w)
        finally:
            os._exit(0)
    os.close(req_r)
    os.close(resp_w)
    return Worker(pid, req_w, resp_r)


def tester_main(job):
    fd = job["record_fd"]
    record = {"load": None, "calls": [], "scripts": [], "events": []}
    worker = spawn_worker(job)
    entry = job["entry"]
    raw = read_frame(worker.resp_fd, MAX_RESULT_BYTES)
    reply = None
    if raw is not None:
        try:
            reply = marshal.loads(raw)
        except Exception:
            reply = None
    if type(reply) is not tuple or not reply or not check_plain(reply):
        worker.alive = False
        record["load"] = {"ok": False, "error": "candidate process ended while loading"}
    elif reply[0] == "loaded" and entry in reply[1]:
        record["load"] = {"ok": True}
        names = [n for n in reply[1] if type(n) is str]
    elif reply[0] == "loaded":
        record["load"] = {"ok": False, "error": "entry point %r is not defined or not callable" % entry}
    elif reply[0] == "exit":
        worker.alive = False
        record["load"] = {"ok": False, "error": "candidate called exit(%s) while loading" % reply[1]}
        record["events"].append("exit-at-load")
    elif reply[0] == "exc" and reply[1] == "MemoryError":
        record["load"] = {"ok": False, "error": "MemoryError while loading"}
        record["events"].append("memory")
    else:
        record["load"] = {"ok": False, "error": "%s: %s" % (reply[1], reply[2]) if len(reply) > 2 else "load failed"}

    if record["load"]["ok"]:
        for args_src in job["calls"]:
            try:
                args = ast.literal_eval(args_src)
                reply = worker.request(("call", entry, args, False))
                if reply[0] == "ok":
                    value = reply[1]
                    if type(value) is tuple and len(value) == 4 and value[0] == HANDLE_TAG:
                        record["calls"].append({"opaque": value[3], "type": value[2]})
                    else:
                        record["calls"].append({"value": encode_plain(value)})
                else:
                    unwrap(worker, reply)
            except WorkerGone as exc:
                record["calls"].append({"error": str(exc)})
            except Exception as exc:
                record["calls"].append({"error": describe(exc)})
        if job["scripts"]:
            base = {"__name__": "__codealign_tests__", "__builtins__": builtins}
            for name in names:
                base[name] = Remote(worker, name, "<candidate function %s>" % name)
            setup_ok = True
            try:
                exec(compile(job["setup"], "setup.py", "exec"), base)
            except BaseException as exc:
                setup_ok = False
                setup_error = "trusted setup failed: " + describe(exc)
            proxy = Remote(worker, entry, "<candidate function %s>" % entry)
            base[entry] = proxy
            base["candidate"] = proxy
            for src in job["scripts"]:
                if not setup_ok:
                    record["scripts"].append({"passed": False, "error": setup_error})
                    continue
                ns = dict(base)
                try:
                    exec(compile(src, "tests.py", "exec"), ns)
                    record["scripts"].append({"passed": True})
                except AssertionError as exc:
                    record["scripts"].append({"passed": False, "error": "AssertionError: %s" % str(exc)[:300]})
                except WorkerGone as exc:
                    record["scripts"].append({"passed": False, "error": str(exc)})
                except BaseException as exc:
                    record["scripts"].append({"passed": False, "error": describe(exc)})
    record["events"].extend(worker.events)
    record["complete"] = True
    write_frame(fd, json.dumps(record).encode())

    if job["profile"] and record["load"]["ok"] and worker.alive:
        try:
            figures = profile(job, worker, base_namespace(job, worker))
        except BaseException as exc:
            figures = {"error": "profiling failed: " + describe(exc)}
        write_frame(fd, json.dumps({"perf": figures}).encode())

    finish_worker(worker, fd)


def base_namespace(job, worker):
    ns = {"__name__": "__codealign_perf__", "__builtins__": builtins}
    exec(compile(job["setup"], "setup.py", "exec"), ns)
    return ns


def profile(job, worker, ns):
    """Deterministic line-event count (one traced pass) and the worker's CPU time per pass
    (median of `repeats` untraced passes), over the perf inputs or else the literal calls."""
    entry = job["entry"]
    sources = job["perf"] or job["calls"]
    try:
        inputs = [to_wire(eval(compile(src, "perf.py", "eval"), ns)) for src in sources]
    except BaseException as exc:
        return {"error": "perf input failed: " + describe(exc)}
    ops = 0
    for args in inputs:
        try:
            reply = worker.request(("call", entry, args, True))
        except WorkerGone as exc:
            return {"error": str(exc)}
        if reply[0] != "ok" or type(reply[2]) is not int:
            return {"error": "perf call raised %s" % (reply[1:3],)}
        ops += reply[2]
    times = []
    for _ in range(job["repeats"]):
        start = worker.cpu_seconds()
        for args in inputs:
            try:
                reply = worker.request(("call", entry, args, False))
            except WorkerGone as exc:
                return {"error": str(exc)}
            if reply[0] != "ok":
                return {"error": "perf call raised %s" % (reply[1:3],)}
        end = worker.cpu_seconds()
        if start is None or end is None:
            return {"error": "cannot read the candidate's CPU clock"}
        times.append(end - start)
    times.sort()
    return {"ops": ops, "cpu_s": times[len(times) // 2] if times else None, "repeats": times}


def finish_worker(worker, fd):
    """Ask the worker to exit, reap it, and report its exit and kernel accounting."""
    if worker.alive:
        try:
            write_frame(worker.req_fd, marshal.dumps(("exit",)))
        except OSError:
            pass
    for f in (worker.req_fd, worker.resp_fd):
        try:
            os.close(f)
        except OSError:
            pass
    _, status, usage = os.wait4(worker.pid, 0)
    final = {"final": True, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_kb": usage.ru_maxrss}
    if os.WIFSIGNALED(status):
        final["signal"] = os.WTERMSIG(status)
    else:
        final["exit"] = os.WEXITSTATUS(status)
    write_frame(fd, json.dumps(final).encode())


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


def kill_everyone(tester_pid):
    """SIGKILL every process in the namespace but us, and reap them all.

    Only as PID 1 of our own namespace is kill(-1) confined to the sandbox; outside one
    (the unsafe backend) only the tester's process group is killed.
    """
    target = -1 if os.getpid() == 1 else -tester_pid
    while True:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            pid, _ = os.waitpid(-1, 0)
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


def run_job(job):
    work = job["work_dir"]
    job["as_init"] = os.getpid() == 1
    scratch = [work] + (["/dev/shm", "/var/tmp"] if job["as_init"] else [])
    for path in scratch:
        wipe(path)
    os.chdir(work)
    rec_r, rec_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    job["record_fd"] = rec_w
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            for f in (rec_r, out_r, err_r):
                os.close(f)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, rec_w)
            os.closerange(rec_w + 1, 1024)
            if not job["as_init"]:
                os.setpgid(0, 0)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            sys.setrecursionlimit(10000)
            tester_main(job)
        finally:
            os._exit(0)
    for f in (rec_w, out_w, err_w):
        os.close(f)
    frames, rec_buf = [], bytearray()
    out, err = Tail(job["output_limit"]), Tail(job["output_limit"])
    sel = selectors.DefaultSelector()
    sel.register(rec_r, selectors.EVENT_READ, None)
    sel.register(out_r, selectors.EVENT_READ, out)
    sel.register(err_r, selectors.EVENT_READ, err)
    deadline = start + job["timeout_s"]
    record_open, hit_deadline = True, False
    while record_open:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            hit_deadline = True
            break
        for key, _ in sel.select(remaining):
            data = os.read(key.fd, 65536)
            if key.data is not None:
                if data:
                    key.data.add(data)
                else:
                    sel.unregister(key.fd)
                continue
            if not data:
                record_open = False
                continue
            rec_buf += data
            while len(rec_buf) >= FRAME.size:
                (n,) = FRAME.unpack(rec_buf[:FRAME.size])
                if len(rec_buf) < FRAME.size + n:
                    break
                frames.append(json.loads(bytes(rec_buf[FRAME.size:FRAME.size + n])))
                del rec_buf[:FRAME.size + n]
                if len(frames) == 1 and job["profile"]:
                    deadline = time.monotonic() + job["perf_timeout_s"]
    wall = time.monotonic() - start
    if hit_deadline:
        tester = {"killed_by_us": True}
    else:
        _, status, usage = os.wait4(pid, 0)
        tester = ({"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status)
                  else {"exit": os.WEXITSTATUS(status)})
    kill_everyone(pid)
    # Whatever the candidate's processes wrote before they died is still in the pipes.
    # All writers are dead now, so these reads end at EOF.
    for key in list(sel.get_map().values()):
        if key.data is not None:
            data = os.read(key.fd, 65536)
            while data:
                key.data.add(data)
                data = os.read(key.fd, 65536)
    sel.close()
    for f in (rec_r, out_r, err_r):
        os.close(f)
    complete = bool(frames) and frames[0].get("complete") is True
    for path in scratch:
        wipe(path)
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
    write_frame(host_out, json.dumps({"ready": True, "python": sys.version.split()[0]}).encode())
    while True:
        raw = read_frame(host_in)
        if raw is None:
            return
        job = json.loads(raw)
        try:
            response = run_job(job)
        except Exception as exc:   # our own fault: say so, the host restarts us
            response = {"fault": describe(exc)}
        write_frame(host_out, json.dumps(response).encode())


if __name__ == "__main__":
    main()
