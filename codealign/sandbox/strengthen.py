"""Differential testing against the reference: a task's tests, strengthened.

A task's own tests are few (HumanEval has about ten per task), and wrong programs that pass
them are common. For a task with a reference, the sandbox also checks every sample against
the reference on inputs derived from the tests' own (EvalPlus's idea, done here by the host
with `ast` and plain data only):

1. **inputs**: the literal arguments of the tests' calls (`perfinputs.call_arguments`) are
   mutated by type, one argument at a time (`mutants`): ints and floats ±1 and the
   boundary values the tests use (their smallest, largest, and between); strings and lists
   with one element deleted, duplicated, swapped with its neighbour, replaced by a mutant or
   inserted (nested structures recursively, dict keys and values, set members), plus each
   call with its sequences and strings grown ten times (the smallest scaled-up perf input).
   What every test literal at the same argument position shares is kept (`Shape`: the type,
   the sign and range of numbers, the characters and runs of strings, sortedness and
   distinctness, tuple lengths, non-emptiness, distinct or permuted ints inside), and so are
   the relations between arguments that every test call keeps (`Relations`). Deterministic:
   seeded by the task's content.
2. **expected values**: the sandbox runs the reference on each input, twice, traced and
   stopped past ``REF_OPS`` line events (`work.Probe`, with the task's ``input_check``
   contract asked first when it has one). An input is kept when the reference returned a
   plain value within the budget, small enough, without raising (a raise means the input
   breaks a precondition) and the contract accepted it; up to ``MAX_CASES``. A reference that
   answers any input differently the second time is nondeterministic: no input is kept.
3. **the check**: each kept input becomes a `DiffCase`, one more literal call of every
   sample's verdict run, compared on the host as the tests compare (`Comparison`, read from
   the tests' asserts: ``==`` with an optional ``tuple``/``list``/``set``/``sorted`` on the
   call, ``is``, truthiness, or ``abs(f(x) - y) < eps``/``math.isclose``; floats always
   within a tolerance). A task whose tests use the result otherwise (an assignment, a
   helper) gets no differential cases. The sample's call is traced with a budget of
   ``max(SLACK × the reference's count, MIN_OPS)`` line events: a sample that runs past it
   fails (a machine-independent limit, far above any honest solution on test-sized inputs).

A sample passes only when it passes the task's tests and agrees with the reference on every
kept input; a disagreement names the input and both outputs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from codealign.sandbox import perfinputs
from codealign.sandbox.plain import decode
from codealign.sandbox.testcases import CallCase
from codealign.sandbox.wire import ProbeReply
from codealign.tasks.task import Task

__all__ = ["RULES", "MAX_CASES", "REF_OPS", "Comparison", "DiffCase", "DiffInput", "comparison",
           "mutants", "choose", "case", "budget_for"]

MAX_POOL = 160          # candidate inputs probed per task
MAX_CASES = 48          # kept per task
REF_OPS = 20_000        # the reference's line events on a kept input
SLACK = 100             # a sample may take this many times the reference's count ...
MIN_OPS = 100_000       # ... or this many, whichever is more
MAX_ARG_CHARS = 2_000   # source of one input
MAX_OUT_CHARS = 8_000   # the reference's output on it (tagged JSON)
FLOAT_REL, FLOAT_ABS = 1e-6, 1e-9
RULES = {"version": 1, "max_pool": MAX_POOL, "max_cases": MAX_CASES, "ref_ops": REF_OPS,
         "max_arg_chars": MAX_ARG_CHARS, "max_out_chars": MAX_OUT_CHARS, "float": [FLOAT_REL, FLOAT_ABS]}

_NORMALIZERS = ("tuple", "list", "sorted", "set", "frozenset")   # loosest last


def budget_for(ref_ops: int) -> int:
    """The line events a sample may take on an input the reference did in `ref_ops`."""
    return max(SLACK * ref_ops, MIN_OPS)


# ---------------------------------------------------------------------------------------------
# How the tests compare


@dataclass(frozen=True)
class Comparison:
    """How a sample's result is compared with the reference's, as the task's tests compare.

    `kind`: ``"equal"`` (``==``, floats within a tolerance; `normalize` names a builtin the
    tests apply to the result first: ``tuple``, ``list``, ``set``, ``frozenset``,
    ``sorted``; `strict`: the tests use ``is``, so True is not 1), ``"truth"`` (the tests ask
    only for a true or false value) or ``"close"`` (numbers within `abs_tol`/`rel_tol`)."""

    kind: str = "equal"
    normalize: str = ""
    strict: bool = False
    abs_tol: float = 0.0
    rel_tol: float = 0.0

    def same(self, expected: Any, got: Any) -> bool:
        if self.kind == "truth":
            try:
                return bool(expected) is bool(got)
            except Exception:   # noqa: BLE001 - plain data only; be safe anyway
                return False
        try:
            a, b = _normalized(expected, self.normalize), _normalized(got, self.normalize)
        except (TypeError, ValueError, RecursionError):
            return False
        if self.kind == "close" and _number(a) and _number(b):
            return math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        if self.strict and type(a) is not type(b):
            return False
        return _equal(a, b)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "normalize": self.normalize, "strict": self.strict,
                "abs_tol": self.abs_tol, "rel_tol": self.rel_tol}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Comparison":
        return cls(d["kind"], d["normalize"], d["strict"], float(d["abs_tol"]), float(d["rel_tol"]))


def _number(v: Any) -> TypeGuard[int | float]:
    return type(v) in (int, float)


def _normalized(value: Any, how: str) -> Any:
    if not how:
        return value
    if how == "sorted":
        return sorted(value)
    return {"tuple": tuple, "list": list, "set": set, "frozenset": frozenset}[how](value)


def _equal(a: Any, b: Any, depth: int = 0) -> bool:
    """``a == b`` on plain data, floats within a tolerance (element by element)."""
    if depth > 100:
        return False
    if type(a) is float or type(b) is float:
        if _number(a) and _number(b):
            return a == b or math.isclose(a, b, rel_tol=FLOAT_REL, abs_tol=FLOAT_ABS)
        return False
    if type(a) in (list, tuple) and type(b) is type(a):
        return len(a) == len(b) and all(_equal(x, y, depth + 1) for x, y in zip(a, b))
    if type(a) is dict and type(b) is dict:
        return a.keys() == b.keys() and all(_equal(a[k], b[k], depth + 1) for k in a)
    try:
        return bool(a == b)
    except RecursionError:
        return False


def comparison(task: Task) -> tuple[Comparison | None, str]:
    """How the task's tests compare the entry point's results (None, and why, when some use
    of a result is not one of the shapes `Comparison` models)."""
    try:
        tree = ast.parse(task.tests)
    except SyntaxError:
        return None, "the tests do not parse"
    names = _call_names(tree, task.entry_point)
    sites: list[Comparison] = []
    in_asserts: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            calls = [n for n in ast.walk(node.test) if _is_call(n, names)]
            in_asserts |= {id(n) for n in ast.walk(node) if _is_call(n, names)}   # msg included
            if calls:
                site = _site(node.test, names)
                if site is None:
                    return None, f"a test compares results as `{ast.unparse(node.test)[:80]}`"
                sites.append(site)
    for node in ast.walk(tree):
        if _is_call(node, names) and id(node) not in in_asserts:
            return None, f"a test uses a result outside an assert (`{ast.unparse(node)[:80]}`)"
    if not sites:
        return None, "no test compares a result"
    close = [s for s in sites if s.kind == "close"]
    if close:
        return Comparison("close", abs_tol=max(s.abs_tol for s in close),
                          rel_tol=max(s.rel_tol for s in close)), ""
    equal = [s for s in sites if s.kind == "equal"]
    if not equal:
        return Comparison("truth"), ""
    loosest = max((s.normalize for s in equal), key=lambda n: _NORMALIZERS.index(n) if n else -1)
    return Comparison("equal", loosest, strict=all(s.strict for s in equal)), ""


def _call_names(tree: ast.AST, entry_point: str) -> set[str]:
    names = {entry_point, "candidate"}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "check" and node.args.args:
            names.add(node.args.args[0].arg)
    return names


def _is_call(node: ast.AST, names: set[str]) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names


def _compared(node: ast.AST, names: set[str]) -> bool:
    """A call of the function whose own arguments use no other result of it."""
    return _is_call(node, names) and not any(_has_call(a, names) for a in node.args)  # type: ignore[attr-defined]


def _has_call(node: ast.AST, names: set[str]) -> bool:
    return any(_is_call(n, names) for n in ast.walk(node))


def _wrapped(node: ast.AST, names: set[str]) -> str | None:
    """"" when `node` is the call itself, the normalizer's name when it is ``tuple(call)``
    and the like, else None."""
    if _compared(node, names):
        return ""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _NORMALIZERS \
            and len(node.args) == 1 and not node.keywords and _compared(node.args[0], names):
        return node.func.id
    return None


def _site(test: ast.expr, names: set[str]) -> Comparison | None:
    """The comparison one assert makes of a call's result (None: not a modelled shape)."""
    if _compared(test, names):
        return Comparison("truth")
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _compared(test.operand, names):
        return Comparison("truth")
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        if isinstance(op, (ast.Eq, ast.Is)):
            for side, other in ((left, right), (right, left)):
                how = _wrapped(side, names)
                if how is not None and not _has_call(other, names):
                    if isinstance(op, ast.Is):
                        return Comparison("equal", how, strict=True)
                    return Comparison("equal", how)
            return None
        if isinstance(op, (ast.Lt, ast.LtE)) and isinstance(right, ast.Constant) \
                and _number(right.value) and _abs_difference(left, names):
            return Comparison("close", abs_tol=float(right.value))
        return None
    if isinstance(test, ast.Call) and ast.unparse(test.func) in ("math.isclose", "isclose") \
            and len(test.args) == 2 and sum(_compared(a, names) for a in test.args) == 1 \
            and not any(_has_call(a, names) and not _compared(a, names) for a in test.args):
        tol: dict[str | None, Any] = {k.arg: k.value.value for k in test.keywords if isinstance(k.value, ast.Constant)}
        return Comparison("close", abs_tol=float(tol.get("abs_tol", 0.0)),
                          rel_tol=float(tol.get("rel_tol", 1e-9)))
    return None


