"""Hostile text: any string JSON can carry (lone surrogates, NULs, megabytes) in code,
completions, stdout or task fields is written back by every record writer, reads back equal,
and the stages (`codealign exec`, `codealign judge`, the loop's `judge_executions`) end
normally. The sandbox is the real bwrap one."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from codealign.errors import SandboxUnavailable
from codealign.generator.sample import Sample, read_sample_lines
from codealign.jsonl import append_jsonl, read_jsonl, write_json, write_jsonl
from codealign.tasks import Task

HOSTILE = {
    "lone-high-surrogate": "\ud800",
    "lone-low-surrogate": "x\udfffy",
    "reversed-pair": "\udc00\ud800",
    "nul": "a\x00b",
    "controls": "\x01\x1b[31m\x7f\u2028\u2029\ufeff",
    "megabytes": "é" * 3_000_000,
}

ADD = Task("h/add", "def add(a, b):\n    \"\"\"Sum.\"\"\"\n", "add",
           "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n", prompt_style="code",
           reference="def add(a, b):\n    return a + b\n")
# Task fields carry hostile text too; the id and prompt must stay UTF-8 (`Task`).
TEXT = Task("h/neg\x00", "Write neg(x).\x00\u2028 " + "ü" * 1_000_000, "neg",
            "assert neg(2) == -2\nassert neg('\\ud800' and 0) == 0\n",
            tags=("\udfff", "\x00"), source="hostile\ud800")
BODY = "    return a + b\n"


def hostile_samples() -> list[dict]:
    """A samples file's lines: hostile text in the code, the completion, the metadata and in
    what the candidate prints."""
    lines = [{"task_id": "h/add", "sample_id": f"code-{k}", "code": f"s = {v!r}\n" + ADD.reference}
             for k, v in HOSTILE.items()]
    lines += [
        {"task_id": "h/add", "sample_id": "raw-surrogate-in-code", "completion": "    '\ud800'\n" + BODY},
        {"task_id": "h/add", "sample_id": "raw-surrogate-in-comment", "completion": "    # \udcff\n" + BODY},
        {"task_id": "h/add", "sample_id": "nul-in-code", "completion": "    1\x00\n" + BODY},
        {"task_id": "h/add", "sample_id": "prints-bytes",
         "completion": "    import sys; sys.stdout.buffer.write(b'\\xff\\xed\\xa0\\x80\\x00' * 9); "
                       "sys.stdout.flush()\n" + BODY},
        {"task_id": "h/add", "sample_id": "prints-megabytes",
         "completion": "    print('\\x00é' * 2_000_000)\n" + BODY},
        {"task_id": "h/add", "sample_id": "metadata\ud800\x00", "completion": BODY,
         "notes": HOSTILE["lone-high-surrogate"] + HOSTILE["nul"]},
        {"task_id": TEXT.task_id, "sample_id": "text-task", "code": "def neg(x):\n    return -x\n"},
    ]
    return lines


@pytest.fixture()
def files(tmp_path):
    tasks, samples = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    # Written as any JSON tool writes them (ASCII escapes), not by the writers under test.
    tasks.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in (ADD, TEXT)))
    samples.write_text("".join(json.dumps(line) + "\n" for line in hostile_samples()))
    return tasks, samples


# --------------------------------------------------------------------------- the writers


@pytest.mark.parametrize("name", HOSTILE)
def test_every_jsonl_writer_round_trips(tmp_path, name):
    record = {"code": HOSTILE[name], HOSTILE[name]: [HOSTILE[name]], "n": 1}
    write_jsonl(tmp_path / "w.jsonl", [record, record])
    append_jsonl(tmp_path / "a.jsonl", [record])
    append_jsonl(tmp_path / "a.jsonl", [record])
    write_json(tmp_path / "d.json", record)
    for path in ("w.jsonl", "a.jsonl"):
        assert [obj for _, obj in read_jsonl(tmp_path / path)] == [record, record]
    assert json.loads((tmp_path / "d.json").read_bytes()) == record
    (tmp_path / "w.jsonl").read_bytes().decode("utf-8")  # strict UTF-8 on disk


def test_task_file_with_hostile_fields_loads_back_equal(files):
    from codealign.tasks import load_tasks

    assert load_tasks(str(files[0])) == [ADD, TEXT]


@pytest.mark.parametrize("field", ["task_id", "prompt"])
def test_an_id_or_prompt_that_is_no_text_is_a_clear_load_error(tmp_path, field):
    from codealign.errors import InputError
    from codealign.tasks import load_tasks

    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(dict(TEXT.to_dict(), **{field: "Write neg.\ud800"})) + "\n")
    with pytest.raises(InputError, match="surrogates not allowed at character 10") as info:
        load_tasks(str(path))
    assert (info.value.line, info.value.field) == (1, field)


def test_hostile_samples_read_back_equal(files):
    got = read_sample_lines(str(files[1]), [ADD, TEXT])
    assert len(got) == len(hostile_samples())
    assert [s.code for s in got[:len(HOSTILE)]] == [f"s = {v!r}\n" + ADD.reference
                                                     for v in HOSTILE.values()]
    assert got[len(HOSTILE) + 5].metadata == {"notes": "\ud800a\x00b"}
    write_jsonl(files[1].with_name("again.jsonl"), (s.to_dict() for s in got))
    assert [Sample.from_dict(d) for d in read_jsonl_objects(files[1].with_name("again.jsonl"))] == got


def read_jsonl_objects(path):
    return [obj for _, obj in read_jsonl(path)]


# --------------------------------------------------------------------------- the stages


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "codealign", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def skip_without_bwrap(done: subprocess.CompletedProcess) -> None:
    if done.returncode == 2 and "bwrap" in done.stderr and "unavailable" in done.stderr.lower():
        pytest.skip(done.stderr.strip())


def test_exec_cli_ends_normally_on_hostile_samples(files, tmp_path):
    out = tmp_path / "executions.jsonl"
    done = cli("exec", str(files[0]), str(files[1]), "--out", str(out), "--workers", "1")
    skip_without_bwrap(done)
    assert done.returncode == 0, done.stderr[-3000:]
    executions = {e["sample_id"]: e for e in read_jsonl_objects(out)}
    assert list(executions) == [line["sample_id"] for line in hostile_samples()]
    assert executions["code-lone-high-surrogate"]["status"] == "passed"
    assert executions["code-megabytes"]["status"] == "passed"
    assert executions["text-task"]["status"] == "passed"
    assert executions["raw-surrogate-in-code"]["status"] == "error"  # Python cannot compile it
    assert executions["prints-megabytes"]["status"] == "passed"
    assert "Traceback" not in done.stderr


def test_judge_cli_ends_normally_and_verdicts_keep_the_code(files, tmp_path):
    out = tmp_path / "judged"
    done = cli("judge", str(files[0]), str(files[1]), "--out", str(out), "--workers", "1")
    skip_without_bwrap(done)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    from codealign.judges.verdict import Verdict

    verdicts = [Verdict.from_dict(d) for d in read_jsonl_objects(out / "verdicts.jsonl")]
    samples = read_sample_lines(str(files[1]), [ADD, TEXT])
    assert [(v.sample_id, v.code) for v in verdicts] == [(s.sample_id, s.code) for s in samples]
    assert json.loads((out / "summary.json").read_text())["samples"] == len(samples)
    read_jsonl(out / "pairs.jsonl")


def test_loop_judge_stage_writes_hostile_verdicts_and_pairs(files, tmp_path):
    """The path the loop's judge stage takes: executions → `judge_executions` → write_jsonl."""
    from codealign.judges import judge_executions
    from codealign.judges.pairs import Pair
    from codealign.judges.verdict import Verdict
    from codealign.sandbox import Job, SandboxConfig, run_many

    samples = read_sample_lines(str(files[1]), [ADD, TEXT])
    by_id = {t.task_id: t for t in (ADD, TEXT)}
    jobs = [Job(s.sample_id, by_id[s.task_id], s.code, profile=True) for s in samples]
    try:
        executions = run_many(jobs, SandboxConfig(backend="bwrap", workers=1))
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    # What the candidate printed reaches the records as text of any kind.
    executions = [dataclasses.replace(e, stdout=e.stdout + HOSTILE["lone-high-surrogate"],
                                      stderr=HOSTILE["nul"] + e.stderr) for e in executions]
    verdicts, pairs, summary = judge_executions([ADD, TEXT], samples, executions)
    write_jsonl(tmp_path / "verdicts.jsonl", (v.to_dict() for v in verdicts))
    write_jsonl(tmp_path / "pairs.jsonl", (p.to_dict() for p in pairs))
    write_json(tmp_path / "summary.json", summary)
    again = [Verdict.from_dict(d) for d in read_jsonl_objects(tmp_path / "verdicts.jsonl")]
    assert [v.to_dict() for v in again] == [v.to_dict() for v in verdicts]
    assert [v.execution.stdout[-1] for v in again] == ["\ud800"] * len(samples)
    assert summary["passed_honestly"] >= len(HOSTILE)
    assert len(read_jsonl_objects(tmp_path / "pairs.jsonl")) == len(pairs) and pairs
    assert all(isinstance(p, Pair) for p in pairs)
