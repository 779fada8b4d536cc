"""One-edit variants of a program (mutants), to measure how strong a task's tests are.

A mutant is the program with one small edit of the kind a subtly wrong solution makes:

========== ==============================================================================
operator   edits
========== ==============================================================================
comparison ``<`` ↔ ``<=``, ``>`` ↔ ``>=`` (boundary), ``<`` ↔ ``>``, ``<=`` ↔ ``>=`` (flipped),
           ``==`` ↔ ``!=``, ``is`` ↔ ``is not``, ``in`` ↔ ``not in``
arithmetic ``+`` ↔ ``-``, ``*`` → ``/``, ``/`` → ``*``, ``//`` → ``/``, ``%`` → ``//``,
           ``**`` → ``*``, ``<<`` ↔ ``>>``, ``&`` ↔ ``|``, ``^`` → ``&`` (also in ``x += y``);
           a unary minus dropped
boolean    ``and`` ↔ ``or``
constant   an integer ``n`` → ``n + 1`` and ``n - 1``; a float ``x`` → ``x + 1``; ``True`` ↔
           ``False``; a non-empty string → ``""``
negation   ``not x`` → ``x``
slice      a bound ``i`` → ``i + 1`` and ``i - 1``; a missing start → ``1``; a missing stop →
           ``-1``; a step dropped
return     ``return x`` → ``return None``; a boolean ``return c`` → ``return not c``
========== ==============================================================================

Only the code a solution writes is mutated: for a code prompt (HumanEval), what follows the
prompt; nowhere docstrings, annotations, decorators or imports. The program is parsed and
unparsed with `ast` on the host, never run here. Mutants are deterministic: the same program
gives the same mutants in the same order (source order, then operator), each a program
distinct from the original and from every other one, each compiling; beyond `limit` an
evenly spaced selection across the program is kept.

>>> [m.description for m in mutate("def f(x):\\n    return x < 2\\n")]
['line 2: `return x < 2` -> `return None`', 'line 2: `return x < 2` -> `return not x < 2`', 'line 2: `<` -> `<=`', 'line 2: `<` -> `>`', 'line 2: `2` -> `3`', 'line 2: `2` -> `1`']
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Operator", "Mutant", "MAX_MUTANTS", "mutate"]

MAX_MUTANTS = 40   # per program: enough to spread over a HumanEval or MBPP solution


class Operator(str, enum.Enum):
    """The kind of edit a mutant makes (see the module docstring)."""

    COMPARISON = "comparison"
    ARITHMETIC = "arithmetic"
    BOOLEAN = "boolean"
    CONSTANT = "constant"
    NEGATION = "negation"
    SLICE = "slice"
    RETURN = "return"


@dataclass(frozen=True)
class Mutant:
    """One edited program: which operator, where (1-based line, 0-based column), what
    changed (`description`, for people), and the whole module (`code`)."""

    operator: Operator
    line: int
    col: int
    description: str
    code: str

    def to_dict(self) -> dict[str, str | int]:
        return {"operator": self.operator.value, "line": self.line, "col": self.col,
                "description": self.description, "code": self.code}


_COMPARISONS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.LShift: ast.RShift,
    ast.RShift: ast.LShift, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd,
}
_SYMBOL: dict[type[ast.AST], str] = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
           ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
           ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>",
           ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.And: "and", ast.Or: "or"}
_BOOLEAN_VALUED = (ast.Compare, ast.BoolOp)

# An edit: (operator, slot, new value, before, after). A slot is where the new value goes:
# (node, field name) or (list, index); edits are made in place, unparsed, and undone.
_Slot = tuple[object, "str | int"]
_Edit = tuple[Operator, _Slot, object, str, str]


def _plus(node: ast.expr, k: int) -> ast.expr:
    return ast.BinOp(node, ast.Add() if k > 0 else ast.Sub(), ast.Constant(abs(k)))


def _skipped(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, decorators, imports."""
    out: set[int] = set()

    def drop(node: ast.AST | None) -> None:
        if node is not None:
            out.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            drop(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for d in node.decorator_list:
                drop(d)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            drop(node.returns)
        if isinstance(node, ast.arg):
            drop(node.annotation)
        if isinstance(node, ast.AnnAssign):
            drop(node.annotation)
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.JoinedStr)):
            drop(node)
    return out


def _parents(tree: ast.Module) -> dict[int, _Slot]:
    """Each node's slot in its parent."""
    out: dict[int, _Slot] = {}
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, ast.AST):
                out[id(value)] = (parent, field)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        out[id(item)] = (value, i)
    return out


