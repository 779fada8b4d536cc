"""Sampling throughput: the vllm backend against the hf (transformers `generate`) backend.

One run builds a tiny Llama locally (`codealign.tinymodel.build_tiny_llama`), loads it in both
backends, and samples the same --prompts code prompts with the same `SamplingConfig`
(n=8, plain continuation, temperature 1.0, --max-tokens, no stop sequences, float32 in
both, so both produce
the same number of tokens per sample up to EOS). Each backend does one warm-up call, then
--repeats timed calls of all prompts; engine/model loading is not timed (the loop keeps the
engine loaded between rounds). hf samples --hf-batch prompts per `generate` call (each
expanded to n sequences).

Prints a table, then one JSON line: median samples/s of each backend and their ratio.
Target: vllm ≥ 5x hf.

    .venv/bin/python benchmarks/generation_throughput.py [--prompts 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def is_even(n):\n    return n % 2 == 0\n",
    "def reverse(s):\n    return s[::-1]\n",
    "def total(xs):\n    result = 0\n    for x in xs:\n        result += x\n    return result\n",
    "import math\n\ndef area(r):\n    return math.pi * r ** 2\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
] * 10


def prompts(count: int) -> list[str]:
    names = ["add", "scale", "merge", "count_words", "dedupe", "flatten", "parse", "median"]
    return [f"def {names[i % len(names)]}_{i}(xs, k={i}):\n    \"\"\"Task {i}.\"\"\"\n"
            for i in range(count)]


def timed(generator, batch: list[str], params, repeats: int) -> tuple[list[float], int]:
    generator.generate(batch[:2], params.n, params)  # warm-up
    seconds, tokens = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        out = generator.generate(batch, params.n, params)
        seconds.append(time.perf_counter() - start)
        tokens = sum(c.tokens for cs in out for c in cs)
    return seconds, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hf-batch", type=int, default=8)
    args = parser.parse_args()

    from codealign.generator import SamplingConfig, make_generator
    from codealign.tinymodel import build_tiny_llama

    batch = prompts(args.prompts)
    params = SamplingConfig(n=args.n, temperature=1.0, top_p=1.0, max_tokens=args.max_tokens,
                            seed=0, chat=False)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_llama(os.path.join(tmp, "tiny"), CORPUS, vocab_size=512))
        hf = make_generator("hf", model, batch_size=args.hf_batch)
        rows["hf"] = timed(hf, batch, params, args.repeats)
        hf.close()
        vllm = make_generator("vllm", model, max_model_len=512, enable_lora=False,
                              dtype="float32")  # same precision as hf
        rows["vllm"] = timed(vllm, batch, params, args.repeats)
        vllm.close()

    samples = args.prompts * args.n
    rate = {k: samples / statistics.median(s) for k, (s, _) in rows.items()}
    print(f"{args.prompts} prompts x n={args.n}, max_tokens={args.max_tokens}, "
          f"{args.repeats} repeats (median), tiny Llama on {os.cpu_count()} CPU cores")
    print(f"{'backend':8s} {'samples/s':>10s} {'tokens/s':>10s} {'median s':>9s} {'min s':>7s} "
          f"{'max s':>7s}")
    for name, (seconds, tokens) in rows.items():
        med = statistics.median(seconds)
        print(f"{name:8s} {rate[name]:10.1f} {tokens / med:10.0f} {med:9.2f} {min(seconds):7.2f} "
              f"{max(seconds):7.2f}")
    ratio = rate["vllm"] / rate["hf"]
    print(f"vllm / hf: {ratio:.1f}x (target 5x)")
    print(json.dumps({"benchmark": "generation_throughput", "prompts": args.prompts, "n": args.n,
                      "max_tokens": args.max_tokens, "repeats": args.repeats,
                      "vllm_samples_per_s": round(rate["vllm"], 1),
                      "hf_samples_per_s": round(rate["hf"], 1),
                      "vllm_tokens": rows["vllm"][1], "hf_tokens": rows["hf"][1],
                      "ratio": round(ratio, 2), "target_ratio": 5, "meets_target": ratio >= 5}))


if __name__ == "__main__":
    main()
