"""Do two runs with other thread counts give the same records? (issue 21, item 6)

Two checks, each in fresh processes so that nothing is shared:

1. **vLLM sampling.** The demo's seed policy samples the same prompts (the first --prompts
   bank tasks, the demo's sampling settings, n=8) in two processes whose vLLM CPU worker runs
   1 and 2 OpenMP threads (``VLLM_CPU_OMP_THREADS_BIND=0`` and ``0-1``): the completions must be
   identical.
2. **The loop.** `codealign loop` on the demo recipe (--rounds rounds) in two folders, one with
   one torch and one vLLM thread, one with two of each: ``rounds.jsonl`` must be identical apart
   from the measured figures (``metrics.mean_cost``), and so must every stage output without
   its measured figures (samples; which samples were paired, and why; the adapter; held-out
   outcomes without costs; the gate's decision). The outputs that differ are named.

    .venv/bin/python scripts/check_reproducible.py [--rounds 1] [--prompts 40] [--out /tmp/repro]

Exits 0 when both hold, 1 otherwise. The seed is built (or taken from the cache,
``$CODEALIGN_CACHE`` or ``.cache/codealign``) first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
THREADS = {"one": {"OMP_NUM_THREADS": "1", "VLLM_CPU_OMP_THREADS_BIND": "0"},
           "two": {"OMP_NUM_THREADS": "2", "VLLM_CPU_OMP_THREADS_BIND": "0-1"}}
sys.path.insert(0, str(ROOT / "tests"))
from seeded_policy import MEASURED, comparable_rounds  # noqa: E402  (the tests' definition)

SAMPLE = """
import hashlib, json, sys
from codealign.generator.protocol import SamplingConfig
from codealign.generator.vllm import VLLMGenerator
from codealign.tasks import load_tasks
model, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
recipe = json.loads(sys.argv[4])
tasks = load_tasks("bank")[:count]
generator = VLLMGenerator(model, **recipe["generator"])
s = recipe["sampling"]
params = SamplingConfig(n=8, temperature=s["temperature"], top_p=s["top_p"], max_tokens=s["max_tokens"],
                        seed=s["seed"], chat=s["chat"])
texts = [[c.text for c in row] for row in generator.generate([t.prompt for t in tasks], 8, params)]
open(out, "w").write(json.dumps(texts))
generator.close()
"""


def env(threads: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_LOGGING_LEVEL": "WARNING", **THREADS[threads]}


def seed_model() -> Path:
    from codealign.demo.seed import build_seed

    return build_seed(log=lambda line: print(line, file=sys.stderr)).path


def check_sampling(model: Path, recipe: dict, prompts: int, out: Path) -> bool:
    texts = {}
    for threads in THREADS:
        path = out / f"samples-{threads}.json"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", SAMPLE, str(model), str(prompts), str(path),
                               json.dumps(recipe)], env=env(threads), cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"sampling with {threads} thread(s) failed:\n{done.stderr[-3000:]}")
        texts[threads] = json.loads(path.read_text())
        print(f"vLLM, {threads} thread(s): {sum(map(len, texts[threads]))} completions "
              f"({time.perf_counter() - started:.0f} s)")
    differ = [(i, j) for i, row in enumerate(texts["one"]) for j, text in enumerate(row)
              if text != texts["two"][i][j]]
    print(f"vLLM sampling: {len(differ)} of {sum(map(len, texts['one']))} completions differ"
          + (f" (first: prompt {differ[0][0]}, sample {differ[0][1]})" if differ else ""))
    return not differ


def _digest(path: Path) -> str:
    """Content hash of a stage output, its measured figures left out (costs, CPU seconds)."""
    if path.is_dir():
        return hashlib.sha256(b"".join(_digest(p).encode() for p in sorted(path.rglob("*")) if p.is_file())).hexdigest()
    if path.name == "outcomes.jsonl":
        rows = [{k: v for k, v in json.loads(line).items() if k != "cost"} for line in path.read_text().splitlines()]
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    if path.name == "pairs.jsonl":      # which samples were paired, and why (the verdicts hold CPU times)
        rows = [[p[k] for k in ("chosen_id", "rejected_id", "reason")]
                for p in map(json.loads, path.read_text().splitlines())]
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Stage outputs compared (without their measured figures), in the order a round makes them.
COMPARED = ("sample/samples.jsonl", "judge/pairs.jsonl", "train/adapter", "evaluate/samples.jsonl",
            "evaluate/outcomes.jsonl", "gate/decision.json")


def check_loop(model: Path, recipe: dict, rounds: int, out: Path) -> bool:
    runs = {}
    for threads in THREADS:
        folder = out / f"loop-{threads}"
        data = {**recipe, "name": "repro", "model": str(model), "rounds": rounds, "run_dir": str(folder)}
        path = folder / "recipe.yaml"
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "codealign", "loop", "--config", str(path)],
                              env=env(threads), cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"the loop with {threads} thread(s) failed:\n{done.stderr[-3000:]}")
        runs[threads] = folder / "repro"
        print(f"loop, {threads} thread(s): {rounds} round(s) in {time.perf_counter() - started:.0f} s")
    a, b = runs["one"], runs["two"]
    differ = [f"round-{k}/{rel}" for k in range(rounds + 1) for rel in COMPARED
              if (a / f"round-{k}" / rel).exists() and (b / f"round-{k}" / rel).exists()
              and _digest(a / f"round-{k}" / rel) != _digest(b / f"round-{k}" / rel)]
    same = comparable_rounds(a) == comparable_rounds(b)
    print(f"rounds.jsonl apart from {MEASURED}: {'identical' if same else 'DIFFERENT'}; "
          + (f"stage outputs that differ, in order: {', '.join(differ)}" if differ
             else "every compared stage output is identical"))
    if differ and differ[0].endswith("pairs.jsonl"):
        for threads, run in runs.items():
            reasons = [json.loads(line)["reason"] for line in (run / differ[0]).read_text().splitlines()]
            print(f"  {threads} thread(s): {len(reasons)} pairs, "
                  + ", ".join(f"{r} {reasons.count(r)}" for r in sorted(set(reasons))))
    return same and not differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("/tmp/codealign-repro"))
    parser.add_argument("--skip-sampling", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    recipe = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    model = seed_model()
    ok = args.skip_sampling or check_sampling(model, recipe, args.prompts, args.out)
    ok = check_loop(model, recipe, args.rounds, args.out) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
