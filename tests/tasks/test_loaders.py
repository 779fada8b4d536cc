"""Task loaders: real HumanEval and MBPP files, our own JSONL, and malformed inputs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codealign.cli import app
from codealign.errors import InputError
from codealign.jsonl import write_jsonl
from codealign.tasks import Task, TaskFormat, load_humaneval, load_tasks
from codealign.tasks import loaders

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MBPP_DIR = SHARED_DATA / "mbpp"
needs_mbpp = pytest.mark.skipif(
    not (MBPP_DIR / "mbpp.jsonl").is_file(),
    reason=f"MBPP data not found at {MBPP_DIR} (the shared data folder beside the repo)")


def task_dict(task_id: str = "t/1", **overrides) -> dict:
    d = {"task_id": task_id, "prompt": "Write add(a, b).", "entry_point": "add",
         "tests": "assert add(1, 2) == 3\n", "reference": "def add(a, b):\n    return a + b\n",
         "tags": ["math"], "perf_inputs": ["(10**6, 1)"]}
    d.update(overrides)
    return d


def write_lines(path: Path, lines: list[str | dict]) -> Path:
    text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- real data


def test_humaneval_from_the_package():
    tasks = load_tasks("humaneval")
    assert len(tasks) == 164
    assert [t.task_id for t in tasks] == [f"HumanEval/{i}" for i in range(164)]
    first = tasks[0]
    assert first.entry_point == "has_close_elements"
    assert first.prompt_style == "code" and first.source == "humaneval"
    assert first.prompt.startswith("from typing import List")
    assert first.reference.startswith(first.prompt) and "for idx, elem" in first.reference
    assert "def check(candidate):" in first.tests
    assert all(t.reference.startswith(t.prompt) for t in tasks)
    assert "def poly(" in tasks[32].trusted_setup()
    assert load_humaneval() == tasks


def test_humaneval_plain_jsonl_detected_by_content(tmp_path):
    """An uncompressed copy with an unhelpful name still loads as HumanEval."""
    source = loaders.TASK_SETS["humaneval"]()
    copy = tmp_path / "problems.data"
    copy.write_bytes(gzip.decompress(source.read_bytes()))
    assert load_tasks(copy) == load_tasks("humaneval")


@needs_mbpp
def test_mbpp_full():
    tasks = load_tasks(MBPP_DIR / "mbpp.jsonl")
    assert len(tasks) == 974
    assert len({t.task_id for t in tasks}) == 974
    by_id = {t.task_id: t for t in tasks}
    t = by_id["mbpp/1"]
    assert t.entry_point == "min_cost" and t.prompt_style == "text" and t.source == "mbpp"
    assert t.prompt.startswith("Write a function to find the minimum cost path")
    assert "assert min_cost([[1, 2, 3], [4, 8, 2], [1, 5, 3]], 2, 2) == 8" in t.prompt
    assert t.tests.count("assert min_cost(") == 3
    assert "\r" not in t.reference and "def min_cost(cost, m, n)" in t.reference
    # the test calls set(...) first; the entry point is the function the reference defines
    assert by_id["mbpp/2"].entry_point == "similar_elements"
    # nested calls: the outer one is the function under test, Pair is a helper class
    assert by_id["mbpp/601"].entry_point == "max_chain_length"
    assert "root = Node(1)" in by_id["mbpp/367"].setup
    # the tests use sys, which only the reference imported: the import is copied over
    assert by_id["mbpp/596"].tests.startswith("import sys\nassert tuple_size(")
    assert sum(t.tests.startswith("import") for t in tasks) == 1
    assert all("\r" not in t.reference + t.tests + t.setup for t in tasks)
    assert load_tasks("mbpp") == tasks


@needs_mbpp
def test_mbpp_sanitized():
    tasks = load_tasks(MBPP_DIR / "sanitized-mbpp.json")
    assert len(tasks) == 427
    by_id = {t.task_id: t for t in tasks}
    t = by_id["mbpp-sanitized/2"]
    assert t.entry_point == "similar_elements" and t.source == "mbpp-sanitized"
    assert t.prompt.startswith("Write a function to find the shared elements")
    assert "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10)))" in t.prompt
    # test_imports come first in the tests
    assert by_id["mbpp-sanitized/82"].tests.startswith("import math\n")
    assert load_tasks("mbpp-sanitized") == tasks


# --------------------------------------------------------------------------- our own JSONL


def test_own_jsonl_round_trip(tmp_path):
    tasks = [Task(**task_dict("t/1")),
             Task(task_id="t/2", prompt="def inc(x):\n    \"\"\"Add one.\"\"\"\n",
                  entry_point="inc", tests="def check(candidate):\n    assert candidate(1) == 2\n",
                  prompt_style="code", setup="HELPER = 1\n", reference=None, tags=("a", "b"),
                  timeout_s=2.5, memory_mb=256, source="here")]
    path = tmp_path / "tasks.jsonl"
    write_jsonl(path, [t.to_dict() for t in tasks])
    assert load_tasks(path) == tasks
    assert load_tasks(str(path)) == tasks

    gz = tmp_path / "tasks.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_tasks(gz) == tasks

    as_list = tmp_path / "tasks.json"
    as_list.write_text(json.dumps([t.to_dict() for t in tasks], indent=2), encoding="utf-8")
    assert load_tasks(as_list) == tasks


def test_blank_lines_and_byte_order_mark_are_fine(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(task_dict("a")).encode() + b"\n\n  \n"
                     + json.dumps(task_dict("b")).encode())
    assert [t.task_id for t in load_tasks(path)] == ["a", "b"]


def test_format_detection():
    assert TaskFormat.detect(task_dict()) is TaskFormat.CODEALIGN
    assert TaskFormat.detect({"canonical_solution": ""}) is TaskFormat.HUMANEVAL
    assert TaskFormat.detect({"text": "", "test_list": []}) is TaskFormat.MBPP
    assert TaskFormat.detect({"prompt": "", "test_list": []}) is TaskFormat.MBPP_SANITIZED


def test_missing_bank_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(loaders, "_BANK", tmp_path / "nope" / "bank.jsonl")
    with pytest.raises(InputError, match="task set 'bank' not found") as info:
        load_tasks("bank")
    assert "bank.jsonl" in str(info.value)


def test_unknown_name_or_missing_path():
    with pytest.raises(InputError, match="no such file, and not a task set name"):
        load_tasks("no-such-set")


# --------------------------------------------------------------------------- malformed input

MBPP_ROW = {"task_id": 7, "text": "Write add.", "code": "def add(a, b):\r\n\treturn a + b",
            "test_list": ["assert add(1, 2) == 3"], "test_setup_code": "",
            "challenge_test_list": []}
HUMANEVAL_ROW = {"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n",
                 "entry_point": "add",
                 "canonical_solution": "    return a + b\n",
                 "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"}

# (name, lines of the file, line named, field named, words in the message)
MALFORMED_JSONL = [
    ("bad-json-line-3", [task_dict("a"), task_dict("b"), '{"task_id": "c", "prompt": '],
     3, None, "invalid JSON"),
    ("missing-field", [task_dict("a"), {k: v for k, v in task_dict("b").items() if k != "tests"}],
     2, "tests", "missing required field"),
    ("wrong-type", [task_dict("a"), task_dict("b", timeout_s="fast")], 2, "timeout_s", "fast"),
    ("wrong-type-list", [task_dict("a", tags="math")], 1, "tags", "list of strings"),
    ("wrong-type-null", [task_dict("a", perf_inputs=None)], 1, "perf_inputs", "list of strings"),
    ("unknown-field", [task_dict("a"), task_dict("b", tset="x")], 2, "tset", "unknown field"),
    ("duplicate-id", [task_dict("a"), task_dict("b"), task_dict("a")], 3, "task_id",
     "duplicate task_id 'a', first on line 1"),
    ("syntax-error-tests", [task_dict("a"), task_dict("b", tests="assert add(1, 2) ==\n")], 2,
     "tests", "not valid Python"),
    ("syntax-error-reference", [task_dict("a", reference="def add(a, b)\n    return 1\n")], 1,
     "reference", "not valid Python"),
    ("syntax-error-perf-input", [task_dict("a", perf_inputs=["(1, 2"])], 1, "perf_inputs",
     "not valid Python"),
    ("reference-lacks-entry-point", [task_dict("a", reference="def plus(a, b):\n    return 1\n")],
     1, "reference", "does not define the entry point 'add'"),
    ("tests-ignore-entry-point", [task_dict("a", tests="assert 1 == 1\n")], 1, "tests",
     "neither define check"),
    ("code-prompt-does-not-parse", [task_dict("a", prompt_style="code", prompt="def add(a, b):\n")],
     1, "prompt", "not valid Python"),
    ("bad-entry-point", [task_dict("a", entry_point="class")], 1, "entry_point",
     "not a Python identifier"),
    ("not-an-object", [task_dict("a"), "[1, 2]"], 2, None, "expected a JSON object"),
    ("mbpp-wrong-type", [MBPP_ROW, {**MBPP_ROW, "task_id": "8"}], 2, "task_id", "must be int"),
    ("mbpp-missing-field", [MBPP_ROW, {k: v for k, v in {**MBPP_ROW, "task_id": 8}.items()
                                       if k != "code"}], 2, "code", "missing required field"),
    ("mbpp-no-defined-call", [{**MBPP_ROW, "test_list": ["assert len([1]) == 1"]}], 1,
     "test_list", "is defined by the reference"),
    ("humaneval-unknown-field", [HUMANEVAL_ROW, {**HUMANEVAL_ROW, "task_id": "HumanEval/1",
                                                 "plus_input": []}], 2, "plus_input",
     "unknown field"),
]


@pytest.mark.parametrize("lines,line,field,words",
                         [c[1:] for c in MALFORMED_JSONL], ids=[c[0] for c in MALFORMED_JSONL])
def test_malformed_jsonl(tmp_path, lines, line, field, words):
    path = write_lines(tmp_path / "tasks.jsonl", lines)
    result = None
    with pytest.raises(InputError) as info:
        result = load_tasks(path)
    assert result is None
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field)
    if field is not None:
        assert f"field {field}:" in message
    assert words in message


def test_mbpp_crlf_and_tabs_are_normalised(tmp_path):
    (task,) = load_tasks(write_lines(tmp_path / "mbpp.jsonl", [MBPP_ROW]))
    assert task.task_id == "mbpp/7" and task.entry_point == "add"
    assert task.reference == "def add(a, b):\n\treturn a + b"


def test_empty_file(tmp_path):
    for content in (b"", b"\n  \n"):
        path = tmp_path / "empty.jsonl"
        path.write_bytes(content)
        with pytest.raises(InputError, match="no tasks in file") as info:
            load_tasks(path)
        assert info.value.path == str(path)


def test_empty_json_list(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[ ]\n")
    with pytest.raises(InputError, match="no tasks in file"):
        load_tasks(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "t.jsonl"
    bad = json.dumps(task_dict("b", prompt="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    path.write_bytes(json.dumps(task_dict("a")).encode() + b"\n" + bad + b"\n")
    with pytest.raises(InputError, match="not valid UTF-8") as info:
        load_tasks(path)
    assert (info.value.path, info.value.line) == (str(path), 2)


def _gz_lines(n: int) -> bytes:
    return gzip.compress("".join(json.dumps(task_dict(f"t/{i}")) + "\n"
                                 for i in range(n)).encode(), mtime=0)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_broken_gzip(tmp_path, damage):
    data = bytearray(_gz_lines(2000))
    if damage == "corrupt":
        middle = len(data) // 2
        data[middle:middle + 64] = bytes(64)
    else:
        data = data[: len(data) // 2]
    path = tmp_path / "tasks.jsonl.gz"
    path.write_bytes(bytes(data))
    result = None
    with pytest.raises(InputError, match="gzip") as info:
        result = load_tasks(path)
    assert result is None
    assert info.value.path == str(path)
    assert info.value.line is not None and 1 < info.value.line <= 2001


def test_line_too_long(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_LINE_BYTES", 2000)
    path = write_lines(tmp_path / "t.jsonl",
                       [task_dict("a"), task_dict("b", prompt="x" * 5000), task_dict("c")])
    with pytest.raises(InputError, match="line longer than 2000 bytes") as info:
        load_tasks(path)
    assert info.value.line == 2


SANITIZED_ROW = {"source_file": "x.ipynb", "task_id": 2, "prompt": "Write add.",
                 "code": "def add(a, b):\n    return a + b", "test_imports": ["import math"],
                 "test_list": ["assert math.isclose(add(1, 2), 3)"]}


def test_json_list_error_names_item_and_line(tmp_path):
    rows = [SANITIZED_ROW, {**SANITIZED_ROW, "task_id": 3},
            {**SANITIZED_ROW, "task_id": 4, "test_list": ["assert add(1,) ==="]}]
    path = tmp_path / "sanitized.json"
    path.write_text(json.dumps(rows, indent=4))
    start_of_item_2 = path.read_text().splitlines().index("    {", 20) + 1
    result = None
    with pytest.raises(InputError) as info:
        result = load_tasks(path)
    assert result is None
    assert info.value.line == start_of_item_2 and info.value.field == "test_list"
    assert str(info.value).startswith(f"{path}:{start_of_item_2}: field test_list: ")
    assert "(item 2)" in str(info.value)


def test_json_list_bad_json_and_duplicate(tmp_path):
    path = tmp_path / "sanitized.json"
    path.write_text('[\n  {"task_id": 2,\n   "prompt": oops}\n]\n')
    with pytest.raises(InputError, match=r"invalid JSON.*\(item 0\)") as info:
        load_tasks(path)
    assert info.value.line == 3

    path.write_text(json.dumps([SANITIZED_ROW, SANITIZED_ROW], indent=1))
    with pytest.raises(InputError, match="duplicate task_id 'mbpp-sanitized/2', first on line 2"):
        load_tasks(path)

    path.write_text(json.dumps([SANITIZED_ROW]) + "\n{}")
    with pytest.raises(InputError, match="unexpected data after the JSON list"):
        load_tasks(path)


def test_sanitized_imports_go_first(tmp_path):
    path = tmp_path / "sanitized.json"
    path.write_text(json.dumps([SANITIZED_ROW]))
    (task,) = load_tasks(path)
    assert task.task_id == "mbpp-sanitized/2" and task.entry_point == "add"
    assert task.tests == "import math\nassert math.isclose(add(1, 2), 3)\n"


# --------------------------------------------------------------------------- CLI


def test_cli_tasks_list(tmp_path):
    path = tmp_path / "tasks.jsonl"
    write_jsonl(path, [task_dict("t/1"), task_dict("t/2", reference=None, perf_inputs=[])])
    result = CliRunner().invoke(app, ["tasks", "list", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│ t/")]
    assert len(rows) == 2
    assert [c.strip() for c in rows[0].strip("│ ").split("│")] == ["t/1", "add", "text", "1", "yes", "1"]
    assert [c.strip() for c in rows[1].strip("│ ").split("│")] == ["t/2", "add", "text", "1", "no", "0"]


def test_cli_tasks_list_bad_file(tmp_path):
    path = write_lines(tmp_path / "tasks.jsonl", [task_dict("a"), "{"])
    result = CliRunner().invoke(app, ["tasks", "list", str(path)])
    assert isinstance(result.exception, InputError) and result.exception.line == 2


def test_cli_tasks_check_reports_failing_reference(tmp_path):
    sandbox = pytest.importorskip("codealign.sandbox")
    if not hasattr(sandbox, "run_many"):
        pytest.skip("codealign.sandbox.run_many is not written yet")
    path = tmp_path / "tasks.jsonl"
    write_jsonl(path, [task_dict("good"),
                       task_dict("bad", reference="def add(a, b):\n    return a - b\n")])
    result = CliRunner().invoke(app, ["tasks", "check", str(path), "--backend",
                                      "unsafe-no-isolation", "--workers", "1"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "1/2 references pass" in result.output
    assert "bad" in result.output and "good " not in result.output.split("references that")[-1]
