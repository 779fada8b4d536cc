"""The demo's seed policy: a tiny Llama trained from scratch, on the spot, on the task bank.

No model can be downloaded on a fresh CPU machine, so `codealign demo` makes its own first
policy. The corpus is the bank's prompts, each followed by the labelled solution variants of
:mod:`codealign.tasks.bank` (the clean answer and the task's habit: wrong, insecure or slow);
a kind's weight says how many times its variants appear, so the seed writes the habit in
about half its samples on a task that has one, plus the garbled text of an imperfect small
model. Honest limits: the model is tiny and knows only these tasks; it has
seen every bank task (held-out ones included), so the loop's held-out split measures tasks
whose samples were never turned into DPO pairs, not tasks the model has never seen.

Each training example is tokenised the way the generator samples it: the prompt alone
(``<s>`` + prompt, as vLLM encodes a plain-continuation prompt), then the completion alone,
then ``</s>``; the loss covers the completion and ``</s>`` only. Tokenising prompt and
completion separately keeps byte-level BPE from merging the prompt's last newline with the
completion's indentation, a token the model would never see as a prompt's end at sampling time.

The result is cached under ``<cache>/seed-<hash>/`` where the hash covers the corpus, the
config and this module's training recipe version; ``manifest.json`` is written last, so a
directory without it is a killed build and is rebuilt. The cache root is
``$CODEALIGN_CACHE`` or ``.cache/codealign`` under the current directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from codealign.errors import ConfigError
from codealign.jsonl import write_json

__all__ = ["SeedConfig", "SeedModel", "seed_corpus", "build_seed", "cache_root", "RECIPE_VERSION"]

RECIPE_VERSION = 1
"""Bumped whenever the training recipe below changes, so cached seeds are rebuilt."""

MANIFEST = "manifest.json"
CACHE_ENV = "CODEALIGN_CACHE"


def _default_weights() -> dict[str, int]:
    # Each habit task has one clean variant and one with its habit: equal weights make the
    # habit about half of what the seed writes on such a task (its garbled samples aside).
    return {"clean": 1, "slow": 1, "insecure": 1, "wrong": 1}


@dataclass(frozen=True)
class SeedConfig:
    """How the seed policy is built.

    Attributes:
        hidden_size: model width (a multiple of 64: vLLM's CPU attention needs head_dim 64).
        layers: transformer blocks.
        vocab_size: byte-level BPE vocabulary trained on the corpus.
        steps: optimizer steps (AdamW, warm-up then linear decay).
        batch_size: examples per step.
        learning_rate: peak learning rate.
        max_length: tokens kept per example (prompt + completion + ``</s>``).
        kind_weights: copies of each variant kind in the corpus (0 drops a kind).
        threads: torch CPU threads (0: torch's default). One is the default: at this model
            size a step is mostly small matmuls, and a second thread costs more in
            synchronisation than it saves (6x the CPU time on a busy 2-core machine). It
            changes the time only, not the weights (tests/test_seed_determinism.py), so it
            is not part of the cache key.
        seed: initialisation and batch order (the only source of randomness: training is
            deterministic, `codealign.trainer.determinism`).
    """

    hidden_size: int = 128
    layers: int = 2
    vocab_size: int = 1024
    steps: int = 600
    batch_size: int = 16
    learning_rate: float = 4e-3
    max_length: int = 512
    kind_weights: dict[str, int] = field(default_factory=_default_weights)
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        from codealign.tasks.bank import VariantKind

        if not isinstance(self.hidden_size, int) or self.hidden_size < 64 or self.hidden_size % 64:
            raise ConfigError(f"must be a positive multiple of 64, got {self.hidden_size!r}",
                              field="hidden_size")
        for name in ("layers", "vocab_size", "steps", "batch_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"must be a positive integer, got {value!r}", field=name)
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ConfigError(f"must be a positive number, got {self.learning_rate!r}",
                              field="learning_rate")
        known = {k.value for k in VariantKind}
        for kind, weight in self.kind_weights.items():
            if kind not in known:
                raise ConfigError(f"unknown variant kind {kind!r} (known: {sorted(known)})",
                                  field="kind_weights")
            if not isinstance(weight, int) or weight < 0:
                raise ConfigError(f"weight of {kind} must be an integer >= 0, got {weight!r}",
                                  field="kind_weights")
        if not any(self.kind_weights.values()):
            raise ConfigError("at least one variant kind needs a positive weight",
                              field="kind_weights")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ConfigError(f"must be an integer >= 0, got {self.threads!r}", field="threads")


@dataclass(frozen=True)
class SeedModel:
    """A built (or cached) seed: its directory and what its manifest says."""

    path: Path
    cached: bool
    manifest: dict


def cache_root() -> Path:
    """``$CODEALIGN_CACHE``, else ``.cache/codealign`` in the current directory."""
    return Path(os.environ.get(CACHE_ENV) or Path.cwd() / ".cache" / "codealign")


def seed_corpus(tasks: Sequence, variants: Sequence, weights: dict[str, int]
                ) -> list[tuple[str, str, str]]:
    """``(task_id, prompt, completion)`` examples: each variant `weights[kind]` times.

    Variants of tasks not in `tasks` are ignored; order follows `variants`.
    """
    by_id = {t.task_id: t for t in tasks}
    corpus = []
    for v in variants:
        task = by_id.get(v.task_id)
        if task is None:
            continue
        corpus += [(v.task_id, task.prompt, v.completion)] * weights.get(v.kind.value, 0)
    return corpus


def _corpus_hash(corpus: list[tuple[str, str, str]], config: SeedConfig) -> str:
    h = hashlib.sha256()
    plain = dataclasses.asdict(config)
    plain.pop("threads")                     # speed only: the same seed comes out
    h.update(json.dumps({"recipe": RECIPE_VERSION, "config": plain}, sort_keys=True).encode())
    for example in corpus:
        h.update(json.dumps(example).encode())
    return h.hexdigest()[:16]


def build_seed(config: SeedConfig | None = None, *, tasks: Sequence | None = None,
               variants: Sequence | None = None, cache: str | Path | None = None,
               log: Callable[[str], None] | None = None) -> SeedModel:
    """The seed model for `tasks` (default: the bank) and its variants, built once and cached.

    Returns at once when ``<cache>/seed-<hash>/manifest.json`` exists; otherwise trains the
    model (a few minutes on two cores with the defaults) and writes the manifest last.
    """
    from codealign.tasks import load_tasks
    from codealign.tasks.bank import load_variants

    config = config or SeedConfig()
    log = log or (lambda line: None)
    tasks = list(tasks) if tasks is not None else load_tasks("bank")
    variants = list(variants) if variants is not None else load_variants()
    corpus = seed_corpus(tasks, variants, config.kind_weights)
    if not corpus:
        raise ConfigError("the seed corpus is empty: no variant belongs to the given tasks",
                          field="tasks")
    key = _corpus_hash(corpus, config)
    out = Path(cache) if cache is not None else cache_root()
    out = out / f"seed-{key}"
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        return SeedModel(out, True, json.loads(manifest_path.read_text(encoding="utf-8")))
    if out.exists():
        shutil.rmtree(out)                   # a killed build
    started = time.perf_counter()
    log(f"building the seed policy in {out}: {len(corpus)} examples from {len(tasks)} tasks")
    losses = _train(out, corpus, config, log)
    from collections import Counter

    manifest = {
        "recipe": RECIPE_VERSION, "hash": key, "config": dataclasses.asdict(config),
        "tasks": len({t for t, _, _ in corpus}), "examples": len(corpus),
        "variants_by_kind": dict(sorted(Counter(v.kind.value for v in variants
                                                if v.task_id in {t.task_id for t in tasks}).items())),
        "loss_first": round(sum(losses[:10]) / len(losses[:10]), 4),
        "loss_last": round(sum(losses[-20:]) / len(losses[-20:]), 4),
        "seconds": round(time.perf_counter() - started, 1),
        "note": "a tiny model trained from scratch on the bank's variants; it knows only these tasks",
    }
    write_json(manifest_path, manifest)
    log(f"seed built in {manifest['seconds']} s (loss {manifest['loss_first']} -> {manifest['loss_last']})")
    return SeedModel(out, False, manifest)


def _train(out: Path, corpus: list[tuple[str, str, str]], config: SeedConfig,
           log: Callable[[str], None]) -> list[float]:
    """Build tokenizer + random model in `out`, fit it on the completions, save in place:
    deterministic (`codealign.trainer.determinism`), `config.threads` torch threads."""
    from codealign.trainer.determinism import deterministic

    with deterministic(config.threads):
        return _fit(out, corpus, config, log)


def _fit(out: Path, corpus: list[tuple[str, str, str]], config: SeedConfig,
         log: Callable[[str], None]) -> list[float]:
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codealign.demo.tinymodel import build_tiny_llama, lm_step

    texts = sorted({p for _, p, _ in corpus} | {c for _, _, c in corpus})
    build_tiny_llama(out, texts, vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                     layers=config.layers, max_positions=max(1024, config.max_length),
                     seed=config.seed)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    model.train()

    examples = []
    for _, prompt, completion in corpus:
        prompt_ids = tokenizer.encode(prompt)                      # <s> + prompt
        completion_ids = tokenizer.encode(completion, add_special_tokens=False) + [tokenizer.eos_token_id]
        ids = (prompt_ids + completion_ids)[: config.max_length]
        examples.append((ids, len(prompt_ids)))

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0,
                                  betas=(0.9, 0.98))
    warmup = max(1, config.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / config.steps))
    losses: list[float] = []
    batches: list[list[int]] = []
    for step in range(config.steps):
        if not batches:
            batches = _length_batches(examples, config.batch_size, rng)
        batch = [examples[i] for i in batches.pop()]
        losses.append(lm_step(model, tokenizer.pad_token_id, batch, optimizer, schedule))
        if step % 50 == 0 or step == config.steps - 1:
            log(f"seed step {step}/{config.steps}: loss {losses[-1]:.3f}")
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    return losses


def _length_batches(examples: list[tuple[list[int], int]], size: int, rng) -> list[list[int]]:
    """One epoch of batches of similar lengths (little padding), in random order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches = []
    window = size * 8
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: len(examples[i][0]))
        batches += [chunk[k:k + size] for k in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches
