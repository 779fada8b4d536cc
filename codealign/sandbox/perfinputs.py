"""Perf inputs synthesised from a task's own tests, for tasks that have none.

HumanEval, MBPP and most submitted tasks carry no ``perf_inputs``: their tests call the
function on a few tiny arguments, on which a quadratic loop and ``sorted`` cost the same.
So, for a task with a reference solution:

1. **the host reads the tests with `ast` only** and collects the literal arguments of every
   call of the function under test (``f([3, 1, 2], 2)``, ``candidate("abc")``);
2. it **scales them deterministically**, ×10, ×100, ×1000: lists, tuples and sets of
   integers grow by shifted copies of themselves (``[1, 3, 2]`` ×2 → ``[1, 3, 2, 4, 6, 5]``:
   order, sortedness and distinctness survive; a second variant stacks the copies in
   descending order, the worst case of many hand-written sorts), other sequences and
   strings by repetition, dicts by suffixed or shifted keys; integers ≥ 2 grow too in a
   third variant (others — indices, counts, small ints — stay in the first two), bounded
   by ``MAX_INT`` and by ``MAX_CHARS`` of source per input;
3. **the sandbox runs the reference** on each candidate, smallest first (`zygote.probe`):
   one timed call each, a larger input of the same group only after the smaller one
   finished within the budget;
4. it **keeps** the largest input of each group on which the reference returned within
   ``budget_s`` of CPU (at most ``MAX_KEPT``, the dearest first), and caches the choice per
   task content (tests, entry point, reference, setup and these rules) as JSON: re-runs
   probe nothing.

A task without a reference is judged instead by the samples that passed its tests (up to
``MAX_VOTERS`` distinct programs): an input is kept where more than half of them return
the same answer, their median CPU time within budget (`run_many` measures such tasks'
samples after all verdicts are in).

Nothing here runs task code on the host. A task whose reference fails every candidate (or
with no literal call in its tests, or nothing to judge by) keeps no perf inputs: the
profile then measures its tests' own calls.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import statistics
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codealign.sandbox.config import Job, SandboxConfig
from codealign.sandbox.testcases import TestPlan
from codealign.sandbox.wire import HOST_MARGIN_S, ProbeReply, job_frame
from codealign.sandbox.zygote import JobKey
from codealign.tasks.task import Task

__all__ = ["SCALES", "Synthesis", "call_arguments", "candidates", "synthesise"]

VERSION = 2
SCALES = (10, 100, 1000)
MAX_INT = 10 ** 6
MAX_CHARS = 400_000
MAX_BASES = 6
MAX_KEPT = 3
MAX_VOTERS = 5
BUDGET_S = 0.02


@dataclass(frozen=True)
class Synthesis:
    """The outcome for one task: the kept inputs (argument-tuple sources) and how many
    candidates were probed."""

    task_id: str
    perf_inputs: tuple[str, ...]
    probed: int
    why: str = ""     # when nothing was kept


def call_arguments(task: Task) -> list[tuple]:
    """The distinct literal argument tuples the tests pass to the function under test.

    >>> t = Task("t", "def f(x):\\n", "f", "assert f([1, 2]) == 3\\nassert f([]) == 0\\nassert f([1, 2]) == 3\\n")
    >>> call_arguments(t)
    [([1, 2],), ([],)]
    """
    try:
        tree = ast.parse(task.tests)
    except SyntaxError:
        return []
    names = {task.entry_point, "candidate"}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "check" and node.args.args:
            names.add(node.args.args[0].arg)
    out: list[tuple] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in names and not node.keywords and node.args
                and not any(isinstance(a, ast.Starred) for a in node.args)):
            continue
        try:
            args = tuple(ast.literal_eval(a) for a in node.args)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if args not in out:
            out.append(args)
    return out


def _is_int(v: Any) -> bool:
    return type(v) is int


def _scale(value: Any, k: int, ints: bool, descending: bool = False) -> Any:
    """`value` grown k times (see the module docstring); `descending`: integer sequences
    grow by copies shifted downwards instead (a sorted input becomes blocks in reverse)."""
    t = type(value)
    if t is int and ints and abs(value) >= 2:
        return max(-MAX_INT, min(MAX_INT, value * k))
    if t is str:
        return value * k
    if t is bytes:
        return value * k
    if t in (list, tuple, set, frozenset) and value:
        items = list(value)
        if all(_is_int(x) for x in items):
            span = max(items) - min(items) + 1
            blocks = range(k - 1, -1, -1) if descending else range(k)
            grown = [x + j * span for j in blocks for x in items]
        else:
            grown = items * k
        return t(grown)
    if t is dict and value:
        keys = list(value)
        if all(_is_int(x) for x in keys):
            span = max(keys) - min(keys) + 1
            return {key + j * span: v for j in range(k) for key, v in value.items()}
        if all(type(x) is str for x in keys):
            return {(key if j == 0 else f"{key}{j}"): v for j in range(k) for key, v in value.items()}
    return value


def candidates(task: Task) -> tuple[list[str], list[int]]:
    """Scaled argument-tuple sources, smallest scale first, and each one's group (one group
    per base call and variant; a group's inputs grow with the scale).

    >>> t = Task("t", "def f(xs, n):\\n", "f", "assert f([1, 3], 5) == 4\\n")
    >>> srcs, groups = candidates(t)
    >>> srcs[:2], groups[:2]
    (['([1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 24, 25, 27, 28, 30], 5)', '([28, 30, 25, 27, 22, 24, 19, 21, 16, 18, 13, 15, 10, 12, 7, 9, 4, 6, 1, 3], 5)'], [0, 1])
    """
    bases = call_arguments(task)[:MAX_BASES]
    variants: list[tuple[bool, bool, tuple]] = []
    for args in bases:
        for ints, descending in ((False, False), (False, True), (True, False)):
            variants.append((ints, descending, args))
    out: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for group, (ints, descending, args) in enumerate(variants):
        for k in SCALES:
            try:
                src = repr(tuple(_scale(a, k, ints, descending) for a in args))
            except (ValueError, MemoryError):
                break
            if len(src) > MAX_CHARS:
                break
            if src in seen or src == repr(args):
                continue
            seen.add(src)
            out.append((k, group, src))
    out.sort(key=lambda x: (x[0], x[1]))   # every group's small inputs before any large one
    groups = sorted({g for _, g, _ in out})
    renumber = {g: i for i, g in enumerate(groups)}
    return [src for _, _, src in out], [renumber[g] for _, g, _ in out]


def _key(task: Task, budget_s: float, codes: Sequence[str]) -> str:
    blob = json.dumps([VERSION, SCALES, MAX_INT, MAX_CHARS, MAX_BASES, MAX_KEPT, budget_s,
                       task.tests, task.entry_point, sorted(codes), task.trusted_setup()])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _cache_dir(config: SandboxConfig) -> Path:
    if config.perf_cache_dir:
        return Path(config.perf_cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codealign" / "perf-inputs"


def _choose(task: Task, sources: list[str], groups: list[int], runs: list[list[ProbeReply]],
            budget_s: float) -> Synthesis:
    """Keep, per group, the largest input on which a majority of the programs probed (the
    reference alone, or the passing samples) returned the same answer, their median CPU
    time within budget."""
    votes: dict[int, list[tuple[str, float]]] = {}
    for replies in runs:
        for r in replies:
            if 0 <= r.index < len(sources) and r.ok and r.cpu_s is not None:
                votes.setdefault(r.index, []).append((str(r.digest), r.cpu_s))
    best: dict[int, tuple[float, int]] = {}
    for i in sorted(votes):
        answers = Counter(d for d, _ in votes[i])
        answer, count = answers.most_common(1)[0]
        if 2 * count <= len(runs):
            continue
        cpu = statistics.median(c for d, c in votes[i] if d == answer)
        if cpu <= budget_s:
            best[groups[i]] = (cpu, i)   # later = larger within the group
    kept = sorted(best.values(), reverse=True)[:MAX_KEPT]
    if not kept:
        why = next((r.error for replies in runs for r in replies if r.error), "no candidate within budget")
        return Synthesis(task.task_id, (), len(votes), str(why)[:200])
    return Synthesis(task.task_id, tuple(sources[i] for _, i in sorted(kept, key=lambda x: x[1])),
                     len(votes))


def _probe(session, task: Task, code: str, sources: list[str], groups: list[int],
           config: SandboxConfig, budget_s: float) -> list[ProbeReply] | None:
    """Run `code` on every candidate input (inside the sandbox); what each probe gave."""
    probed = dataclasses.replace(task, perf_inputs=tuple(sources))
    job = Job(f"{task.task_id}::probe", probed, code, profile=True)
    frame = job_frame(job, TestPlan((), ()), config)
    limit = min(config.task_timeout(task), 2.0 + budget_s * len(sources))
    frame.update({JobKey.PROBE: True, JobKey.PROBE_GROUPS: groups, JobKey.PROBE_BUDGET_S: budget_s,
                  JobKey.PERF_TIMEOUT_S: limit, JobKey.CPU_S: limit + 1})
    response = session.run(frame, limit + config.task_timeout(task) + HOST_MARGIN_S)
    if response is None:
        return None
    if response.probe_error:
        return [ProbeReply(-1, False, error=response.probe_error)]
    return list(response.probes)


def synthesise(tasks: Sequence[Task], config: SandboxConfig = SandboxConfig(),
               budget_s: float = BUDGET_S,
               voters: dict[str, Sequence[str]] | None = None) -> dict[str, Synthesis]:
    """Synthesised perf inputs for each task (cached per task content): judged by its
    reference, or for a task without one by `voters[task_id]` (the programs that passed its
    tests: their majority answer). Tasks with perf inputs of their own, or with neither a
    reference nor voters, are left out of the result."""
    from codealign.sandbox.runner import start_session

    todo: list[tuple[Task, Path, list[str], list[int], list[str]]] = []
    out: dict[str, Synthesis] = {}
    cache = _cache_dir(config)
    for task in tasks:
        codes = [task.reference] if task.reference else \
            sorted(set((voters or {}).get(task.task_id, ())))[:MAX_VOTERS]
        if task.perf_inputs or not codes:
            continue
        path = cache / f"{_key(task, budget_s, codes)}.json"
        try:
            d = json.loads(path.read_text())
            out[task.task_id] = Synthesis(task.task_id, tuple(d["perf_inputs"]), d["probed"], d["why"])
            continue
        except (OSError, ValueError, KeyError, TypeError):
            pass
        sources, groups = candidates(task)
        if not sources:
            out[task.task_id] = Synthesis(task.task_id, (), 0, "no literal call in the tests")
            continue
        todo.append((task, path, sources, groups, codes))
    if not todo:
        return out
    cache.mkdir(parents=True, exist_ok=True)
    queue = list(reversed(todo))
    lock = threading.Lock()

    def work() -> None:
        session = None
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    task, path, sources, groups, codes = queue.pop()
                runs = []
                for code in codes:
                    if session is None or not session.alive:
                        session = start_session(config)
                    frames = _probe(session, task, code, sources, groups, config, budget_s)
                    if frames is None:
                        session = None
                    runs.append(frames or [])
                result = _choose(task, sources, groups, runs, budget_s)
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(json.dumps({"task_id": task.task_id, "perf_inputs": list(result.perf_inputs),
                                           "probed": result.probed, "why": result.why}))
                os.replace(tmp, path)
                with lock:
                    out[task.task_id] = result
        finally:
            if session is not None:
                session.close()

    with ThreadPoolExecutor(max_workers=min(config.worker_count, len(todo))) as pool:
        for f in [pool.submit(work) for _ in range(min(config.worker_count, len(todo)))]:
            f.result()
    return out