def _abs_difference(node: ast.expr, names: set[str]) -> bool:
    """``abs(call - x)``, ``abs(x - call)``, ``math.fabs(...)`` of the same."""
    if not (isinstance(node, ast.Call) and ast.unparse(node.func) in ("abs", "math.fabs", "fabs")
            and len(node.args) == 1):
        return False
    diff = node.args[0]
    if not (isinstance(diff, ast.BinOp) and isinstance(diff.op, ast.Sub)):
        return False
    sides = (diff.left, diff.right)
    return sum(_compared(s, names) for s in sides) == 1 and \
        not any(_has_call(s, names) and not _compared(s, names) for s in sides)


# ---------------------------------------------------------------------------------------------
# The cases


@dataclass(frozen=True)
class DiffCase(CallCase):
    """One differential test: a literal call compared with the reference's output
    (`expected`) as `comparison` says; the sample's call may take `budget_ops` line events.
    The name is ``diff[i]``."""

    comparison: Comparison = field(default_factory=Comparison)
    budget_ops: int = MIN_OPS
    ref_ops: int = 0

    def check(self, result: Any) -> tuple[bool, str]:
        if self.comparison.same(self.expected, result):
            return True, ""
        return False, (f"on input {_short(self.args_src, 120)} the reference returned "
                       f"{_short(repr(self.expected))}, this returned {_short(repr(result))}")

    def over_budget(self, ops: int) -> str:
        """The failure of a call that ran past its budget."""
        return (f"on input {_short(self.args_src, 120)} it ran past the operation budget "
                f"({ops} line events; the reference needed {self.ref_ops})")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def case(index: int, args_src: str, expected_json: Any, ref_ops: int, how: Comparison) -> DiffCase:
    """The `DiffCase` of one kept input (`expected_json`: the reference's output as tagged
    JSON, as the artifact stores it)."""
    return DiffCase(f"diff[{index}]", args_src, "diff", decode(expected_json), comparison=how,
                    budget_ops=budget_for(ref_ops), ref_ops=ref_ops)


