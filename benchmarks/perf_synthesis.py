"""How often perf inputs are synthesised from a task's tests (HumanEval, MBPP).

For every task of each set (none of which ships perf inputs), `codealign.sandbox.perfinputs`
scales the tests' literal call arguments and keeps the inputs on which the task's reference
returns within the operation budget, probing in the sandbox (`inputs.synthesise_inputs`). Prints, per set, the fraction of tasks that
got inputs, the reasons the others did not, and the median size of the kept inputs; then
one JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/perf_synthesis.py [--sets humaneval mbpp]
        [--limit N] [--cache DIR]   # a fresh DIR measures from scratch
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["humaneval", "mbpp"],
                    help="task set names or files (e.g. ../shared/data/mbpp/mbpp.jsonl)")
    ap.add_argument("--limit", type=int, default=0, help="first N tasks of each set (0: all)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--cache", default="", help="cache folder (default: a fresh temporary one)")
    args = ap.parse_args()

    from codealign.sandbox import SandboxConfig
    from codealign.sandbox.inputs import synthesise_inputs
    from codealign.tasks import TASK_SETS, load_tasks

    cache = args.cache or tempfile.mkdtemp(prefix="codealign-perf-synthesis-")
    config = SandboxConfig(workers=args.workers, inputs_cache_dir=cache)
    out = {"benchmark": "perf_synthesis"}
    for name in args.sets:
        tasks = load_tasks(name)[:args.limit or None]
        start = time.monotonic()
        found = synthesise_inputs(tasks, config).tasks
        elapsed = time.monotonic() - start
        with_inputs = [s for s in found.values() if s.perf_inputs]
        why = Counter(("no reference" if not t.reference else
                       found[t.task_id].why.split(":")[0][:60] if not found[t.task_id].perf_inputs
                       else "found") for t in tasks)
        sizes = [len(src) for s in with_inputs for src in s.perf_inputs]
        fraction = len(with_inputs) / len(tasks) if tasks else 0.0
        name = Path(name).stem if name not in TASK_SETS else name
        print(f"{name}: perf inputs synthesised for {len(with_inputs)}/{len(tasks)} tasks "
              f"({fraction:.1%}) in {elapsed:.0f}s; median input {statistics.median(sizes) if sizes else 0:.0f} "
              f"chars; {dict(why.most_common(6))}")
        out[name] = {"tasks": len(tasks), "synthesised": len(with_inputs),
                     "fraction": round(fraction, 4), "seconds": round(elapsed, 1),
                     "reasons": dict(why.most_common())}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
