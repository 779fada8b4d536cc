"""Running untrusted candidate code against trusted tests, without being fooled.

Threat model
============
The candidate is hostile: a model optimised against unit tests learns every way to fake a
pass. What the sandbox guarantees, on every backend:

Covered
  * **Forged passes.** The verdict is computed by the trusted host (`runner.assess`), never
    by the candidate's process. Literal asserts (``assert f(<literal>) == <literal>``) are
    split by the host: only the call runs in the candidate's process, its return value comes
    back as plain data (exact builtin types; anything else is an opaque handle that equals
    nothing), and the host compares it with an expected value that never entered the
    sandbox. Other tests run in a separate trusted *tester* process inside the sandbox whose
    proxies return plain data too, so no ``__eq__`` of the candidate's is ever consulted.
  * **Differential tests.** For a task with a reference, the expected values of the extra
    inputs (`codealign.sandbox.strengthen`) are the reference's outputs, computed by running
    the reference (and the task's ``input_check`` contract) in a sandbox of their own,
    exactly as a candidate runs, and decoded on the host as plain data; a sample's results
    on those inputs are compared on the host like any literal call's. The expected values
    never enter a sample's sandbox. A differential call is traced and stopped past its
    operation budget, which fails the sample: a forged count can only make a candidate fail.
  * **Exit tricks.** A pass needs the tester's completion record (on a pipe the candidate's
    process never holds), every test accounted for, and the candidate's process exiting when
    asked. ``sys.exit(0)``, ``os._exit(0)``, signals to itself, atexit hooks: all read as
    not passed; exiting with status 0 before the tests finish reads as ``tampered``.
  * **Harness tampering.** The tester and the zygote are non-dumpable (no ptrace, no
    ``/proc/PID/mem``/``fd`` from the candidate), the zygote is PID 1 of the sandbox's PID
    namespace (signals it has no handler for are dropped), and nothing the candidate prints
    or writes to any file or descriptor is read as a result. Killing the tester reads as
    ``tampered``.
  * **Poisoning later runs.** Each execution is a fresh fork of a clean zygote; afterwards
    every process in the sandbox is killed and every writable directory wiped.
  * **Resource exhaustion.** rlimits on the candidate's process (address space, CPU seconds,
    processes, file size, open files, no core dumps), a size-limited tmpfs, a wall clock
    enforced by the zygote and, above it, by the host (which replaces a sandbox that stops
    answering), and stdout/stderr kept only as capped tails.
  * **Isolation escapes (bwrap).** New user/PID/net/IPC/UTS/cgroup namespaces, no
    capabilities, no nested user namespaces, read-only ``/usr`` only: no host home,
    ``/root``, ``/etc``, ``/tmp`` or working tree; cleared environment; no network at all.
    The docker backend gives the same with ``--network none``, a read-only root,
    ``cap-drop ALL``, ``no-new-privileges`` and pids/memory/CPU limits.

Not covered
  * Kernel exploits from inside the namespaces (the usual container risk; use the docker
    backend on a hardened host, or a VM, for stronger isolation).
  * Timing side channels, and CPU contention with other processes on the host.
  * Efficiency figures: the deterministic operation count is taken by a tracer inside the
    candidate's process, so a candidate that tampers with tracing can lower its count; the
    CPU time beside it is read from the kernel by the tester and cannot be forged (it can
    only be inflated, which hurts the candidate). The tamper judge flags code that touches
    tracing. Perf inputs synthesised for tasks without a reference are chosen by the
    passing samples' majority answer as the samples report it: a hostile sample can sway
    which inputs are measured (never a verdict), and is outvoted by two honest ones.
  * Tests that rely on a candidate mutating its arguments in place (arguments cross into
    the candidate's process by copy).
  * A submitted task's reference decides its own task's expected values: a hostile one can
    make its task meaningless (never anything beyond it), as its own tests could.
  * Profiling's lower bound (`Cost.lower_bound`) is read from the kernel's CPU clock; the
    line events counted by then are the candidate's own report, like every operation count.
  * The ``unsafe-no-isolation`` backend covers the verdict (forged passes) but nothing
    else: it is for machines where neither bwrap nor Docker runs, and says so loudly.
"""

from codealign.sandbox.config import BACKENDS, UNSAFE_BACKEND, Job, SandboxConfig
from codealign.sandbox.execution import Cost, Execution, Flag, Status, TestOutcome
from codealign.sandbox.inputs import InputSet, synthesise_inputs
from codealign.sandbox.runner import run_many, run_one
from codealign.sandbox.testcases import CallCase, TestPlan, plan_tests

__all__ = ["BACKENDS", "UNSAFE_BACKEND", "CallCase", "Cost", "Execution", "Flag", "InputSet", "Job",
           "SandboxConfig", "Status", "TestOutcome", "TestPlan", "plan_tests", "run_many", "run_one",
           "synthesise_inputs"]
