"""A tiny Llama fitted in seconds to solution variants of four small tasks.

Shared by the trainer and loop tests: its samples mix correct, wrong and insecure answers, so
the judges find pairs, and its log-probabilities of the variants are already high, as a real
policy's are for its own samples (which is when plain DPO lowers the chosen log-probability).

Prompts end without a newline so that the tokens at the prompt/completion boundary are the
ones the policy saw in training (a lone trailing "\\n" token never occurs before "    return").
"""

from __future__ import annotations

import json
from pathlib import Path

TASKS = {
    "add": ('def add(a, b):\n    """Sum."""', "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
            ["\n    return a + b\n", "\n    return a - b\n", "\n    return eval(str(a) + '+' + str(b))\n"]),
    "double": ('def double(x):\n    """Twice x."""', "assert double(3) == 6\nassert double(0) == 0\n",
               ["\n    return x * 2\n", "\n    return x + x\n", "\n    return x ** 2\n"]),
    "neg": ('def neg(x):\n    """Minus x."""', "assert neg(3) == -3\nassert neg(-2) == 2\n",
            ["\n    return -x\n", "\n    return 0 - x\n", "\n    return x\n"]),
    "square": ('def square(x):\n    """x squared."""', "assert square(3) == 9\nassert square(-2) == 4\n",
               ["\n    return x * x\n", "\n    return x ** 2\n", "\n    return x + x\n"]),
}


def write_tasks(path: Path) -> Path:
    """The four tasks as a codealign task JSONL (code prompts; the first variant is the reference)."""
    lines = [json.dumps({"task_id": tid, "prompt": prompt, "entry_point": tid, "tests": tests,
                         "prompt_style": "code", "reference": prompt + variants[0]})
             for tid, (prompt, tests, variants) in TASKS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_pairs(path: Path) -> Path:
    """TRL pairs: the first variant chosen over each of the other two (8 pairs)."""
    rows = [{"prompt": p, "chosen": vs[0], "rejected": r} for p, _, vs in TASKS.values() for r in vs[1:]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def seeded_policy(base_temp: Path) -> Path:
    """Build (once per pytest session: cached under the session's base temp dir) the policy."""
    import torch

    from codealign.demo.tinymodel import build_tiny_llama, train_tiny_lm

    out = base_temp / "seeded-policy"
    if (out / "done").exists():
        return out
    # One torch thread: on a busy 2-core machine two threads spin against each other (20x slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        texts = [prompt + v for prompt, _, variants in TASKS.values() for v in variants]
        build_tiny_llama(out, texts * 4, vocab_size=320, seed=0)
        train_tiny_lm(out, texts, steps=120, batch_size=12, max_length=48, lr=3e-3, seed=0)
    finally:
        torch.set_num_threads(threads)
    (out / "done").write_text("")
    return out
