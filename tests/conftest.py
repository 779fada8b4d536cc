"""Shared fixtures: a tiny Llama (and a LoRA adapter on it) built locally once per session."""

from __future__ import annotations

import pytest

from codealign.demo.tinymodel import CODE_SNIPPETS

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


def make_random_lora(model_dir, out_dir, *, rank: int = 8, seed: int = 1, scale: float = 0.5):
    """Save a PEFT LoRA adapter on `model_dir` whose B matrices are random (not PEFT's zeros),
    so that it really changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                        task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, scale)
    peft_model.save_pretrained(str(out_dir))
    return out_dir


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
