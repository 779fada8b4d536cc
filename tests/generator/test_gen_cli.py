"""`codealign sample`: the hf backend end to end, and one-line errors (no traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codealign.jsonl import read_jsonl, write_jsonl
from codealign.tasks.task import Task

TASKS = [Task("c/add", "def add(a, b):\n    \"\"\"Sum.\"\"\"\n", "add", "assert add(1, 2) == 3", prompt_style="code"),
         Task("t/neg", "Write neg(x) returning -x.", "neg", "assert neg(2) == -2")]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codealign", "sample", *args],
                          capture_output=True, text=True, timeout=300)


def test_sample_writes_sample_records_that_exec_can_read(tiny_model_dir, tmp_path):
    from codealign.generator.sample import read_sample_lines

    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    write_jsonl(tasks_file, (t.to_dict() for t in TASKS))
    done = _run(str(tasks_file), "--model", str(tiny_model_dir), "--backend", "hf", "--n", "3",
                "--max-tokens", "6", "--no-chat", "--round", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    records = [d for _, d in read_jsonl(out)]
    assert [r["sample_id"] for r in records] == [f"{t}#r1#{i}" for t in ("c/add", "t/neg")
                                                 for i in range(3)]
    assert all(r["code"].startswith(TASKS[0].continuation_prompt) for r in records[:3])
    assert all(r["round"] == 1 and 1 <= r["tokens"] <= 6 for r in records)
    assert len(read_sample_lines(str(out), TASKS)) == 6
    assert "6 samples for 2 tasks" in done.stderr


def test_missing_model_is_one_line_error(tmp_path):
    tasks_file = tmp_path / "tasks.jsonl"
    write_jsonl(tasks_file, (t.to_dict() for t in TASKS))
    done = _run(str(tasks_file), "--model", str(tmp_path / "nope"), "--backend", "hf",
                "--out", str(tmp_path / "s.jsonl"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: model path does not exist: {tmp_path / 'nope'}"


def test_unanswering_server_is_one_line_error_naming_the_url(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tasks_file = tmp_path / "tasks.jsonl"
    write_jsonl(tasks_file, (t.to_dict() for t in TASKS))
    done = _run(str(tasks_file), "--model", "m", "--backend", "openai", "--base-url",
                f"http://127.0.0.1:{port}", "--out", str(tmp_path / "s.jsonl"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}/v1" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "s.jsonl").exists()


def test_model_context_length_is_read_from_the_model_directory(tiny_model_dir, tmp_path):
    from codealign.generator.adapter import model_context_length

    assert model_context_length(str(tiny_model_dir)) == 1024
    (tmp_path / "config.json").write_text('{"text_config": {"max_position_embeddings": 4096}}')
    sentinel = '{"model_max_length": 1000000000000000019884624838656}'  # transformers' "none"
    (tmp_path / "tokenizer_config.json").write_text(sentinel)
    assert model_context_length(str(tmp_path)) == 4096  # the tokenizer's sentinel says nothing
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 2048}')
    assert model_context_length(str(tmp_path)) == 2048
    assert model_context_length(str(tmp_path / "missing")) is None


@pytest.mark.slow
def test_vllm_sample_defaults_to_the_models_own_context(tiny_model_dir, tmp_path):
    """The tiny model has a 1,024-token context: no --max-model-len flag is needed."""
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    write_jsonl(tasks_file, (t.to_dict() for t in TASKS))
    done = _run(str(tasks_file), "--model", str(tiny_model_dir), "--backend", "vllm",
                "--n", "2", "--max-tokens", "4", "--no-chat", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(read_jsonl(out)) == 4
