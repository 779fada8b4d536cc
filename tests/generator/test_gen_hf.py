"""The transformers backend on the tiny model: n, seeds, finish reasons, chat, adapters."""

from __future__ import annotations

import pytest

from codealign.errors import GeneratorError
from codealign.generator import FinishReason, SamplingConfig, make_generator, sample_tasks
from codealign.tasks.task import Task


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    generator = make_generator("hf", str(tiny_model_dir), batch_size=2)
    yield generator
    generator.close()


def test_n_completions_per_prompt_with_token_counts(hf):
    params = SamplingConfig(n=3, max_tokens=8, temperature=1.0, chat=False)
    out = hf.generate(["def add(", "class", "import"], 3, params)
    assert [len(c) for c in out] == [3, 3, 3]
    for completions in out:
        for c in completions:
            assert 1 <= c.tokens <= 8
            assert c.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
    # A random model rarely emits EOS within 8 tokens: most are cut by max_tokens.
    reasons = [c.finish_reason for cs in out for c in cs]
    assert reasons.count(FinishReason.LENGTH) >= 5
    assert all(c.tokens == 8 for cs in out for c in cs if c.finish_reason is FinishReason.LENGTH)


def test_same_seed_same_samples_other_seed_other_samples(hf):
    params = SamplingConfig(n=2, max_tokens=12, temperature=1.0, seed=5, chat=False)
    a = hf.generate(["def f(x):"], 2, params)
    b = hf.generate(["def f(x):"], 2, params)
    c = hf.generate(["def f(x):"], 2, SamplingConfig(n=2, max_tokens=12, temperature=1.0,
                                                      seed=6, chat=False))
    assert a == b
    assert [x.text for x in a[0]] != [x.text for x in c[0]]


def test_chat_mode_uses_the_template_and_auto_detects_it(hf):
    assert hf.uses_chat(SamplingConfig()) is True  # the tiny tokenizer has a template
    assert hf.uses_chat(SamplingConfig(chat=False)) is False
    out = hf.generate(["Write add."], 1, SamplingConfig(n=1, max_tokens=4, chat=True))
    assert len(out) == 1 and len(out[0]) == 1


def test_adapter_changes_samples_and_base_is_restored(hf, tiny_adapter_dir):
    params = SamplingConfig(n=2, max_tokens=16, temperature=1.0, seed=3, chat=False)
    base = hf.generate(["def add(a, b):"], 2, params)
    tuned = hf.generate(["def add(a, b):"], 2, params, adapter=str(tiny_adapter_dir))
    again = hf.generate(["def add(a, b):"], 2, params)
    assert [c.text for c in tuned[0]] != [c.text for c in base[0]]
    assert again == base


def test_sample_tasks_end_to_end_on_code_prompts(hf):
    tasks = [Task("c/1", "def add(a, b):\n", "add", "assert add(1, 2) == 3",
                  prompt_style="code")]
    samples = sample_tasks(tasks, hf, SamplingConfig(n=2, max_tokens=10, chat=False))
    assert [s.sample_id for s in samples] == ["c/1#r0#0", "c/1#r0#1"]
    assert all(s.code.startswith("def add(a, b):") for s in samples)


def test_adapter_for_another_base_is_refused(hf, other_base_adapter_dir):
    params = SamplingConfig(n=1, max_tokens=4, chat=False)
    with pytest.raises(GeneratorError, match="was trained on base model"):
        hf.generate(["def f():"], 1, params, adapter=str(other_base_adapter_dir))
