"""The tiny-model builder shared by tests, trainer and demo."""

from __future__ import annotations

import hashlib
import json

TEXTS = ["def add(a, b):\n    return a + b\n", "def neg(x):\n    return -x\n",
         "class A:\n    pass\n"] * 6


def _digest(path):
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_build_is_deterministic_and_loads_with_bos_chat_template(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codealign.demo.tinymodel import build_tiny_llama

    a = build_tiny_llama(tmp_path / "a", TEXTS, vocab_size=300, seed=3)
    b = build_tiny_llama(tmp_path / "b", TEXTS, vocab_size=300, seed=3)
    c = build_tiny_llama(tmp_path / "c", TEXTS, vocab_size=300, seed=4)
    assert _digest(a) == _digest(b) != _digest(c)
    config = json.loads((a / "config.json").read_text())
    assert config["head_dim"] == 64 and config["hidden_size"] == 128
    tok = AutoTokenizer.from_pretrained(a)
    ids = tok.encode("def add(a, b):")
    assert ids[0] == tok.bos_token_id and tok.decode(ids, skip_special_tokens=True) == "def add(a, b):"
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert chat == "<s><|user|>\nhi</s>\n<|assistant|>\n"
    model = AutoModelForCausalLM.from_pretrained(a)
    assert model.config.vocab_size == len(tok)


def test_train_tiny_lm_lowers_the_loss_and_saves(tmp_path):
    from codealign.demo.tinymodel import build_tiny_llama, train_tiny_lm

    out = build_tiny_llama(tmp_path / "m", TEXTS, vocab_size=300, seed=0)
    before = _digest(out)
    losses = train_tiny_lm(out, TEXTS, steps=40, batch_size=6, max_length=32, lr=3e-3)
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert _digest(out) != before
