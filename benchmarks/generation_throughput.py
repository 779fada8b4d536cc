"""Sampling throughput: the vllm backend against the hf (transformers `generate`) backend.

One run builds a tiny Llama locally (`codealign.demo.tinymodel.build_tiny_llama`), loads it in both
backends, and samples the same --prompts code prompts with the same `SamplingConfig`
(n=8, plain continuation, temperature 1.0, --max-tokens, no stop sequences, float32 in both,
so both produce the same number of tokens per sample up to EOS). Each backend does one
warm-up call, then --repeats timed calls of all prompts, interleaved (hf, vllm, hf, ...) so
both see the same load from whatever else runs on the machine; engine/model loading is not
timed (the loop keeps the engine loaded between rounds). Also measured: CPU seconds of this
process and its children (vLLM's engine core and worker), a figure that moves less than wall
time when other work shares the cores. hf samples --hf-batch prompts per `generate` call (each
expanded to n sequences).

hf is timed twice: with torch's default thread count and with one thread (what vLLM's CPU
worker uses; on a busy 2-core machine one thread is often much faster because two spinning
OpenMP threads get descheduled). The ratio is taken against the faster of the two.

--model seed uses the demo's seed policy instead (`codealign.demo.seed.build_seed`, built once and
cached: a tiny Llama trained on the bank's solution variants) on the bank's prompts: its
samples stop at EOS after varied lengths, as real code samples do, where the random tiny model
runs every sample to --max-tokens. Batched `generate` pads every sequence of a batch to its
longest; vLLM's continuous batching does not, which is where much of its advantage comes from.

Prints a table, then one JSON line: median samples/s of each route and vllm / best hf.
Target: vllm ≥ 5x hf. On this CPU-only machine with a 128-wide, 2-layer model the model's
arithmetic is negligible and vLLM's fixed per-step cost (scheduler, sampler, detokenizer,
IPC) dominates, so the ratio here says little about a real model on a GPU.

    .venv/bin/python benchmarks/generation_throughput.py [--prompts 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from codealign.demo.tinymodel import CODE_SNIPPETS

CORPUS = list(CODE_SNIPPETS) * 10


def prompts(count: int) -> list[str]:
    names = ["add", "scale", "merge", "count_words", "dedupe", "flatten", "parse", "median"]
    return [f"def {names[i % len(names)]}_{i}(xs, k={i}):\n    \"\"\"Task {i}.\"\"\"\n"
            for i in range(count)]


def cpu_seconds() -> float:
    """CPU time of this process and all its children (vLLM's engine core and worker)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me] + me.children(recursive=True):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure(routes: dict, batch: list[str], params, repeats: int) -> dict:
    """Interleaved repeats (hf, hf-1thread, vllm, hf, ...) so all see the same machine load.
    `routes`: name -> (generator, torch threads of this process or None for the default).
    Returns name -> (wall seconds per repeat, CPU seconds per repeat, tokens)."""
    import torch

    default_threads = torch.get_num_threads()
    for generator, _ in routes.values():
        generator.generate(batch[:2], params.n, params)  # warm-up
    rows = {name: ([], [], 0) for name in routes}
    for _ in range(repeats):
        for name, (generator, threads) in routes.items():
            torch.set_num_threads(threads or default_threads)
            cpu, start = cpu_seconds(), time.perf_counter()
            out = generator.generate(batch, params.n, params)
            rows[name][0].append(time.perf_counter() - start)
            rows[name][1].append(cpu_seconds() - cpu)
            rows[name] = (rows[name][0], rows[name][1], sum(c.tokens for cs in out for c in cs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hf-batch", type=int, default=8)
    parser.add_argument("--model", choices=("tiny", "seed"), default="tiny",
                        help="tiny: random 128-wide Llama; seed: the demo's trained seed policy")
    args = parser.parse_args()

    from codealign.generator import SamplingConfig, make_generator
    from codealign.demo.tinymodel import build_tiny_llama

    batch = prompts(args.prompts)
    params = SamplingConfig(n=args.n, temperature=1.0, top_p=1.0, max_tokens=args.max_tokens,
                            seed=0, chat=False)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "seed":
            from codealign.demo.seed import build_seed
            from codealign.tasks import load_tasks

            model = str(build_seed().path)
            batch = [t.prompt for t in load_tasks("bank")][:args.prompts]
            params = SamplingConfig(n=args.n, temperature=0.8, top_p=0.95,
                                    max_tokens=args.max_tokens, seed=0, chat=False)
        else:
            model = str(build_tiny_llama(os.path.join(tmp, "tiny"), CORPUS, vocab_size=512))
        hf = make_generator("hf", model, batch_size=args.hf_batch)
        max_len = args.max_tokens + (512 if args.model == "seed" else 64)  # bank prompts are long
        vllm = make_generator("vllm", model, max_model_len=max_len,
                              enable_lora=False, dtype="float32")  # same precision as hf
        # vLLM's CPU worker runs one torch thread; hf runs with the default and with one.
        rows = measure({"hf": (hf, None), "hf-1thread": (hf, 1), "vllm": (vllm, None)},
                       batch, params, args.repeats)
        hf.close()
        vllm.close()

    samples = args.prompts * args.n
    wall = {k: samples / statistics.median(w) for k, (w, _, _) in rows.items()}
    per_cpu = {k: samples / statistics.median(c) for k, (_, c, _) in rows.items()}
    print(f"{args.prompts} prompts x n={args.n}, max_tokens={args.max_tokens}, {args.repeats} "
          f"interleaved repeats (medians), {args.model} Llama, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'backend':10s} {'samples/s':>10s} {'tokens/s':>10s} {'samples/cpu-s':>14s} "
          f"{'wall s (min..max)':>20s}")
    for name, (seconds, _, tokens) in rows.items():
        print(f"{name:10s} {wall[name]:10.1f} {tokens / statistics.median(seconds):10.0f} "
              f"{per_cpu[name]:14.1f} {statistics.median(seconds):8.2f} "
              f"({min(seconds):.2f}..{max(seconds):.2f})")
    best_hf = max(("hf", "hf-1thread"), key=lambda k: wall[k])
    ratio, cpu_ratio = wall["vllm"] / wall[best_hf], per_cpu["vllm"] / per_cpu[best_hf]
    print(f"vllm / best hf ({best_hf}): {ratio:.1f}x samples/s, {cpu_ratio:.1f}x samples per CPU "
          f"second (target 5x); vllm / hf default threads: {wall['vllm'] / wall['hf']:.1f}x")
    print(json.dumps({"benchmark": "generation_throughput", "model": args.model,
                      "prompts": args.prompts, "n": args.n,
                      "max_tokens": args.max_tokens, "repeats": args.repeats,
                      "vllm_samples_per_s": round(wall["vllm"], 1),
                      "hf_samples_per_s": round(wall["hf"], 1),
                      "hf_1thread_samples_per_s": round(wall["hf-1thread"], 1),
                      "best_hf": best_hf,
                      "vllm_samples_per_cpu_s": round(per_cpu["vllm"], 1),
                      "hf_samples_per_cpu_s": round(per_cpu[best_hf], 1),
                      "vllm_tokens": rows["vllm"][2], "hf_tokens": rows["hf"][2],
                      "ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2),
                      "load_average": round(os.getloadavg()[0], 1),
                      "target_ratio": 5, "meets_target": ratio >= 5}))


if __name__ == "__main__":
    main()
