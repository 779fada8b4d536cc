"""Splitting a task's trusted tests into what runs where.

A test of the shape ``assert f(<literal args>) == <literal expected>`` (most HumanEval and
MBPP tests) becomes a `CallCase`: only the call crosses into the candidate's process, and
the host compares the returned plain data with the expected value, which never enters the
sandbox at all. The same holds for ``assert f(...)``, ``assert not f(...)`` and
``assert f(...) is True/False/None``.

Every other test becomes a script run by the sandbox's trusted tester process, beside the
candidate's process, with ``candidate`` (and the entry point's name) bound to a proxy whose
return values are plain data: the tests' own comparisons cannot be fooled either.

Nothing of the tests is dropped unseen. Splitting the literal asserts out leaves the other
statements; the host leaves out only those it understands to do nothing (``pass``, a
docstring, ``assert True``, a name bound to a literal such as HumanEval's ``METADATA``, a
plain function definition). Any other statement that no script would run (an import, a loop,
a call: ``while True: pass`` before literal asserts) makes the whole test source, as written,
one more script.

>>> plan = plan_tests("assert add(1, 2) == 3\\nassert add(2, 2) > 3\\n", "add")
>>> [c.args_src for c in plan.calls], len(plan.scripts)
(['(1, 2)'], 1)
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from typing import Any

from codealign.errors import InputError
from codealign.sandbox.plain import Opaque

__all__ = ["CallCase", "TestPlan", "plan_tests"]


@dataclass(frozen=True)
class CallCase:
    """One literal call and how its result is judged (`op`: eq, truthy, falsy, is)."""

    name: str
    args_src: str
    op: str
    expected: Any = None

    def check(self, result: Any) -> tuple[bool, str]:
        """Judge a decoded result on the host. Returns (passed, explanation)."""
        if isinstance(result, Opaque):
            return False, f"returned a non-plain object {result!r}"
        if self.op == "eq":
            ok = _plain_equal(result, self.expected)
            return ok, "" if ok else f"expected {_short(self.expected)}, got {_short(result)}"
        if self.op == "is":
            ok = result is self.expected
            return ok, "" if ok else f"expected {self.expected!r}, got {_short(result)}"
        truth = bool(result)
        ok = truth if self.op == "truthy" else not truth
        return ok, "" if ok else f"expected a {'true' if self.op == 'truthy' else 'false'} value, got {_short(result)}"


@dataclass(frozen=True)
class TestPlan:
    """The literal calls (compared on the host) and the scripts (run by the tester)."""

    calls: tuple[CallCase, ...]
    scripts: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.calls) + len(self.scripts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _plain_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except RecursionError:
        return False


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _literal_call(node: ast.AST, names: set[str]) -> str | None:
    """The args source if `node` is a call of the function under test with literal args."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names
            and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)):
        return None
    if not all(_literal(a)[0] for a in node.args):
        return None
    return ast.unparse(ast.Tuple(elts=node.args, ctx=ast.Load()))


def _call_case(stmt: ast.stmt, names: set[str], index: int) -> CallCase | None:
    if not isinstance(stmt, ast.Assert):
        return None
    test, name = stmt.test, f"call[{index}]"
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        if isinstance(op, ast.Eq):
            for call, other in ((left, right), (right, left)):
                args = _literal_call(call, names)
                ok, expected = _literal(other)
                if args is not None and ok:
                    return CallCase(name, args, "eq", expected)
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value in (True, False, None):
            args = _literal_call(left, names)
            if args is not None:
                return CallCase(name, args, "is", right.value)
        return None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        args = _literal_call(test.operand, names)
        return CallCase(name, args, "falsy") if args is not None else None
    args = _literal_call(test, names)
    return CallCase(name, args, "truthy") if args is not None else None


def _trivial(stmt: ast.stmt) -> bool:
    """Statements that test nothing: ``assert True``, ``pass``, docstrings."""
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True
    return isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) and bool(stmt.test.value)


def _inert(stmt: ast.stmt) -> bool:
    """Statements that do nothing the tests' verdict depends on when left out: trivial ones, a
    name bound to a literal, a function defined without decorators or computed defaults (its
    body runs only if called, and a call is a statement that is kept)."""
    if _trivial(stmt):
        return True
    if isinstance(stmt, ast.Assign):
        return all(isinstance(t, ast.Name) for t in stmt.targets) and _literal(stmt.value)[0]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        defaults = [*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None)]
        return not stmt.decorator_list and all(_literal(d)[0] for d in defaults)
    return False


def _as_written(tests: str, suffix: str = "") -> str:
    return tests.rstrip("\n") + "\n" + suffix


def plan_tests(tests: str, entry_point: str, *, where: str = "tests") -> TestPlan:
    """Split trusted test source into literal calls and scripts (see the module docstring).

    >>> plan = plan_tests("while True:\\n    pass\\nassert add(1, 2) == 3\\n", "add")
    >>> len(plan.calls), plan.scripts == ("while True:\\n    pass\\nassert add(1, 2) == 3\\n",)
    (1, True)
    """
    try:
        module = ast.parse(tests)
    except SyntaxError as exc:
        raise InputError(f"tests do not parse: {exc.msg} (line {exc.lineno})", field=where) from exc
    check = next((s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"), None)
    if check is not None:
        return _plan_check(module, check, entry_point, tests)
    return _plan_statements(module, entry_point, tests)


def _plan_check(module: ast.Module, check: ast.FunctionDef, entry_point: str, tests: str) -> TestPlan:
    """HumanEval style: literal asserts leave check(); the rest stays one script."""
    names = {entry_point, "candidate"} | {a.arg for a in check.args.args[:1]}
    calls: list[CallCase] = []
    rest: list[ast.stmt] = []
    for stmt in check.body:
        case = _call_case(stmt, names, len(calls))
        if case is not None:
            calls.append(case)
        else:
            rest.append(stmt)
    scripts: tuple[str, ...] = ()
    if not all(_trivial(s) for s in rest):
        body = [s for s in module.body if s is not check]
        new_check = ast.FunctionDef(name="check", args=check.args, body=rest, decorator_list=[],
                                    returns=None, type_comment=None)
        if sys.version_info >= (3, 12):     # a required field from 3.12 on
            new_check.type_params = []
        runner = ast.parse("check(candidate)").body
        scripts = (ast.unparse(ast.fix_missing_locations(ast.Module(body=body + [new_check] + runner,
                                                                    type_ignores=[]))),)
    elif not calls or not all(_inert(s) for s in module.body if s is not check):
        scripts = (_as_written(tests, "check(candidate)\n"),)
    return TestPlan(tuple(calls), scripts)


def _plan_statements(module: ast.Module, entry_point: str, tests: str) -> TestPlan:
    """MBPP style: each assert is one test; other statements are the preamble of each script
    after them (those after the last such script: see `_inert`)."""
    names = {entry_point, "candidate"}
    calls: list[CallCase] = []
    scripts: list[str] = []
    preamble: list[ast.stmt] = []
    unscripted = 0                      # preamble statements no script has run yet start here
    for stmt in module.body:
        if isinstance(stmt, ast.Assert):
            if _trivial(stmt):
                continue
            case = _call_case(stmt, names, len(calls))
            if case is not None:
                calls.append(case)
            else:
                scripts.append(ast.unparse(ast.Module(body=preamble + [stmt], type_ignores=[])))
                unscripted = len(preamble)
        else:
            preamble.append(stmt)
    if (not calls and not scripts) or not all(_inert(s) for s in preamble[unscripted:]):
        scripts.append(_as_written(tests))
    return TestPlan(tuple(calls), tuple(scripts))
