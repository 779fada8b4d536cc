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


# ---------------------------------------------------------------------------------------------
# A loop recipe on this policy and the CLI that runs it (the loop and run-engine tests)

ROOT = Path(__file__).resolve().parents[1]
KILL_ENV = "CODEALIGN_KILL_AT"      # codealign.runs.stages.KILL_ENV


def write_recipe(tmp_path: Path, model: Path, rounds: int = 1, name: str = "t", **overrides) -> Path:
    """A loop recipe (hf backend, bwrap sandbox, tiny sizes) on the four tasks; `overrides`
    replace top-level fields or update sections (``dpo={"beta": 0.2}``)."""
    import yaml

    recipe = {
        "name": name, "model": str(model), "backend": "hf",
        "tasks": str(write_tasks(tmp_path / "tasks.jsonl")),
        "rounds": rounds, "seed": 0, "run_dir": str(tmp_path / "runs"),
        "generator": {"batch_size": 4},
        "sampling": {"n": 6, "temperature": 1.0, "top_p": 1.0, "max_tokens": 24, "seed": 0, "chat": False},
        "sandbox": {"backend": "bwrap", "workers": 2},
        "pairs": {"max_pairs_per_task": 4},
        "dpo": {"beta": 0.1, "loss_type": ["sigmoid", "sft"], "learning_rate": 1e-3, "epochs": 1,
                "batch_size": 4, "max_length": 64, "lora_r": 4, "lora_alpha": 8,
                "lora_target_modules": ["q_proj", "v_proj"]},
        "evaluation": {"heldout_fraction": 0.25, "split_seed": 0, "n_samples": 4, "k": [1, 2, 4],
                       "temperature": 1.0},
        "gate": {"objective": "pass@1", "pass_at_1_tolerance": 0.05},
    }
    for key, value in overrides.items():
        if isinstance(recipe.get(key), dict) and isinstance(value, dict):
            recipe[key] = {**recipe[key], **value}
        else:
            recipe[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def cli_env(kill_at: str | None = None, threads: int = 1) -> dict[str, str]:
    # One torch thread: on a busy 2-core machine two threads spin against each other (20x slower).
    import os

    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {"OMP_NUM_THREADS": str(threads)}
    if kill_at:
        env[KILL_ENV] = kill_at
    return env


def run_cli(recipe: Path, kill_at: str | None = None, rounds: int | None = None, *args: str, threads: int = 1):
    """`codealign loop --config recipe` to the end (a CompletedProcess), with `threads` torch threads."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "codealign", "loop", "--config", str(recipe), *args]
    if rounds is not None:
        cmd += ["--rounds", str(rounds)]
    return subprocess.run(cmd, capture_output=True, text=True, env=cli_env(kill_at, threads), cwd=ROOT,
                          timeout=600)


MEASURED = ("mean_cost",)
"""Round metrics that are measurements of CPU time (`codealign.judges.efficiency.cost_s`): two
runs with the same seeds agree on everything else in rounds.jsonl, not on these."""


def comparable_rounds(run: Path) -> list[dict]:
    """rounds.jsonl of `run` without the measured figures (for comparing two runs)."""
    rounds = [json.loads(line) for line in (run / "rounds.jsonl").read_text().splitlines()]
    for r in rounds:
        for name in MEASURED:
            (r.get("metrics") or {}).pop(name, None)
    return rounds


def comparable_metrics(metrics: dict) -> dict:
    """A round's metrics without the measured figures."""
    return {k: v for k, v in metrics.items() if k not in MEASURED}
