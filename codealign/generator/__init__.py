"""The generator stage: tasks in, `Sample` records out.

    generator = make_generator("vllm", "path/to/model")
    samples = sample_tasks(tasks, generator, SamplingConfig(n=8), round=1, policy="r1",
                           adapter="runs/r1/adapter")

Backends (`codealign.generator.vllm`, `.openai`, `.hf`) only turn prompts into completions;
here each task's prompt is sent, continuations of code prompts get the HumanEval stop list,
and each completion becomes a `Sample` whose `code` is the module the sandbox runs.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from codealign.errors import ConfigError
from codealign.generator.extract import CONTINUATION_STOP, extract_code
from codealign.generator.protocol import Completion, Counts, FinishReason, Generator, SamplingConfig, per_prompt
from codealign.generator.sample import Sample
from codealign.tasks.task import Task

__all__ = ["BACKENDS", "Completion", "Counts", "FinishReason", "Generator", "Sample", "SamplingConfig",
           "make_generator", "per_prompt", "sample_tasks"]

BACKENDS = ("vllm", "openai", "hf")


def make_generator(backend: str, model: str, **options) -> Generator:
    """Build the backend named `backend` for `model`; `options` go to its constructor."""
    if backend == "vllm":
        from codealign.generator.vllm import VLLMGenerator
        return VLLMGenerator(model, **options)
    if backend == "openai":
        from codealign.generator.openai import OpenAIGenerator
        return OpenAIGenerator(model, **options)
    if backend == "hf":
        from codealign.generator.hf import HFGenerator
        return HFGenerator(model, **options)
    raise ConfigError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}",
                      field="backend")


def sample_tasks(tasks: Sequence[Task], generator: Generator, config: SamplingConfig, *,
                 round: int = 0, policy: str = "", adapter: str | None = None,
                 batch_size: int = 64, progress: Callable[[int], None] | None = None,
                 counts: Sequence[int] | None = None) -> list[Sample]:
    """`config.n` samples per task (or `counts[j]` for task j: 0 skips it), in task order;
    ``sample_id = f"{task_id}#r{round}#{i}"``.

    Tasks go to the generator `batch_size` at a time (`progress(k)` is called after each
    batch with the number of tasks done). Code prompts sampled as plain continuations get
    `CONTINUATION_STOP` added to the stop sequences. Task j is sampled with seed
    ``config.seed + j`` whatever the counts of the others.
    """
    if counts is not None and (len(counts) != len(tasks) or any(
            not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts)):
        raise ValueError(f"counts must give a non-negative integer for each of the {len(tasks)} tasks")
    counts = [config.n] * len(tasks) if counts is None else list(counts)
    chat = generator.uses_chat(config)
    continuation = dataclasses.replace(config, stop=tuple(dict.fromkeys(
        config.stop + CONTINUATION_STOP)))
    samples: list[Sample] = []
    for start in range(0, len(tasks), batch_size):
        batch = list(tasks[start:start + batch_size])
        drawn: dict[int, list[Completion]] = {}
        for offset, run, is_continuation in _runs(batch, chat, counts[start:start + batch_size]):
            run_counts = counts[start + offset:start + offset + len(run)]
            n = run_counts[0] if len(set(run_counts)) == 1 else run_counts
            # Prompt j of the whole task list is always sampled with seed + j.
            params = dataclasses.replace(continuation if is_continuation else config,
                                         seed=config.prompt_seed(start + offset))
            # A continuation starts where the prompt's text ends, not after its trailing
            # whitespace (`Task.continuation_prompt`): the pairs' prompt is the same text.
            got = generator.generate([t.continuation_prompt if is_continuation else t.prompt
                                      for t in run], n, params, adapter)
            drawn.update((offset + i, completions) for i, completions in enumerate(got))
        for j, task in enumerate(batch):
            completions = drawn.get(j, [])
            for i, c in enumerate(completions):
                samples.append(Sample(
                    task_id=task.task_id, sample_id=f"{task.task_id}#r{round}#{i}",
                    code=extract_code(task, c.text, c.finish_reason, chat=chat,
                                      prompt=task.continuation_prompt),
                    completion=c.text, round=round, policy=policy, tokens=c.tokens,
                    finish_reason=c.finish_reason.value))
        if progress is not None:
            progress(len(batch))
    return samples


def _runs(tasks: list[Task], chat: bool, counts: Sequence[int]) -> list[tuple[int, list[Task], bool]]:
    """Split `tasks` into maximal consecutive runs of continuations / whole answers:
    (offset of the run, its tasks, whether they are continuations). Tasks with count 0 are in
    no run (a run is consecutive: prompt i of a run is sampled with the run's seed + i)."""
    runs: list[tuple[int, list[Task], bool]] = []
    previous = -1
    for k, (task, n) in enumerate(zip(tasks, counts)):
        if n == 0:
            continue
        is_continuation = task.prompt_style == "code" and not chat
        if runs and previous == k - 1 and runs[-1][2] == is_continuation:
            runs[-1][1].append(task)
        else:
            runs.append((k, [task], is_continuation))
        previous = k
    return runs
