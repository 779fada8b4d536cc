"""What every generator backend offers: `Generator.generate`, `SamplingConfig`, `Completion`.

A backend turns prompts into `n` completions each. It knows how to reach a model (in-process
vLLM, an OpenAI-compatible server, transformers) and nothing about tasks or code; extraction
and `Sample` records are built on top (`codealign.generator.sample_tasks`).

Chat or plain continuation: ``SamplingConfig.chat`` is ``True`` (wrap each prompt as one user
message through the model's chat template), ``False`` (the prompt is the raw text the model
continues) or ``None`` (auto: chat iff the tokenizer has a chat template; servers cannot be
asked, so the openai backend reads ``None`` as ``False``). `Generator.uses_chat` says which one
a backend chose, so extraction knows what kind of text came back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Protocol

from pydantic import Field

from codealign.errors import GeneratorError
from codealign.stage_config import Boolean, Integer, Number, Text, stage_config

__all__ = ["Completion", "FinishReason", "Generator", "SamplingConfig", "Counts", "per_prompt"]

Counts = int | Sequence[int]
"""How many completions `Generator.generate` draws: one count for every prompt, or one per prompt."""


def per_prompt(n: Counts, prompts: int) -> list[int]:
    """`n` as one positive count per prompt.

    >>> per_prompt(3, 2), per_prompt([1, 4], 2)
    ([3, 3], [1, 4])
    """
    counts = [n] * prompts if isinstance(n, int) else list(n)
    if len(counts) != prompts or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in counts):
        raise ValueError(f"need one positive count per prompt ({prompts}), got {n!r}")
    return counts


class FinishReason(str, Enum):
    """Why a completion ended: a stop sequence / end-of-sequence token, or `max_tokens`."""

    STOP = "stop"
    LENGTH = "length"

    @classmethod
    def of(cls, reason: str | None) -> "FinishReason":
        """Normalise a backend's reason (``"eos"``, ``"stop"``, ``"length"``, None...).

        >>> FinishReason.of("length"), FinishReason.of(None)
        (<FinishReason.LENGTH: 'length'>, <FinishReason.STOP: 'stop'>)
        """
        return cls.LENGTH if reason == "length" else cls.STOP


@dataclass(frozen=True)
class Completion:
    """One completion: its text, how many tokens it took, and why it ended."""

    text: str
    tokens: int
    finish_reason: FinishReason = FinishReason.STOP


@stage_config
class SamplingConfig:
    """How to sample (the generator stage's config).

    Attributes:
        n: completions per prompt.
        temperature: 0 means greedy; must be ≥ 0.
        top_p: nucleus mass in (0, 1].
        max_tokens: completion length limit; a completion cut here has finish reason "length".
        stop: stop sequences (not included in the text). Continuations of code prompts also
            get `codealign.generator.extract.CONTINUATION_STOP` from `sample_tasks`.
        seed: base seed; prompt ``i`` of a call is sampled with ``seed + i`` so that a
            prompt's samples do not depend on the batch around it. None: unseeded.
        chat: True = chat template, False = plain continuation, None = chat iff the model's
            tokenizer has a chat template.
    """

    n: Annotated[Integer, Field(ge=1, le=1024)] = 8
    temperature: Annotated[Number, Field(ge=0, le=10)] = 0.8
    top_p: Annotated[Number, Field(gt=0, le=1)] = 0.95
    max_tokens: Annotated[Integer, Field(ge=1)] = 512
    stop: tuple[Text, ...] = ()
    seed: Annotated[Integer, Field(ge=0)] | None = 0
    chat: Boolean | None = None

    def prompt_seed(self, index: int) -> int | None:
        """The seed for prompt `index` of a call.

        >>> SamplingConfig(seed=7).prompt_seed(2), SamplingConfig(seed=None).prompt_seed(2)
        (9, None)
        """
        return None if self.seed is None else self.seed + index


class Generator(Protocol):
    """A model that samples completions. Backends: vllm, openai, hf."""

    def generate(self, prompts: list[str], n: Counts, params: SamplingConfig,
                 adapter: str | None = None) -> list[list[Completion]]:
        """`n` completions for each prompt (or `n[i]` for prompt i: `per_prompt`), in prompt
        order. `adapter`: the round's LoRA (a directory; openai also takes a served adapter
        name); None samples the base."""
        ...

    def uses_chat(self, params: SamplingConfig) -> bool:
        """Whether `generate` wraps prompts in the chat template under `params`."""
        ...

    def close(self) -> None:
        """Release the model or connections."""
        ...


def template_chat(tokenizer, model: str, params: SamplingConfig) -> bool:
    """Chat mode for a local tokenizer: its chat template when `params.chat` is None, else
    as asked (asking for chat without a template is an error)."""
    has_template = bool(tokenizer.chat_template)
    if params.chat and not has_template:
        raise GeneratorError(f"chat=True but the tokenizer of {model} has no chat template")
    return has_template if params.chat is None else params.chat
