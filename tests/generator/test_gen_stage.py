"""SamplingConfig validation, make_generator, sample_tasks and adapter checks (no model loads
except the tiny one built by the session fixture)."""

from __future__ import annotations

import json
import shutil

import pytest

from codealign.errors import ConfigError, GeneratorError
from codealign.generator import (Completion, FinishReason, SamplingConfig, make_generator, per_prompt,
                                 sample_tasks)
from codealign.generator.adapter import check_adapter, check_model_path
from codealign.generator.extract import CONTINUATION_STOP
from codealign.tasks.task import Task


@pytest.mark.parametrize("field,value", [("n", 0), ("n", 2.0), ("temperature", -0.1),
                                         ("top_p", 0.0), ("top_p", 1.5), ("max_tokens", 0),
                                         ("stop", "\ndef"), ("stop", ("",)), ("seed", -1),
                                         ("chat", "yes")])
def test_sampling_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"field {field}"):
        SamplingConfig(**{field: value})


def test_make_generator_rejects_unknown_backend():
    with pytest.raises(ConfigError, match="unknown backend 'tgi'"):
        make_generator("tgi", "m")


class RecordingGenerator:
    """Answers each prompt with n texts that name the seed it was given (for sample_tasks)."""

    def __init__(self, chat: bool = False):
        self.calls: list[tuple[list[str], SamplingConfig, str | None]] = []
        self.chat = chat

    def uses_chat(self, params):
        return self.chat

    def generate(self, prompts, n, params, adapter=None):
        self.calls.append((prompts, params, adapter, n))
        return [[Completion(f"\n    return {params.prompt_seed(i)}\n\nprint(1)\n", 5 + k,
                            FinishReason.STOP if k else FinishReason.LENGTH)
                 for k in range(count)] for i, count in enumerate(per_prompt(n, len(prompts)))]

    def close(self):
        pass


def _tasks():
    code = [Task(f"c/{i}", f"def f{i}(x):\n", f"f{i}", "assert True", prompt_style="code")
            for i in range(3)]
    text = Task("t/0", "Write g.", "g", "assert True")
    return [code[0], code[1], text, code[2]]


def test_sample_tasks_builds_records_with_deterministic_ids_and_per_task_seeds():
    gen = RecordingGenerator()
    samples = sample_tasks(_tasks(), gen, SamplingConfig(n=2, seed=100), round=3, policy="p3",
                           adapter="a3", batch_size=3)
    assert [s.sample_id for s in samples] == [
        "c/0#r3#0", "c/0#r3#1", "c/1#r3#0", "c/1#r3#1", "t/0#r3#0", "t/0#r3#1",
        "c/2#r3#0", "c/2#r3#1"]
    # Task j of the list is sampled with seed 100 + j, whatever the batching.
    assert samples[2].completion.startswith("\n    return 101")
    assert samples[6].completion.startswith("\n    return 103")
    assert samples[6].code == "def f2(x):\n    return 103\n"  # prompt + cut continuation
    assert {s.round for s in samples} == {3} and {s.policy for s in samples} == {"p3"}
    assert [s.finish_reason for s in samples[:2]] == ["length", "stop"]
    assert [s.tokens for s in samples[:2]] == [5, 6]
    # Continuations get the HumanEval stop list and continue the prompt from its last token
    # (`Task.continuation_prompt`); the text task does not; adapter passed on.
    stops = [(call[0], call[1].stop) for call in gen.calls]
    assert stops[0] == (["def f0(x):", "def f1(x):"], CONTINUATION_STOP)
    assert stops[1] == (["Write g."], ())
    assert {call[2] for call in gen.calls} == {"a3"}


def test_per_task_counts_keep_each_tasks_seed_and_skip_a_zero():
    gen = RecordingGenerator()
    samples = sample_tasks(_tasks(), gen, SamplingConfig(n=2, seed=100), counts=[3, 0, 1, 2])
    assert [s.sample_id for s in samples] == ["c/0#r0#0", "c/0#r0#1", "c/0#r0#2", "t/0#r0#0",
                                              "c/2#r0#0", "c/2#r0#1"]
    # the task after the skipped one is still sampled with its own seed (100 + its index)
    assert samples[3].completion.startswith("\n    return 102")
    assert samples[4].completion.startswith("\n    return 103")
    assert [(call[0], call[3]) for call in gen.calls] == [(["def f0(x):"], 3), (["Write g."], 1),
                                                          (["def f2(x):"], 2)]
    with pytest.raises(ValueError, match="non-negative integer for each"):
        sample_tasks(_tasks(), gen, SamplingConfig(n=2), counts=[1, 1])
    assert per_prompt([2, 1], 2) == [2, 1]
    with pytest.raises(ValueError):
        per_prompt([2, 0], 2)


def test_sample_tasks_in_chat_mode_sends_one_group_without_continuation_stops():
    gen = RecordingGenerator(chat=True)
    sample_tasks(_tasks(), gen, SamplingConfig(n=1))
    assert len(gen.calls) == 1 and gen.calls[0][1].stop == ()


def test_sample_tasks_reports_progress_per_batch():
    done = []
    sample_tasks(_tasks(), RecordingGenerator(), SamplingConfig(n=1), batch_size=3,
                 progress=done.append)
    assert done == [3, 1]


def test_missing_model_paths_raise_generator_error(tmp_path):
    with pytest.raises(GeneratorError, match="model path does not exist"):
        check_model_path(str(tmp_path / "nope"))
    with pytest.raises(GeneratorError, match="has no config.json"):
        check_model_path(str(tmp_path))
    with pytest.raises(GeneratorError, match="model path does not exist"):
        make_generator("hf", str(tmp_path / "nope"))


def test_matching_adapter_passes(tiny_model_dir, tiny_adapter_dir):
    info = check_adapter(tiny_adapter_dir, str(tiny_model_dir), max_rank=8)
    assert info.rank == 8 and set(info.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}


def test_adapter_checks_name_what_does_not_match(tiny_model_dir, tiny_adapter_dir, tmp_path):
    with pytest.raises(GeneratorError, match="rank 8 > max_lora_rank 4"):
        check_adapter(tiny_adapter_dir, str(tiny_model_dir), max_rank=4)
    with pytest.raises(GeneratorError, match="adapter directory does not exist"):
        check_adapter(tmp_path / "none", str(tiny_model_dir))
    with pytest.raises(GeneratorError, match="no adapter_config.json"):
        check_adapter(tmp_path, str(tiny_model_dir))
    other = shutil.copytree(tiny_model_dir, tmp_path / "other-model")
    with pytest.raises(GeneratorError, match="was trained on base model"):
        check_adapter(tiny_adapter_dir, str(other))


def test_adapter_with_the_right_name_but_wrong_shapes_is_refused(tiny_adapter_dir, tmp_path):
    from codealign.demo.tinymodel import build_tiny_llama

    wide = build_tiny_llama(tmp_path / "wide", ["def f():\n    pass\n"] * 4, vocab_size=300,
                            hidden_size=192, layers=1)
    fake = shutil.copytree(tiny_adapter_dir, tmp_path / "relabelled")
    config = json.loads((fake / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(wide)
    (fake / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(GeneratorError, match="does not fit the model"):
        check_adapter(fake, str(wide))
