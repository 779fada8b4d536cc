"""Code extraction on literal completions: continuations, fenced answers, chatter."""

from __future__ import annotations

import ast

import pytest

from codealign.generator.extract import (cut_continuation, extract_code, fenced_blocks,
                                         keep_entry_point)
from codealign.tasks.task import Task

CODE_TASK = Task("he/1", 'def add(a, b):\n    """Add two numbers."""\n', "add",
                 "assert add(1, 2) == 3", prompt_style="code")
TEXT_TASK = Task("t/1", "Write a function add(a, b) returning the sum.", "add",
                 "assert add(1, 2) == 3")


@pytest.mark.parametrize("tail", ["\ndef other():\n    pass\n", "\nclass X:\n    pass\n",
                                  "\nif __name__ == '__main__':\n    add(1, 2)\n",
                                  "\nprint(add(1, 2))\n", "\n# tests\n", "\nassert add(1, 2) == 3\n",
                                  "\n```\nThat is it."])
def test_continuation_is_cut_at_each_stop_sequence(tail):
    code = extract_code(CODE_TASK, "    return a + b\n" + tail)
    assert code == CODE_TASK.prompt + "    return a + b\n"


def test_continuation_keeps_nested_defs_and_comments():
    body = "    def inner(x):\n        # add\n        return x + b\n    return inner(a)\n"
    assert extract_code(CODE_TASK, body) == CODE_TASK.prompt + body


def test_length_cut_drops_the_partial_line_and_unclosed_statements():
    body = "    total = a\n    total += b\n    return (total +\n            0"
    code = extract_code(CODE_TASK, body, "length")
    assert code == CODE_TASK.prompt + "    total = a\n    total += b\n"
    ast.parse(code)


def test_length_cut_without_any_complete_line_leaves_the_prompt():
    assert cut_continuation(CODE_TASK.prompt, "    return a +", "length") == ""


def test_stop_finish_keeps_a_last_line_without_newline():
    assert cut_continuation("def f():\n", "    return 1", "stop") == "    return 1\n"


def test_fenced_block_defining_the_entry_point_wins_over_others():
    text = ("Here is an example:\n```python\nprint(add(1, 2))\n```\n"
            "And the solution:\n```python\ndef add(a, b):\n    return a + b\n```\nDone.")
    assert extract_code(TEXT_TASK, text, chat=True) == "def add(a, b):\n    return a + b\n"


def test_fences_with_language_variants_and_unclosed_last_block():
    text = "```py\na = 1\n```\n```Python3\nb = 2\n```\n```\nc = 3\n"
    assert fenced_blocks(text) == ["a = 1", "b = 2", "c = 3\n"]


def test_entry_point_kept_with_transitive_helpers_imports_and_constants():
    source = ("import re\nfrom math import sqrt\nLIMIT = 10\n\n"
              "def _clean(s):\n    return re.sub('x', '', s)[:LIMIT]\n\n"
              "def _unused():\n    return 0\n\n"
              "def helper(s):\n    return _clean(s)\n\n"
              "@staticmethod\ndef decorated():\n    pass\n\n"
              "def solve(s):\n    return helper(s) + str(sqrt(4))\n\n"
              "print(solve('abc'))\nassert solve('') == '2.0'\n")
    kept = keep_entry_point(source, "solve")
    tree = ast.parse(kept)
    names = [getattr(n, "name", None) or type(n).__name__ for n in tree.body]
    assert names == ["Import", "ImportFrom", "Assign", "_clean", "helper", "solve"]
    assert "print(" not in kept and "assert" not in kept


def test_decorators_of_kept_functions_are_kept():
    source = "import functools\n\n@functools.lru_cache(None)\ndef fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\n"
    assert keep_entry_point(source, "fib").startswith("import functools\n@functools.lru_cache")


def test_bare_code_answer_without_fences():
    text = "def add(a, b):\n    return a + b\n\nprint(add(2, 3))"
    assert extract_code(TEXT_TASK, text, chat=True) == "def add(a, b):\n    return a + b\n"


def test_answer_without_the_entry_point_is_returned_as_is():
    text = "I cannot help with that."
    assert extract_code(TEXT_TASK, text) == "I cannot help with that.\n"
    assert keep_entry_point("not python (", "add") is None


def test_chat_answer_to_code_prompt_keeps_the_prompt_helpers():
    task = Task("he/2", "def poly(x):\n    return x\n\ndef find(x):\n    \"\"\"Find.\"\"\"\n",
                "find", "assert find(1) == 1", prompt_style="code")
    text = "```python\ndef find(x):\n    return poly(x)\n```"
    code = extract_code(task, text, chat=True)
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)  # trusted literal
    assert namespace["find"](3) == 3


def test_chat_answer_with_only_a_body_is_treated_as_a_continuation():
    code = extract_code(CODE_TASK, "```python\n    return a + b\n```", chat=True)
    assert code == CODE_TASK.prompt + "    return a + b\n"


def test_length_cut_fenced_answer_keeps_the_complete_function():
    text = ("```python\ndef add(a, b):\n    return a + b\n\n"
            "def extra(x):\n    return [x for x in")
    assert extract_code(TEXT_TASK, text, "length") == "def add(a, b):\n    return a + b\n"
