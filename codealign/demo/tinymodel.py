"""A tiny Llama built locally: for tests, the demo and benchmarks on machines without weights.

No hub download is possible here, so the tests, the trainer and the demo make their own model:
a byte-level BPE tokenizer trained with `tokenizers` on the texts given, and a randomly
initialised (seeded) `LlamaConfig` model small enough to run on two CPU cores, saved as a
normal Hugging Face directory (``config.json``, ``model.safetensors``, tokenizer files) that
vLLM, transformers, PEFT and TRL all load by path.

Shape constraints: vLLM's CPU attention accepts head sizes such as 64 (not 16), so the model
keeps ``head_dim = 64`` and sets the number of heads from the hidden size.

`train_tiny_lm` fits such a model from scratch on a list of short texts (plain causal-LM
loss, AdamW) so that it produces text shaped like its training data: the demo's seed policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

__all__ = ["BOS", "EOS", "PAD", "CHAT_TEMPLATE", "CODE_SNIPPETS", "build_tiny_llama", "lm_step",
           "make_random_lora", "train_tiny_lm"]

BOS, EOS, PAD = "<s>", "</s>", "<pad>"

# A minimal chat template, enough for instruct-mode code paths (apply_chat_template, vLLM chat).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

HEAD_DIM = 64

# Small Python snippets for a tokenizer to learn Python-ish pieces from (tests, benchmarks).
CODE_SNIPPETS = (
    "def add(a, b):\n    return a + b\n",
    "def is_even(n):\n    return n % 2 == 0\n",
    "def reverse(s):\n    return s[::-1]\n",
    "def total(xs):\n    result = 0\n    for x in xs:\n        result += x\n    return result\n",
    "import math\n\ndef area(r):\n    return math.pi * r ** 2\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
)

def build_tiny_llama(out_dir: str | Path, texts: Sequence[str], *, vocab_size: int = 1024,
                     hidden_size: int = 128, layers: int = 2, max_positions: int = 1024,
                     seed: int = 0) -> Path:
    """Train a tokenizer on `texts`, build a random Llama with `seed`, save both to `out_dir`.

    Returns `out_dir` as a Path. The directory loads with
    ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` and with
    ``vllm.LLM(model=out_dir)``. Same texts and seed give the same weights and vocabulary.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if not texts:
        raise ValueError("build_tiny_llama needs at least one training text")
    if hidden_size % HEAD_DIM:
        raise ValueError(f"hidden_size must be a multiple of {HEAD_DIM}, got {hidden_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(list(texts), trainer=trainer)
    # Plain encoding starts with <s>, as Llama tokenizers do (vLLM and `generate` rely on it).
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bpe.token_to_id(BOS))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOS,
                                        pad_token=PAD, clean_up_tokenization_spaces=False,
                                        model_max_length=max_positions)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size,
        intermediate_size=hidden_size * 2, num_hidden_layers=layers,
        num_attention_heads=hidden_size // HEAD_DIM, num_key_value_heads=hidden_size // HEAD_DIM,
        head_dim=HEAD_DIM, max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    return out


def lm_step(model, pad_id: int, batch: Sequence[tuple[list[int], int]], optimizer, schedule) -> float:
    """One causal-LM step on a padded batch of ``(token ids, prompt length)``: the loss
    counts only the tokens after the prompt. Returns the loss."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, prompt_len: len(ids)] = torch.tensor(ids[prompt_len:])
        mask[row, : len(ids)] = 1
    loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def train_tiny_lm(model_dir: str | Path, texts: Sequence[str], *, steps: int = 300,
                  batch_size: int = 16, max_length: int = 128, lr: float = 3e-3,
                  seed: int = 0, log_every: int = 0) -> list[float]:
    """Fit the model in `model_dir` to `texts` (causal LM, from its current weights), in place.

    Each text becomes ``<s> text </s>``, truncated to `max_length` tokens; batches are drawn
    with `seed`, deterministically (`codealign.trainer.determinism`). Returns the loss of
    every step, so callers can check that it fell. Roughly 0.1 s per step on two cores for the
    default tiny shape.
    """
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codealign.trainer.determinism import deterministic

    if not texts:
        raise ValueError("train_tiny_lm needs at least one text")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    encoded = [tokenizer.encode(t)[: max_length - 1] + [tokenizer.eos_token_id] for t in texts]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 20) * max(0.1, 1 - s / max(steps, 1)))
    losses: list[float] = []
    with deterministic(threads=None):
        for step in range(steps):
            batch = rng.sample(encoded, min(batch_size, len(encoded)))
            losses.append(lm_step(model, tokenizer.pad_token_id, [(ids, 0) for ids in batch],
                                  optimizer, schedule))
            if log_every and step % log_every == 0:
                print(f"step {step}: loss {losses[-1]:.3f}", flush=True)
    model.eval()
    model.save_pretrained(model_dir, safe_serialization=True)
    return losses


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
