"""Shared fixtures: a tiny Llama (and a LoRA adapter on it) built locally once per session."""

from __future__ import annotations

import pytest

from codealign.demo.tinymodel import CODE_SNIPPETS, make_random_lora

# A small corpus: the tokenizer learns Python-ish pieces from it; the model stays random.
TINY_TEXTS = [
    *CODE_SNIPPETS,
    "Write a function that returns the sum of a list of numbers.",
    "```python\ndef f(x):\n    return x * 2\n```",
    "if __name__ == \"__main__\":\n    print(add(1, 2))\n",
] * 8


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random tiny Llama (hidden 128, 2 heads of 64, 2 layers) with a byte-level BPE
    tokenizer and a chat template, saved as a Hugging Face directory. Build: a few seconds."""
    from codealign.demo.tinymodel import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), TINY_TEXTS, vocab_size=512,
                            seed=0)


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir, tmp_path_factory):
    """A rank-8 LoRA adapter on `tiny_model_dir` with non-zero random weights."""
    return make_random_lora(tiny_model_dir, tmp_path_factory.mktemp("tiny-adapter"))


@pytest.fixture(scope="session")
def other_base_adapter_dir(tmp_path_factory):
    """A LoRA adapter trained on *another* tiny model (different seed and path): it must be
    refused when applied to `tiny_model_dir`."""
    from codealign.demo.tinymodel import build_tiny_llama

    other = build_tiny_llama(tmp_path_factory.mktemp("other-llama"), TINY_TEXTS, vocab_size=512,
                             seed=1)
    return make_random_lora(other, tmp_path_factory.mktemp("other-adapter"))
