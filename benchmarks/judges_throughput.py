"""Static judges (radon + bandit + tamper) in-process and batched, against their CLIs.

Candidates: the 3 x 164 HumanEval-shaped programs shipped with ENAMEL (expert solutions,
HumanEval and HumanEval+ canonical solutions), repeated with a distinct comment each up to
--candidates programs. Two routes, in one run, on one core each:

* in-process: `codealign.judges.judge_static` (radon API, one bandit manager per batch of
  512, tamper AST scan), timed --repeats times over all candidates;

Both routes are timed in CPU seconds (this process's, plus the CLI subprocesses'), which is
what "per core" means and what does not move when other work shares the machine.
* CLI: per candidate, ``radon cc -j``, ``radon mi -j``, ``radon hal -j``, ``radon raw -j``
  (radon has one sub-command per metric; the judge reports all four) and
  ``bandit -f json -q``, as subprocesses, on --cli-candidates of them. The tamper scan has no
  CLI and is added to that route in-process.

Prints a table, then one JSON line: medians of candidates/s per core for both routes and
their ratio (also the ratio against a thinner CLI route: ``radon mi`` + ``bandit`` only).

    .venv/bin/python benchmarks/judges_throughput.py [--candidates 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ENAMEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "enamel"
ENAMEL = Path(os.environ.get("CODEALIGN_ENAMEL", ENAMEL if ENAMEL.is_dir()
                             else "/work/shared/data/enamel"))


def corpus(n: int) -> list[str]:
    programs = []
    for name in ("enamel-references.json", "humaneval-canonical.json",
                 "humanevalplus-canonical.json"):
        for group in json.loads((ENAMEL / "samples" / name).read_text()):
            programs += group[:1]
    out = []
    for i in range(n):
        out.append(programs[i % len(programs)] + f"\n# candidate {i}\n")
    return out


def in_process(codes: list[str], repeats: int) -> list[float]:
    from codealign.judges import judge_static

    judge_static(codes[:8])  # import and plugin loading, outside the timing
    rates = []
    for _ in range(repeats):
        start = _cpu()
        scores = judge_static(codes)
        rates.append(len(codes) / (_cpu() - start))
    errors = sum(not s.ok for per in scores for s in per.values())
    if errors:
        print(f"note: {errors} judge errors in-process", file=sys.stderr)
    return rates


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cli_route(codes: list[str], thin: bool) -> list[float]:
    """CPU seconds per candidate through the CLIs (the subprocesses' own CPU time, so the
    figure is per core and does not depend on how busy the machine is)."""
    from codealign.judges.tamper import judge_tamper

    bindir = Path(sys.executable).parent
    radon, bandit = str(bindir / "radon"), str(bindir / "bandit")
    per = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, code in enumerate(codes):
            path = Path(tmp) / f"c{i}.py"
            path.write_text(code)
            commands = ([[radon, "mi", "-j", str(path)]] if thin else
                        [[radon, sub, "-j", str(path)] for sub in ("cc", "mi", "hal", "raw")])
            commands.append([bandit, "-f", "json", "-q", "-s", "B101", str(path)])
            start = _cpu()
            for cmd in commands:
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode not in (0, 1):
                    raise RuntimeError(f"{cmd}: {proc.stderr[-300:]}")
                json.loads(proc.stdout)
            judge_tamper(code)
            per.append(_cpu() - start)
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cli-candidates", type=int, default=20)
    args = ap.parse_args()

    codes = corpus(args.candidates)
    rates = in_process(codes, args.repeats)
    fast = statistics.median(rates)
    cli = cli_route(codes[:args.cli_candidates], thin=False)
    thin = cli_route(codes[:args.cli_candidates], thin=True)
    cli_rate, thin_rate = 1 / statistics.median(cli), 1 / statistics.median(thin)

    print(f"{'route':46s} {'candidates/s/core':>18s}")
    print(f"{'in-process, batched (radon+bandit+tamper)':46s} {fast:18.1f}   "
          f"(min {min(rates):.1f}, max {max(rates):.1f}, {args.repeats} x {len(codes)})")
    print(f"{'CLI: radon cc/mi/hal/raw + bandit':46s} {cli_rate:18.2f}   "
          f"({len(cli)} candidates, median {statistics.median(cli) * 1000:.0f} ms each)")
    print(f"{'CLI, thin: radon mi + bandit':46s} {thin_rate:18.2f}   "
          f"(median {statistics.median(thin) * 1000:.0f} ms each)")
    print(f"speed-up: {fast / cli_rate:.0f}x (thin CLI: {fast / thin_rate:.0f}x)")
    print(json.dumps({"benchmark": "judges_throughput", "candidates": len(codes),
                      "repeats": args.repeats, "in_process_per_core": round(fast, 1),
                      "cli_per_core": round(cli_rate, 3), "cli_thin_per_core": round(thin_rate, 3),
                      "speedup": round(fast / cli_rate, 1),
                      "speedup_vs_thin_cli": round(fast / thin_rate, 1),
                      "target_per_core": 300, "target_speedup": 50,
                      "meets_targets": fast >= 300 and fast / cli_rate >= 50}))


if __name__ == "__main__":
    main()
