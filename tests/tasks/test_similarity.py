"""Leak control's detection core: exact duplicates, near duplicates under light edits,
distinct tasks left alone, all by parsing only (no task code runs)."""

from __future__ import annotations

import doctest

import pytest

import codealign.tasks.similarity as similarity
from codealign.errors import ConfigError, InputError
from codealign.tasks import Task
from codealign.tasks.similarity import (Part, SimilarityConfig, SimilarityIndex, compare,
                                        content_key, fingerprint)

HELD_OUT = Task(
    task_id="HumanEval/0",
    prompt=('from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n'
            '    """ Check if in given list of numbers, are any two numbers closer to each other than\n'
            '    given threshold.\n'
            '    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n'
            '    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n    True\n    """\n'),
    entry_point="has_close_elements",
    tests=("def check(candidate):\n"
           "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
           "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"
           "    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n"
           "    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True\n"),
    prompt_style="code",
    reference=("from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
               "    for idx, elem in enumerate(numbers):\n"
               "        for idx2, elem2 in enumerate(numbers):\n"
               "            if idx != idx2:\n"
               "                distance = abs(elem - elem2)\n"
               "                if distance < threshold:\n"
               "                    return True\n\n    return False\n"),
)

# The same task, lightly edited by hand: identifiers renamed, the docstring reworded, the
# tests reordered (and the layout changed).
EDITED = Task(
    task_id="submitted/close-pairs",
    prompt=('from typing import List\n\ndef any_two_close(values: List[float], limit: float) -> bool:\n'
            '    """Decide whether some pair of values in the provided sequence lies nearer to\n'
            '    each other than limit.\n'
            '    >>> any_two_close([1.0, 2.0, 3.0], 0.5)\n    False\n'
            '    >>> any_two_close([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n    True\n    """\n'),
    entry_point="any_two_close",
    tests=("def check(fn):\n"
           "    assert fn([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True\n"
           "    assert fn([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n"
           "    assert fn([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
           "    assert fn([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"),
    prompt_style="code",
    reference=("from typing import List\n\ndef any_two_close(values: List[float], limit: float) -> bool:\n"
               "    for i, a in enumerate(values):\n"
               "        for j, b in enumerate(values):\n"
               "            if i != j:\n"
               "                gap = abs(a - b)\n"
               "                if gap < limit:\n"
               "                    return True\n"
               "    return False\n"),
)

# Distinct tasks of the same shape: a code prompt over a list of floats, and an MBPP-style one.
DISTINCT = Task(
    task_id="HumanEval/4",
    prompt=('from typing import List\n\n\ndef mean_absolute_deviation(numbers: List[float]) -> float:\n'
            '    """ For a given list of input numbers, calculate Mean Absolute Deviation\n'
            '    around the mean of this dataset.\n'
            '    >>> mean_absolute_deviation([1.0, 2.0, 3.0, 4.0])\n    1.0\n    """\n'),
    entry_point="mean_absolute_deviation",
    tests=("def check(candidate):\n"
           "    assert abs(candidate([1.0, 2.0, 3.0]) - 2.0/3.0) < 1e-6\n"
           "    assert abs(candidate([1.0, 2.0, 3.0, 4.0]) - 1.0) < 1e-6\n"
           "    assert abs(candidate([1.0, 2.0, 3.0, 4.0, 5.0]) - 6.0/5.0) < 1e-6\n"),
    prompt_style="code",
    reference=("from typing import List\n\n\ndef mean_absolute_deviation(numbers: List[float]) -> float:\n"
               "    mean = sum(numbers) / len(numbers)\n"
               "    return sum(abs(x - mean) for x in numbers) / len(numbers)\n"),
)
TEXT_TASK = Task(
    task_id="mbpp/2",
    prompt=("Write a function to find the similar elements from the given two tuple lists.\n"
            "Your code should pass this test:\n\n"
            "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"),
    entry_point="similar_elements",
    tests=("assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
           "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\n"
           "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n"),
    reference=("def similar_elements(test_tup1, test_tup2):\n"
               "  res = tuple(set(test_tup1) & set(test_tup2))\n  return (res) \n"),
)
INDEX = SimilarityIndex([HELD_OUT, DISTINCT, TEXT_TASK])


def test_exact_duplicate_detected_with_the_id_it_duplicates():
    reformatted = Task("submitted/same", "from typing import List\n" + HELD_OUT.prompt.split("\n", 1)[1],
                       HELD_OUT.entry_point, "# the same tests\n" + HELD_OUT.tests.replace("==", " == "),
                       prompt_style="code", reference=HELD_OUT.reference + "\n\n# done\n",
                       tags=("other", "tags"), timeout_s=3.0)
    assert content_key(reformatted) == content_key(HELD_OUT)
    check = INDEX.check(reformatted)
    assert check.exact == "HumanEval/0" and check.near_duplicate


def test_light_edits_are_not_exact_but_a_near_duplicate():
    check = INDEX.check(EDITED)
    assert check.exact is None
    assert check.near_duplicate and check.best.task_id == "HumanEval/0"
    parts = check.best.parts
    assert parts[Part.REFERENCE].ast == 1.0          # renamed identifiers: the same tree
    assert parts[Part.TESTS].ast > 0.8               # reordered asserts: the same subtrees
    assert parts[Part.PROMPT].ast is None            # a prompt is compared by its shingles
    assert 0.2 < parts[Part.PROMPT].shingle < 0.9    # reworded, the examples kept
    assert check.best.score >= INDEX.config.threshold


