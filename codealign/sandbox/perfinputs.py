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
   by ``MAX_INT`` and by ``MAX_CHARS`` of source per input (`candidates`);
3. **the sandbox runs the reference** on each candidate, smallest first (a `work.Probe`):
   one traced call each, stopped past ``BUDGET_OPS`` line events; a larger input of the same
   group only after the smaller one finished within that budget;
4. it **keeps** the largest input of each group on which the reference returned within
   ``BUDGET_OPS`` (at most ``MAX_KEPT``, the dearest first: `choose`). The budget is an
   operation count, not a time, so two machines keep the same inputs. Work the count cannot
   see (inside C builtins: ``lst.remove(min(lst))`` in a loop is two line events per element
   and quadratic) is bounded too: the call's untraced CPU, in units of this machine's own
   line events (timed in the same probe, `zygote.calibration_loop`), may be at most
   ``WORK_FACTOR`` budgets. That unit scales with the machine, so a faster one keeps the
   same inputs (up to timing noise, for inputs whose C work sits at the bound).

A task without a reference is judged instead by the samples that passed its tests (up to
``MAX_VOTERS`` distinct programs): an input is kept where more than half of them return
the same answer, their median count within budget (`runner.execute` measures such
tasks' samples after all verdicts are in).

Nothing here runs task code on the host; `codealign.sandbox.inputs` runs the probes and
caches the choice by content. A task whose reference fails every candidate (or with no
literal call in its tests, or nothing to judge by) keeps no perf inputs: the profile then
measures its tests' own calls.
"""

from __future__ import annotations

import ast
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codealign.sandbox.wire import ProbeReply
from codealign.tasks.task import Task

__all__ = ["RULES", "SCALES", "BUDGET_OPS", "MAX_VOTERS", "Synthesis", "call_arguments",
           "candidates", "choose", "grown"]

SCALES = (10, 100, 1000)
MAX_INT = 10 ** 6
MAX_CHARS = 400_000
MAX_BASES = 6
MAX_KEPT = 3
MAX_VOTERS = 5
BUDGET_OPS = 200_000   # line events of the reference (or the voters' median) per kept input
WORK_FACTOR = 10       # ... and its untraced CPU at most this many budgets of this machine's line events


@dataclass(frozen=True)
class Synthesis:
    """The outcome for one task: the kept inputs (argument-tuple sources) and how many
    candidates were probed."""

    task_id: str
    perf_inputs: tuple[str, ...]
    probed: int
    why: str = ""     # when nothing was kept


def call_arguments(task: Task) -> list[tuple[Any, ...]]:
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
    out: list[tuple[Any, ...]] = []
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


def grown(args: tuple[Any, ...], k: int, descending: bool = False) -> tuple[Any, ...]:
    """`args` with every sequence, string and dict grown `k` times (see the module
    docstring; integers stay as they are).

    >>> grown(([1, 2], "ab", 7), 2)
    ([1, 2, 3, 4], 'abab', 7)
    """
    return tuple(_scale(a, k, False, descending) for a in args)


def candidates(task: Task) -> tuple[list[str], list[int]]:
    """Scaled argument-tuple sources, smallest scale first, and each one's group (one group
    per base call and variant; a group's inputs grow with the scale).

    >>> t = Task("t", "def f(xs, n):\\n", "f", "assert f([1, 3], 5) == 4\\n")
    >>> srcs, groups = candidates(t)
    >>> srcs[:2], groups[:2]
    (['([1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 24, 25, 27, 28, 30], 5)', '([28, 30, 25, 27, 22, 24, 19, 21, 16, 18, 13, 15, 10, 12, 7, 9, 4, 6, 1, 3], 5)'], [0, 1])
    """
    bases = call_arguments(task)[:MAX_BASES]
    variants: list[tuple[bool, bool, tuple[Any, ...]]] = []
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


# Everything the choice depends on besides the task: part of the cache key (inputs.py).
RULES = {"version": 3, "scales": SCALES, "max_int": MAX_INT, "max_chars": MAX_CHARS,
         "max_bases": MAX_BASES, "max_kept": MAX_KEPT, "max_voters": MAX_VOTERS,
         "budget_ops": BUDGET_OPS, "work_factor": WORK_FACTOR}


def choose(task: Task, sources: Sequence[str], groups: Sequence[int],
           runs: Sequence[Sequence[ProbeReply]], op_s: Sequence[float | None] = ()) -> Synthesis:
    """Keep, per group, the largest input on which a majority of the programs probed (the
    reference alone, or the passing samples) returned the same answer within the budget
    (their median count), and whose untraced CPU (their median), in units of this machine's
    own line events (`op_s[k]`: run k's CPU seconds per line event), is within
    ``WORK_FACTOR`` budgets; at most ``MAX_KEPT``, the dearest first."""
    votes: dict[int, list[tuple[str, int, float]]] = {}
    for k, replies in enumerate(runs):
        unit = op_s[k] if k < len(op_s) else None
        for r in replies:
            if 0 <= r.index < len(sources) and r.ok and r.ops is not None:
                work = r.cpu_s / unit if r.cpu_s is not None and unit else 0.0
                votes.setdefault(r.index, []).append((str(r.digest), r.ops, work))
    best: dict[int, tuple[float, int]] = {}
    for i in sorted(votes):
        answer, count = Counter(d for d, _, _ in votes[i]).most_common(1)[0]
        if 2 * count <= len(runs):
            continue
        ops = statistics.median(n for d, n, _ in votes[i] if d == answer)
        work = statistics.median(w for d, _, w in votes[i] if d == answer)
        if ops <= BUDGET_OPS and work <= WORK_FACTOR * BUDGET_OPS:
            best[groups[i]] = (ops, i)   # later = larger within the group
    kept = sorted(best.values(), reverse=True)[:MAX_KEPT]
    if not kept:
        why = next((r.error or ("over the operation budget" if r.over_budget else "")
                    for replies in runs for r in replies if r.error or r.over_budget),
                   "no candidate within budget")
        return Synthesis(task.task_id, (), len(votes), str(why)[:200])
    return Synthesis(task.task_id, tuple(sources[i] for _, i in sorted(kept, key=lambda x: x[1])),
                     len(votes))