# ---------------------------------------------------------------------------------------------
# Inputs: type-aware mutation of the tests' literal arguments
#
# What the literals share is kept, because a prompt's preconditions (a positive count, a
# sorted list, a date "mm-dd-yyyy", two strings of one length) are seldom checked by its
# reference: an input that breaks one would test behaviour the task never defined. So
# numbers stay within the range the tests use, strings keep their runs of digits, letters
# and spaces (a digit is replaced by a digit, a letter by a letter of the same case; only
# letter runs grow or shrink; brackets come and go as pairs), and relations that hold in
# every test call hold in every mutant (`Relations`).


@dataclass
class Shape:
    """What every test literal at one argument position (or one level inside it) shares."""

    types: set[type] = field(default_factory=set)
    nonneg: bool = True          # numbers: none negative
    positive: bool = True        # numbers: none below 1
    low: float = math.inf        # numbers: the smallest and largest seen
    high: float = -math.inf
    chars: set[str] = field(default_factory=set)   # strings: every character seen
    nonempty: bool = True        # strings, containers: none empty
    ascending: bool = True       # sequences: all sorted ascending (of those with 2+ items)
    descending: bool = True
    distinct: bool = True        # sequences: no repeated item
    lengths: set[int] = field(default_factory=set)
    all_distinct: bool = True    # the ints anywhere inside one value: never one repeated ...
    permutation: bool = True     # ... and always exactly 1..n
    rectangular: bool = True     # a sequence of sequences, all of one length ...
    square: bool = True          # ... and that length is the number of them
    strings: int = 0             # how many strings were seen
    items: "Shape | None" = None     # containers' items (dicts: keys)
    values: "Shape | None" = None    # dicts' values

    def observe(self, value: Any, top: bool = True) -> None:
        t = type(value)
        self.types.add(t)
        if top:
            ints = _nested_ints(value)
            self.all_distinct &= len(ints) >= 2 and len(set(ints)) == len(ints)
            self.permutation &= len(ints) >= 2 and sorted(ints) == list(range(1, len(ints) + 1))
            rows = _rows(value)
            self.rectangular &= rows is not None and len({len(r) for r in rows}) == 1
            self.square &= rows is not None and all(len(r) == len(rows) for r in rows)
        if t in (int, float):
            self.nonneg &= value >= 0
            self.positive &= value >= 1
            self.low, self.high = min(self.low, value), max(self.high, value)
        elif t is str:
            self.chars |= set(value)
            self.nonempty &= bool(value)
            self.lengths.add(len(value))
            self.strings += 1
        elif t in (list, tuple, set, frozenset, dict):
            items = list(value)
            self.nonempty &= bool(items)
            self.lengths.add(len(items))
            if t in (list, tuple) and len(items) >= 2:
                try:
                    self.ascending &= all(a <= b for a, b in zip(items, items[1:]))
                    self.descending &= all(a >= b for a, b in zip(items, items[1:]))
                except TypeError:
                    self.ascending = self.descending = False
                self.distinct &= not _repeats(items)
            self.items = self.items or Shape()
            for item in items:
                self.items.observe(item, top=False)
            if t is dict:
                self.values = self.values or Shape()
                for v in value.values():
                    self.values.observe(v, top=False)

    def fits(self, value: Any, top: bool = True, depth: int = 0) -> bool:
        """True when `value` keeps every trait the test literals share."""
        t = type(value)
        if t not in self.types or depth > 50:
            return False
        if top and (self.all_distinct or self.permutation):
            ints = _nested_ints(value)
            if len(set(ints)) != len(ints) or (self.permutation and sorted(ints) != list(range(1, len(ints) + 1))):
                return False
        if top and (self.rectangular or self.square):
            rows = _rows(value)
            if rows is None or len({len(r) for r in rows}) != 1 \
                    or (self.square and any(len(r) != len(rows) for r in rows)):
                return False
        if t in (int, float):
            if self.low < self.high and not self.low <= value <= self.high:
                return False
            return not (self.nonneg and value < 0) and not (self.positive and value < 1)
        if t is str:
            return (set(value) <= self.chars and not (self.nonempty and not value)
                    and not (self.fixed_length and len(value) not in self.lengths))
        if t in (list, tuple, set, frozenset, dict):
            items = list(value)
            if self.nonempty and not items:
                return False
            if t is tuple and len(self.lengths) == 1 and len(items) not in self.lengths:
                return False
            if t in (list, tuple) and len(items) >= 2:
                try:
                    if self.ascending and any(a > b for a, b in zip(items, items[1:])):
                        return False
                    if self.descending and not self.ascending and any(a < b for a, b in zip(items, items[1:])):
                        return False
                except TypeError:
                    return False
                if self.distinct and _repeats(items):
                    return False
            if self.items is not None and not all(self.items.fits(x, False, depth + 1) for x in items):
                return False
            if t is dict and self.values is not None:
                return all(self.values.fits(v, False, depth + 1) for v in value.values())
        return True


    @property
    def fixed_length(self) -> bool:
        """Strings: three or more seen, all of one length (a format: a date, a code)."""
        return self.strings >= 3 and len(self.lengths) == 1


