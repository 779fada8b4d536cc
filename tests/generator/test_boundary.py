"""The prompt/completion boundary: what the sampler continues is what DPO trains on.

A byte-level BPE merges a prompt's final newline with the indentation that follows. If the
sampler continued `task.prompt` ("...\\n") while TRL tokenized prompt + completion together,
the trained context would lack the prompt's last token (TRL: "the tokenized prompt is not a
prefix of the tokenized prompt+completion"). The generator continues
`Task.continuation_prompt` and pairs carry that same text as their prompt.
"""

from __future__ import annotations

import pytest

from codealign.generator.extract import extract_code
from codealign.judges.pairs import completion_text
from codealign.tasks import load_tasks


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _prefix(tok, prompt: str, completion: str) -> bool:
    alone = tok(prompt, add_special_tokens=False)["input_ids"]
    joined = tok(prompt + completion, add_special_tokens=False)["input_ids"]
    return joined[:len(alone)] == alone


@pytest.mark.parametrize("index", [0, 2, 7, 53])
def test_continuation_prompt_ends_on_a_token_boundary(tokenizer, index):
    task = load_tasks("humaneval")[index]
    body = "    return None\n"
    # The published prompt ends in a newline that merges with the body's indentation...
    assert task.prompt.endswith("\n") and not _prefix(tokenizer, task.prompt, body)
    # ...the text the generator continues does not: its tokens stay a prefix.
    code = task.prompt + body
    completion = completion_text(task, code)
    assert completion.startswith("\n")
    assert _prefix(tokenizer, task.continuation_prompt, completion)
    # And the sampled continuation of that text rebuilds the same program.
    assert extract_code(task, completion, prompt=task.continuation_prompt) == code


def test_pairs_carry_the_continuation_prompt():
    from codealign.generator.sample import Sample
    from codealign.judges import judge_executions
    from codealign.sandbox.execution import Cost, Execution, Status

    task = load_tasks("humaneval")[0]
    good, bad = task.prompt + task.reference, task.prompt + "    return None\n"
    samples = [Sample(task.task_id, "good", good), Sample(task.task_id, "bad", bad)]
    executions = [Execution("good", task.task_id, Status.PASSED, 1, 1, cost=Cost(ops=10, perf_cpu_s=1e-4)),
                  Execution("bad", task.task_id, Status.FAILED, 0, 1)]
    _, pairs, _ = judge_executions([task], samples, executions)
    assert pairs and all(p.prompt == task.continuation_prompt for p in pairs)
    assert pairs[0].prompt + pairs[0].chosen == good