def _edits(node: ast.AST, parent: _Slot | None) -> Iterator[_Edit]:
    """Every edit of one node."""
    src = ast.unparse(node) if isinstance(node, ast.expr) else ""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for comparison in _COMPARISONS.get(type(op), ()):
                yield (Operator.COMPARISON, (node.ops, i), comparison(), _SYMBOL[type(op)],
                       _SYMBOL[comparison])
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _ARITHMETIC:
        arithmetic = _ARITHMETIC[type(node.op)]
        yield (Operator.ARITHMETIC, (node, "op"), arithmetic(), _SYMBOL[type(node.op)],
               _SYMBOL[arithmetic])
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)) and parent:
        operator = Operator.ARITHMETIC if isinstance(node.op, ast.USub) else Operator.NEGATION
        yield (operator, parent, node.operand, src, ast.unparse(node.operand))
    elif isinstance(node, ast.BoolOp):
        boolean: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield (Operator.BOOLEAN, (node, "op"), boolean(), _SYMBOL[type(node.op)], _SYMBOL[boolean])
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield (Operator.CONSTANT, (node, "value"), not value, src, repr(not value))
        elif isinstance(value, int):
            for k in (1, -1):
                yield (Operator.CONSTANT, (node, "value"), value + k, src, repr(value + k))
        elif isinstance(value, float):
            yield (Operator.CONSTANT, (node, "value"), value + 1, src, repr(value + 1))
        elif isinstance(value, str) and value:
            yield (Operator.CONSTANT, (node, "value"), "", src, "''")
    elif isinstance(node, ast.Slice):
        for field in ("lower", "upper"):
            bound = getattr(node, field)
            if bound is not None:
                for k in (1, -1):
                    moved = _plus(bound, k)
                    yield (Operator.SLICE, (node, field), moved, f"{field} {ast.unparse(bound)}",
                           f"{field} {ast.unparse(moved)}")
            else:
                value = 1 if field == "lower" else -1
                yield (Operator.SLICE, (node, field), ast.Constant(value), f"no {field}",
                       f"{field} {value}")
        if node.step is not None:
            yield (Operator.SLICE, (node, "step"), None, f"step {ast.unparse(node.step)}", "no step")
    elif isinstance(node, ast.Return) and node.value is not None:
        returned = ast.unparse(node)
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield (Operator.RETURN, (node, "value"), ast.Constant(None), returned, "return None")
        if isinstance(node.value, _BOOLEAN_VALUED):
            yield (Operator.RETURN, (node, "value"), ast.UnaryOp(ast.Not(), node.value),
                   returned, f"return not {ast.unparse(node.value)}")


def _unparse_with(tree: ast.Module, slot: _Slot, value: object) -> str:
    """The program with `value` in `slot`, the tree left as it was."""
    container, key = slot
    if isinstance(container, list) and isinstance(key, int):
        old = container[key]
        container[key] = value
        try:
            return ast.unparse(tree)
        finally:
            container[key] = old
    if not isinstance(key, str):
        raise TypeError(f"slot ({type(container).__name__}, {key!r}): an index needs a list")
    old = getattr(container, key)
    setattr(container, key, value)
    try:
        return ast.unparse(tree)
    finally:
        setattr(container, key, old)


def mutate(code: str, *, start: tuple[int, int] = (1, 0), limit: int = MAX_MUTANTS) -> list[Mutant]:
    """The mutants of `code` (see the module docstring), at most `limit`.

    `start` (line, column): only nodes beginning there or after are edited (for a code
    prompt, the end of the prompt). A program that does not parse has no mutants.
    """
    try:
        tree = ast.parse(code)
        seen = {ast.unparse(tree)}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    skipped, parents = _skipped(tree), _parents(tree)
    edits: list[tuple[tuple[int, int, int], _Edit, int, int]] = []
    for index, node in enumerate(ast.walk(tree)):
        line: int | None = getattr(node, "lineno", None)
        col: int | None = getattr(node, "col_offset", None)
        if line is None or col is None or id(node) in skipped or (line, col) < start:
            continue
        for k, edit in enumerate(_edits(node, parents.get(id(node)))):
            edits.append(((line, col, index * 16 + k), edit, line, col))
    edits.sort(key=lambda e: e[0])
    out: list[Mutant] = []
    for _, (operator, slot, value, before, after), line, col in edits:
        try:
            text = _unparse_with(tree, slot, value)
            compile(text, "<mutant>", "exec")   # compiles only: nothing runs on the host
        except (SyntaxError, ValueError, TypeError, RecursionError):
            continue
        if text in seen:
            continue
        seen.add(text)
        out.append(Mutant(operator, line, col, f"line {line}: `{before}` -> `{after}`", text + "\n"))
    if len(out) > limit:
        out = [out[i * len(out) // limit] for i in range(limit)]
    return out
