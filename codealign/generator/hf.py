"""The transformers backend: `model.generate` in batches, for machines without vLLM.

Prompts are left-padded and sampled `batch_size` at a time with ``num_return_sequences=n``;
the torch RNG is seeded with ``seed + i`` before the batch starting at prompt ``i`` (so, unlike
vLLM, a prompt's samples depend on its batch neighbours when ``batch_size > 1``). Stop
sequences are honoured through ``stop_strings`` and cut from the text. An adapter is attached
with PEFT once per directory and switched on per call; the base is sampled with adapters
disabled. Much slower than vLLM (no continuous batching, no paged KV cache): see
``benchmarks/generation_throughput.py``.
"""

from __future__ import annotations

from pathlib import Path

from codealign.errors import GeneratorError
from codealign.generator.adapter import check_adapter, check_model_path
from codealign.generator.protocol import (Completion, Counts, FinishReason, SamplingConfig, per_prompt,
                                          template_chat)

__all__ = ["HFGenerator"]


class HFGenerator:
    """Sample with transformers.

    Args:
        model: local directory or hub id.
        batch_size: prompts per `generate` call (each expands to n sequences).
        dtype: torch dtype name ("float32", "bfloat16", "auto").
        device: torch device ("cpu", "cuda", ...).
    """

    def __init__(self, model: str, *, batch_size: int = 8, dtype: str = "float32",
                 device: str = "cpu") -> None:
        check_model_path(model)
        if batch_size < 1:
            raise GeneratorError(f"batch_size must be ≥ 1, got {batch_size}")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise GeneratorError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
            self._model = AutoModelForCausalLM.from_pretrained(
                model, dtype=getattr(torch, dtype) if dtype != "auto" else "auto").to(device)
        except (OSError, ValueError) as exc:
            raise GeneratorError(f"transformers cannot load model {model!r}: {exc}") from exc
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._model.eval()
        self.model, self.batch_size, self.device = model, batch_size, device
        self._adapters: dict[Path, str] = {}

    def uses_chat(self, params: SamplingConfig) -> bool:
        return template_chat(self._tokenizer, self.model, params)

    def _use_adapter(self, adapter: str | None):
        """The model to sample with: base with adapters off, or the adapter switched on."""
        import contextlib

        from peft import PeftModel

        if adapter is None:
            return (self._model.disable_adapter() if isinstance(self._model, PeftModel)
                    else contextlib.nullcontext())
        info = check_adapter(adapter, self.model)
        if info.path not in self._adapters:
            name = f"adapter-{len(self._adapters) + 1}"
            if isinstance(self._model, PeftModel):
                self._model.load_adapter(str(info.path), adapter_name=name)
            else:
                self._model = PeftModel.from_pretrained(self._model, str(info.path),
                                                        adapter_name=name)
            self._model.eval()
            self._adapters[info.path] = name
        self._model.set_adapter(self._adapters[info.path])
        return contextlib.nullcontext()

    def _render(self, prompt: str, chat: bool) -> str:
        if not chat:
            return prompt
        return self._tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list[str], n: Counts, params: SamplingConfig,
                 adapter: str | None = None) -> list[list[Completion]]:
        import torch

        chat = self.uses_chat(params)
        tok = self._tokenizer
        counts = per_prompt(n, len(prompts))
        results: list[list[Completion]] = []
        with self._use_adapter(adapter), torch.inference_mode():
            for start, stop in _batches(counts, self.batch_size):
                count = counts[start]
                batch = [self._render(p, chat) for p in prompts[start:stop]]
                enc = tok(batch, return_tensors="pt", padding=True,
                          add_special_tokens=not chat).to(self.device)
                seed = params.prompt_seed(start)
                if seed is not None:
                    torch.manual_seed(seed)
                sampling = dict(do_sample=True, temperature=params.temperature,
                                top_p=params.top_p) if params.temperature > 0 else \
                    dict(do_sample=False)
                out = self._model.generate(
                    **enc, max_new_tokens=params.max_tokens, num_return_sequences=count,
                    stop_strings=list(params.stop) or None, tokenizer=tok,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **sampling)
                new = out[:, enc["input_ids"].shape[1]:]
                for row in range(len(batch)):
                    results.append([self._completion(new[row * count + k], params)
                                    for k in range(count)])
        return results

    def _completion(self, ids, params: SamplingConfig) -> Completion:
        tok = self._tokenizer
        ids = ids.tolist()
        ended = tok.eos_token_id in ids
        if ended:
            ids = ids[:ids.index(tok.eos_token_id)]
        while ids and ids[-1] == tok.pad_token_id:  # finished early in a batch
            ids.pop()
            ended = True
        text = tok.decode(ids, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in params.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, ended = text[:cut], True
        reason = FinishReason.STOP if ended or len(ids) < params.max_tokens \
            else FinishReason.LENGTH
        return Completion(text, len(ids), reason)

    def close(self) -> None:
        self._model = None


def _batches(counts: list[int], size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive prompts with the same count, at most `size` of them (one
    ``generate`` call each: `num_return_sequences` is one number per call).

    >>> _batches([2, 2, 2, 1, 1], 2)
    [(0, 2), (2, 3), (3, 5)]
    """
    out: list[tuple[int, int]] = []
    for i, c in enumerate(counts):
        if out and out[-1][1] == i and counts[out[-1][0]] == c and i - out[-1][0] < size:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out