def _rows(value: Any) -> list[Any] | None:
    """The rows of a non-empty sequence of sequences (a grid), else None."""
    if type(value) in (list, tuple) and value and all(type(r) in (list, tuple, str) for r in value):
        return list(value)
    return None


def _nested_ints(value: Any, depth: int = 0) -> list[int]:
    if type(value) is int:
        return [value]
    if type(value) in (list, tuple, set, frozenset) and depth < 20:
        return [i for v in value for i in _nested_ints(v, depth + 1)]
    if type(value) is dict and depth < 20:
        return [i for k, v in value.items() for i in _nested_ints(k, depth + 1) + _nested_ints(v, depth + 1)]
    return []


def _repeats(items: list[Any]) -> bool:
    try:
        return len(set(items)) != len(items)
    except TypeError:
        return any(items.count(x) > 1 for x in items)


@dataclass(frozen=True)
class Relations:
    """Relations between the arguments that hold in every test call of one arity: a
    constant difference of two lengths (two strings of one length, n operators for n + 1
    operands), one number at most another, a number at most a length (an index)."""

    length_gaps: tuple[tuple[int, int, int], ...] = ()     # (i, j, len(i) - len(j))
    at_most: tuple[tuple[int, int, bool], ...] = ()        # (i, j, strict): a[i] <= a[j]
    within: tuple[tuple[int, int, bool], ...] = ()         # (i, j, strict): 0 <= a[i] <= len(a[j])

    @classmethod
    def of(cls, calls: Sequence[tuple[Any, ...]]) -> "Relations":
        n = len(calls[0])
        sized = [i for i in range(n) if all(type(c[i]) in (str, list, tuple, dict, set, frozenset) for c in calls)]
        numbers = [i for i in range(n) if all(type(c[i]) in (int, float) for c in calls)]
        gaps = [(i, j, len(calls[0][i]) - len(calls[0][j])) for i in sized for j in sized if i < j]
        gaps = [(i, j, d) for i, j, d in gaps if all(len(c[i]) - len(c[j]) == d for c in calls)]
        at_most = [(i, j, all(c[i] < c[j] for c in calls)) for i in numbers for j in numbers
                   if i != j and all(c[i] <= c[j] for c in calls)]
        within = [(i, j, all(c[i] < len(c[j]) for c in calls)) for i in numbers for j in sized
                  if all(type(c[i]) is int and 0 <= c[i] <= len(c[j]) for c in calls)]
        return cls(tuple(gaps), tuple(at_most), tuple(within))

    def hold(self, args: tuple[Any, ...]) -> bool:
        try:
            return (all(len(args[i]) - len(args[j]) == d for i, j, d in self.length_gaps)
                    and all(args[i] < args[j] if strict else args[i] <= args[j] for i, j, strict in self.at_most)
                    and all(0 <= args[i] and (args[i] < len(args[j]) if strict else args[i] <= len(args[j]))
                            for i, j, strict in self.within))
        except TypeError:
            return False


def _variants(value: Any, shape: Shape, rng: random.Random, depth: int = 0) -> list[Any]:
    """Type-aware mutants of one value (some may not fit `shape`; the caller filters)."""
    t = type(value)
    if t is bool:
        return [not value]
    if t is int:
        out: list[Any] = [value + 1, value - 1]
        if shape.low < shape.high:   # the boundary values the tests use, and what lies between
            out += [int(shape.low), int(shape.high), (int(shape.low) + int(shape.high)) // 2, 0, 1]
        return out
    if t is float:
        out = [value + 1.0, value - 1.0, value * 2, value / 2, value + 0.5, -value]
        if shape.low < shape.high:
            out += [float(shape.low), float(shape.high), (shape.low + shape.high) / 2, 0.0]
        return out
    if t is str:
        return _string_variants(value, shape, rng)
    if t in (list, tuple):
        return [t(v) for v in _sequence_variants(list(value), shape, rng, depth)]
    if t in (set, frozenset):
        items = sorted(value, key=repr)
        out = [t(items[:i] + items[i + 1:]) for i in range(min(len(items), 3))]
        if items and shape.items is not None:
            out += [t(items + [m]) for m in _variants(rng.choice(items), shape.items, rng, depth + 1)[:3]]
        return out
    if t is dict:
        keys = list(value)
        out = [{k: v for k, v in value.items() if k != key} for key in keys[:3]]
        if keys and shape.items is not None and shape.values is not None:
            key = rng.choice(keys)
            out += [{**value, key: v} for v in _variants(value[key], shape.values, rng, depth + 1)[:3]]
            out += [{**value, k: value[key]} for k in _variants(key, shape.items, rng, depth + 1)[:3]]
        return out
    return []


def _kind(c: str) -> str:
    return "d" if c.isdigit() else "l" if c.islower() else "u" if c.isupper() else c


def _string_variants(s: str, shape: Shape, rng: random.Random) -> list[str]:
    """Mutants that keep the string's runs of digits, letters, spaces and punctuation: a
    digit or letter replaced by another of its kind (from the characters the tests use), a
    letter duplicated, deleted from a run of two or more, or swapped with its neighbour in
    the run; a bracket pair deleted or inserted."""
    out = [""] if s else []
    n = len(s)
    pool = {k: sorted(c for c in shape.chars if _kind(c) == k) for k in "dlu"}
    for i in sorted(rng.sample(range(n), min(n, 4))):
        c, k = s[i], _kind(s[i])
        if k not in pool:
            continue
        others = [x for x in pool[k] if x != c]
        if others:
            out.append(s[:i] + rng.choice(others) + s[i + 1:])                  # replace
        if k in "lu":
            out.append(s[:i + 1] + s[i:])                                       # duplicate
            same_left = i > 0 and _kind(s[i - 1]) == k
            same_right = i + 1 < n and _kind(s[i + 1]) == k
            if same_left or same_right:
                out.append(s[:i] + s[i + 1:])                                   # delete
            if same_right and s[i + 1] != c:
                out.append(s[:i] + s[i + 1] + c + s[i + 2:])                    # swap
    for pair in ("()", "[]", "{}", "<>"):
        at = s.find(pair)
        if at >= 0:
            out.append(s[:at] + s[at + 2:])                                     # a pair less
            out.append(s[:at] + pair + s[at:])                                  # one more
    return out


def _sequence_variants(items: list[Any], shape: Shape, rng: random.Random, depth: int) -> list[list[Any]]:
    """Delete, duplicate, swap, replace (by a mutant) and insert one element."""
    n = len(items)
    spots = sorted(rng.sample(range(n), min(n, 3))) if n else []
    out: list[list[Any]] = [[]] if n else []
    for i in spots:
        out.append(items[:i] + items[i + 1:])                       # delete
        out.append(items[:i + 1] + items[i:])                       # duplicate
        if i + 1 < n:
            out.append(items[:i] + [items[i + 1], items[i]] + items[i + 2:])   # swap
    if shape.items is not None and depth < 4:
        for i in spots:
            for m in _variants(items[i], shape.items, rng, depth + 1)[:3]:
                out.append(items[:i] + [m] + items[i + 1:])         # replace by a mutant
                out.append(items[:i] + [m] + items[i:])             # insert a mutant
    if (shape.ascending or shape.descending) and n >= 2:   # keep the order the tests keep
        out = [sorted(v, reverse=shape.descending and not shape.ascending) if _sortable(v) else v
               for v in out]
    return out


def _sortable(items: list[Any]) -> bool:
    try:
        sorted(items)
        return True
    except TypeError:
        return False


def _literal(args: tuple[Any, ...]) -> str | None:
    """The source of `args` if it reads back as the same value (inf, nan and the like do
    not), within the size limit."""
    src = repr(args)
    if len(src) > MAX_ARG_CHARS:
        return None
    try:
        back = ast.literal_eval(src)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return src if back == args and repr(back) == src else None


def mutants(task: Task) -> list[str]:
    """Candidate inputs for differential testing (argument-tuple sources), deterministic
    for the task's content: mutants of the tests' literal arguments, one argument at a
    time, then each call's sequences and strings grown ten times; all keep what the
    literals share (`Shape`, `Relations`); at most ``MAX_POOL``, none equal to a test's
    own arguments."""
    bases = perfinputs.call_arguments(task)
    if not bases:
        return []
    rng = random.Random(hashlib.sha256(f"{task.entry_point}\0{task.tests}".encode()).digest())
    by_arity: dict[int, list[tuple[Any, ...]]] = {}
    for args in bases:
        by_arity.setdefault(len(args), []).append(args)
    seen = {repr(a) for a in bases}

    def keep(args: tuple[Any, ...], rules: tuple[list[Shape], Relations], into: list[str]) -> None:
        position_shapes, relations = rules
        if all(s.fits(v) for s, v in zip(position_shapes, args)) and relations.hold(args):
            src = _literal(args)
            if src is not None and src not in seen:
                seen.add(src)
                into.append(src)

    pools: list[tuple[list[tuple[Any, ...]], tuple[list[Shape], Relations]]] = []
    scaled: list[str] = []
    for group in by_arity.values():
        position_shapes = [Shape() for _ in group[0]]
        for args in group:
            for shape, value in zip(position_shapes, args):
                shape.observe(value)
        rules = (position_shapes, Relations.of(group))
        pool = [args[:i] + (v,) + args[i + 1:] for args in group for i, value in enumerate(args)
                for v in _variants(value, position_shapes[i], rng)]
        rng.shuffle(pool)
        pools.append((pool, rules))
        for args in group:
            for descending in (False, True):
                keep(perfinputs.grown(args, 10, descending), rules, scaled)
    mutated: list[str] = []
    for k in range(max(len(p) for p, _ in pools)):   # interleaved: no arity crowds out another
        for pool, rules in pools:
            if k < len(pool):
                keep(pool[k], rules, mutated)
    scaled = scaled[:MAX_POOL // 4]
    return mutated[:MAX_POOL - len(scaled)] + scaled


# ---------------------------------------------------------------------------------------------
# Choosing the cases from the reference's two runs


@dataclass(frozen=True)
class DiffInput:
    """One kept input: its source, the reference's output (tagged JSON) and its count."""

    args: str
    expected: Any
    ref_ops: int

    def to_dict(self) -> dict[str, Any]:
        return {"args": self.args, "expected": self.expected, "ref_ops": self.ref_ops}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiffInput":
        return cls(d["args"], d["expected"], int(d["ref_ops"]))


def choose(sources: Sequence[str], first: Sequence[ProbeReply], second: Sequence[ProbeReply],
           how: Comparison) -> tuple[tuple[DiffInput, ...], dict[str, int]]:
    """The inputs on which both runs of the reference returned the same plain value within
    the budget, the contract accepting them (up to ``MAX_CASES``, in candidate order), and
    how many were dropped for which reason. None at all when the two runs answered one input
    differently: a nondeterministic reference is no oracle."""
    again = {r.index: r for r in second}
    counts = {"candidates": len(sources), "raised": 0, "over_budget": 0, "rejected": 0,
              "unstable": 0, "too_large": 0, "uncomparable": 0, "kept": 0}
    kept: list[DiffInput] = []
    for r in sorted(first, key=lambda r: r.index):
        if not 0 <= r.index < len(sources) or len(kept) >= MAX_CASES:
            continue
        if r.rejected:
            counts["rejected"] += 1
        elif r.over_budget:
            counts["over_budget"] += 1
        elif not r.ok or r.ops is None:
            counts["raised"] += 1
        else:
            other = again.get(r.index)
            if other is None or not other.ok or other.value != r.value:
                counts["unstable"] += 1
            elif len(json.dumps(r.value)) > MAX_OUT_CHARS:
                counts["too_large"] += 1
            elif not _comparable(r.value, how):
                counts["uncomparable"] += 1
            else:
                kept.append(DiffInput(sources[r.index], r.value, r.ops))
    if counts["unstable"]:     # a reference that answers one input two ways is no oracle
        kept = []
    counts["kept"] = len(kept)
    return tuple(kept), counts


def _comparable(expected_json: Any, how: Comparison) -> bool:
    """The expected value decodes and compares equal to itself as the tests compare."""
    try:
        value = decode(expected_json)
    except (ValueError, TypeError, KeyError):
        return False
    return how.same(value, value)
