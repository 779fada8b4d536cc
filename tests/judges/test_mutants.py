"""The mutation operators: pure AST edits, deterministic, bounded, never run on the host."""

from __future__ import annotations

import ast

import pytest

from codealign.judges.mutants import Operator, mutate
from codealign.judges.strength import task_mutants
from codealign.tasks import Task


def edits(code: str) -> set[tuple[str, str]]:
    return {(m.operator.value, m.description.split(": ", 1)[1]) for m in mutate(code)}


@pytest.mark.parametrize("code, operator, edit", [
    ("def f(a, b):\n    return a < b\n", "comparison", "`<` -> `<=`"),
    ("def f(a, b):\n    return a >= b\n", "comparison", "`>=` -> `<=`"),
    ("def f(a, b):\n    return a in b\n", "comparison", "`in` -> `not in`"),
    ("def f(a, b):\n    return a - b\n", "arithmetic", "`-` -> `+`"),
    ("def f(a):\n    a += 2\n    return a\n", "arithmetic", "`+` -> `-`"),
    ("def f(a):\n    return -a\n", "arithmetic", "`-a` -> `a`"),
    ("def f(a, b):\n    return a and b\n", "boolean", "`and` -> `or`"),
    ("def f(a):\n    return a + 7\n", "constant", "`7` -> `6`"),
    ("def f(a):\n    return a == 'x'\n", "constant", "`'x'` -> `''`"),
    ("def f(a):\n    return [a, True]\n", "constant", "`True` -> `False`"),
    ("def f(a):\n    return not a\n", "negation", "`not a` -> `a`"),
    ("def f(a):\n    return a[1:]\n", "slice", "`lower 1` -> `lower 1 + 1`"),
    ("def f(a):\n    return a[:]\n", "slice", "`no upper` -> `upper -1`"),
    ("def f(a):\n    return a[::-1]\n", "slice", "`step -1` -> `no step`"),
    ("def f(a):\n    return a\n", "return", "`return a` -> `return None`"),
    ("def f(a, b):\n    return a > b\n", "return", "`return a > b` -> `return not a > b`"),
])
def test_each_operator_makes_its_edit(code, operator, edit):
    assert (operator, edit) in edits(code)


def test_mutants_are_deterministic_distinct_and_compile():
    code = ("def f(xs, n):\n    out = []\n    for i, x in enumerate(xs[1:]):\n"
            "        if x % 2 == 0 and i < n:\n            out.append(x * 2)\n    return out\n")
    first, again = mutate(code), mutate(code)
    assert [m.code for m in first] == [m.code for m in again] and first
    dumps = [ast.dump(ast.parse(m.code)) for m in first]
    assert len(set(dumps)) == len(dumps) and ast.dump(ast.parse(code)) not in dumps
    for m in first:
        compile(m.code, "<mutant>", "exec")
    assert {m.operator for m in first} >= {Operator.COMPARISON, Operator.ARITHMETIC,
                                           Operator.BOOLEAN, Operator.CONSTANT, Operator.SLICE,
                                           Operator.RETURN}
    # in source order, and a cap keeps an even spread over the program
    assert [(m.line, m.col) for m in first] == sorted((m.line, m.col) for m in first)
    capped = mutate(code, limit=5)
    assert len(capped) == 5 and capped[0] == first[0] and capped[-1].line >= first[-1].line - 1


def test_docstrings_annotations_decorators_and_imports_are_left_alone():
    code = ('import os.path as p\n\n@staticmethod\ndef f(x: int = 3) -> "str":\n'
            '    """Doc 2."""\n    return x\n')
    touched = {m.description for m in mutate(code)}
    assert touched == {"line 4: `3` -> `4`", "line 4: `3` -> `2`", "line 6: `return x` -> `return None`"}
    assert mutate("def broken(:\n") == []


def test_a_code_prompt_is_not_mutated_only_the_solution():
    prompt = 'def add(a, b=1):\n    """Add 2 numbers: add(1, 2) == 3."""\n'
    task = Task("t", prompt, "add", "assert add(1, 2) == 3\n", prompt_style="code",
                reference=prompt + "    return a + b\n")
    found = task_mutants(task)
    assert found and all(m.line == 3 for m in found)
    assert {m.description for m in found} == {"line 3: `return a + b` -> `return None`",
                                             "line 3: `+` -> `-`"}


def test_every_humaneval_solution_has_mutants():
    from codealign.tasks import load_tasks

    tasks = load_tasks("humaneval")
    counts = [len(task_mutants(t)) for t in tasks]
    assert min(counts) >= 1 and max(counts) <= 40
