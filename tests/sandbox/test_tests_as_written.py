"""A task's tests run as written (issue 18, item 8): the host splits literal asserts out for
its own verdict, and leaves out only statements it knows do nothing; any other statement a
script would not run makes the whole source, as written, one more script (so the sandbox
runs it). One property per case."""

from __future__ import annotations

import pytest

from codealign.sandbox.testcases import plan_tests

LITERAL = "assert add(1, 2) == 3\nassert add(0, 0) == 0\n"
CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n"

RUN_AS_WRITTEN = {
    "loop-before": "while True:\n    pass\n" + LITERAL,
    "loop-after": LITERAL + "while True:\n    pass\n",
    "call": "print('side effect')\n" + LITERAL,
    "import": "import os\n" + LITERAL,
    "assign-from-call": "x = open('/etc/hostname').read()\n" + LITERAL,
    "decorated-def": "@staticmethod\ndef helper():\n    pass\n" + LITERAL,
    "default-from-call": "def helper(x=print('now')):\n    pass\n" + LITERAL,
    "class": "class C:\n    print('body runs')\n" + LITERAL,
    "check-module-loop": "while True:\n    pass\n" + CHECK,
    "check-module-exit": "import sys\n" + CHECK + "sys.exit(0)\n",
}
INERT = {
    "plain": LITERAL,
    "docstring-and-pass": '"""Tests."""\npass\n' + LITERAL,
    "metadata": "METADATA = {'author': 'x', 'dataset': 'test'}\n" + LITERAL,
    "helper-def": "def helper(x=1):\n    return x\n" + LITERAL,
    "humaneval": "METADATA = {}\n\n" + CHECK,
}


@pytest.mark.parametrize("name", sorted(RUN_AS_WRITTEN))
def test_a_statement_the_host_does_not_run_is_run_in_the_sandbox(name):
    tests = RUN_AS_WRITTEN[name]
    plan = plan_tests(tests, "add")
    assert len(plan.calls) == 2                       # the literal asserts, judged on the host
    written = tests if "check" not in tests else tests + "check(candidate)\n"
    assert written in plan.scripts                    # ... and the source, as written


@pytest.mark.parametrize("name", sorted(INERT))
def test_statements_that_do_nothing_add_no_script(name):
    plan = plan_tests(INERT[name], "add")
    assert len(plan.calls) == 2 and plan.scripts == ()


def test_statements_before_a_script_reach_it_and_none_after_is_lost():
    plan = plan_tests("import math\nassert add(1, 2) > 2\nassert add(1, 2) == 3\n", "add")
    assert plan.scripts == ("import math\nassert add(1, 2) > 2",) and len(plan.calls) == 1
    trailing = plan_tests("assert add(1, 2) > 2\nimport os\nassert add(1, 2) == 3\n", "add")
    assert trailing.scripts[-1] == "assert add(1, 2) > 2\nimport os\nassert add(1, 2) == 3\n"