@pytest.mark.parametrize("task", [DISTINCT, TEXT_TASK], ids=lambda t: t.task_id)
def test_distinct_task_not_flagged(task):
    others = SimilarityIndex([t for t in (HELD_OUT, DISTINCT, TEXT_TASK) if t is not task])
    check = others.check(task)
    assert check.exact is None and not check.near_duplicate
    assert check.best.score < 0.5


def test_a_text_prompt_copy_with_renamed_entry_point_is_flagged():
    copy = Task("submitted/shared", TEXT_TASK.prompt.replace("similar_elements", "common_items")
                .replace("Write a function to find", "Implement a routine returning"),
                "common_items",
                "\n".join(reversed(TEXT_TASK.tests.replace("similar_elements", "common_items")
                                   .strip().split("\n"))),
                reference="def common_items(a, b):\n    res = tuple(set(a) & set(b))\n    return res\n")
    check = INDEX.check(copy)
    assert check.near_duplicate and check.best.task_id == "mbpp/2"
    assert check.best.parts[Part.TESTS].ast == 1.0 and check.best.parts[Part.REFERENCE].ast == 1.0


def test_the_same_tests_under_a_new_prompt_are_flagged_by_their_tree():
    other_prompt = Task("submitted/new-words", "Return True when two list entries differ by less "
                        "than a bound.", "near", HELD_OUT.tests.replace("candidate", "f"))
    match = INDEX.check(other_prompt).best
    assert match.task_id == "HumanEval/0" and match.score < INDEX.config.threshold
    assert match.parts[Part.TESTS].ast == 1.0 and match.near_duplicate
    one_changed = Task("submitted/changed", other_prompt.prompt, "near",
                       other_prompt.tests.replace("0.95", "0.9"))
    assert not INDEX.check(one_changed).near_duplicate  # the tree differs: the mean decides
    loose = SimilarityIndex([HELD_OUT], SimilarityConfig(tree_threshold=0.6))
    assert loose.check(one_changed).near_duplicate


def test_a_local_shadowing_a_builtin_is_renamed_like_any_name():
    a = Task("a", "Count items.", "f", "assert f([1, 1]) == {1: 2}",
             reference="def f(xs):\n    dict = {}\n    for x in xs:\n        dict[x] = dict.get(x, 0) + 1\n    return dict\n")
    b = Task("b", "Count items.", "g", "assert g([1, 1]) == {1: 2}",
             reference="def g(ys):\n    counts = {}\n    for y in ys:\n        counts[y] = counts.get(y, 0) + 1\n    return counts\n")
    assert compare(fingerprint(a), fingerprint(b)).parts[Part.REFERENCE].ast == 1.0


def test_constants_are_kept():
    changed = Task("c", TEXT_TASK.prompt, TEXT_TASK.entry_point,
                   TEXT_TASK.tests.replace("(4, 5)", "(4, 6)").replace("(3, 4)\n", "(3, 9)\n"),
                   reference=TEXT_TASK.reference)
    tests = compare(fingerprint(changed), fingerprint(TEXT_TASK)).parts[Part.TESTS]
    assert tests.ast < 1.0 and tests.shingle < 1.0


def test_the_index_skips_the_task_itself_and_an_empty_index_finds_nothing():
    check = INDEX.check(HELD_OUT)
    assert check.exact is None and check.best.task_id != "HumanEval/0"
    empty = SimilarityIndex([]).check(HELD_OUT)
    assert empty.best is None and not empty.near_duplicate


def test_match_serialises_its_part_scores():
    d = INDEX.check(EDITED).best.to_dict()
    assert d["task_id"] == "HumanEval/0" and d["near_duplicate"] is True
    assert set(d["parts"]) == {"prompt", "tests", "reference"} and d["parts"]["prompt"]["ast"] is None
    whole = INDEX.check(EDITED).to_dict()
    assert whole["exact"] is None and whole["near_duplicate"] is True and whole["best"] == d


def test_task_code_is_parsed_never_run(tmp_path):
    marker = tmp_path / "ran"
    hostile = Task("hostile", "Do it.", "f",
                   f"import os\nos.system('touch {marker}')\nassert f() == 1\n",
                   setup=f"open({str(marker)!r}, 'w').write('x')",
                   reference=f"open({str(marker)!r}, 'w').write('x')\ndef f():\n    return 1\n")
    SimilarityIndex([hostile]).check(hostile)
    content_key(hostile)
    assert not marker.exists()


@pytest.mark.parametrize("terms", [1500, 30000])   # parses but nests deep; too deep to parse
def test_nesting_too_deep_is_an_input_error_naming_the_task(terms):
    deep = Task("deep", "Add.", "f", "assert f(1) == " + "+".join(["1"] * terms))
    for measure in (fingerprint, content_key, SimilarityIndex([HELD_OUT]).check):
        with pytest.raises(InputError, match="'deep'.* nested too deeply"):
            measure(deep)


@pytest.mark.parametrize("kwargs, field", [
    ({"threshold": 0}, "threshold"), ({"threshold": 1.5}, "threshold"),
    ({"tree_threshold": True}, "tree_threshold"), ({"code_shingle": 0}, "code_shingle"),
    ({"text_shingle": 2.5}, "text_shingle"), ({"min_subtree": 100}, "min_subtree")])
def test_config_is_validated(kwargs, field):
    with pytest.raises(ConfigError) as info:
        SimilarityConfig(**kwargs)
    assert info.value.field == field and repr(next(iter(kwargs.values()))) in str(info.value)


def test_doctests():
    result = doctest.testmod(similarity)
    assert result.attempted > 0 and result.failed == 0
