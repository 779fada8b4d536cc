"""Does the efficiency judge prefer the solution that is really faster? (ENAMEL)

ENAMEL (Qiu et al., 2024) pairs each HumanEval problem with an expert-written efficient
solution and an ``input_generator`` for large inputs. For every problem this benchmark:

1. regenerates large inputs with the problem's ``input_generator`` (trusted code, run in a
   subprocess; one input per level, levels 1-3, fixed seeds);
2. measures the **ground truth** outside the judge: CPU time (``time.process_time``) of the
   expert solution (``samples/enamel-references.json``) and the HumanEval canonical one
   (``samples/humaneval-canonical.json``) on those inputs, min of --repeats runs, in a
   subprocess; it keeps the largest level where the slower solution stays under
   --max-call-s (so that the traced profiling run in the sandbox stays affordable), and
   calls a problem *clear* when one solution is more than --clear times faster there;
3. runs the judge: both solutions through `judge_samples` (bwrap sandbox, ``profile=True``)
   with that input as the task's ``perf_inputs`` and the task's HumanEval tests;
4. counts how often, on clear problems, the judge's cost figure (`efficiency.cost_s`: the
   candidate's CPU time with the op count as a floor calibrated in the same run) prefers
   the truly faster solution (a tie within the ranking tolerance counts as not agreeing),
   and beside it the same count for the op count alone and the CPU time alone, from the
   same run; and what reaches training: the efficiency pair `build_pairs` makes with the
   default `PairConfig` (`clearly_cheaper`: the op count confirmed by measured cost, or
   measured cost alone beyond its band), counted as right, wrong or not made, with the basis
   that decided it; for those not made, the rule that stopped it (`why_no_pair`); and the
   maintainability veto before and after it was limited to code radon ranks hard to maintain:
   how many pairs the former rule (any drop of >= 10 MI points) blocks in this same run,
   how many the current one does, and why, with both indices and both max CCs.

Prints a table, then one JSON line.

    .venv/bin/python benchmarks/efficiency_agreement.py [--limit 164] [--workers 0]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENAMEL = Path(os.environ.get("CODEALIGN_ENAMEL", "/work/shared/data/enamel"))

# Runs a problem's input_generator (trusted) and prints one repr'd argument tuple per level.
GENERATE = r'''
import json, random, string, math, itertools, collections, heapq, bisect, functools, re, sys
from typing import *
job = json.load(sys.stdin)
ns = dict(globals())
exec(job["generator"], ns)
out = {}
for lid, size in job["levels"]:
    random.seed(1000 + lid)
    args = ns["generate_input"](size, lid, 0)
    if not isinstance(args, tuple):
        args = (args,)
    text = repr(args)
    if len(text) > job["max_chars"]:
        continue
    try:
        if eval(text) != args:
            continue
    except Exception:
        continue
    out[str(lid)] = text
print(json.dumps(out))
'''

# Times two trusted solutions on the generated inputs: min CPU seconds over repeats.
TIME = r'''
import copy, json, signal, sys, time
from typing import *
job = json.load(sys.stdin)
fns = {}
for name, code in job["programs"].items():
    ns = dict(globals())
    exec(code, ns)
    fns[name] = ns[job["entry_point"]]

def expire(*_):
    raise TimeoutError
signal.signal(signal.SIGALRM, expire)
result = {}
for lid, text in job["inputs"]:
    args = eval(text)
    row = {}
    for name, fn in fns.items():
        best = None
        for _ in range(job["repeats"]):
            a = copy.deepcopy(args)
            signal.setitimer(signal.ITIMER_REAL, job["call_limit_s"])
            try:
                start = time.process_time()
                fn(*a)
                spent = time.process_time() - start
            except TimeoutError:
                spent = None
            except Exception as exc:
                spent = None
                row["error"] = f"{name}: {type(exc).__name__}: {exc}"[:200]
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if spent is None:
                best = None
                break
            best = spent if best is None else min(best, spent)
        row[name] = best
    result[lid] = row
    if any(row.get(n) is None or row[n] > job["max_call_s"] for n in fns):
        break
print(json.dumps(result))
'''


def _run(script: str, job: dict, timeout: float) -> dict | None:
    try:
        proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(job),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ground_truth(row: dict, expert: str, canonical: str, args) -> dict:
    """The chosen level, its input and the two CPU times (None when not measurable)."""
    sizes = [int(s) for s in row["input_levels"].split()]
    levels = [(lid, sizes[lid]) for lid in (1, 2, 3)]
    inputs = _run(GENERATE, {"generator": row["input_generator"], "levels": levels,
                             "max_chars": args.max_input_chars}, timeout=120)
    if not inputs:
        return {"why": "input generator failed"}
    ordered = sorted(inputs.items(), key=lambda kv: int(kv[0]))
    times = _run(TIME, {"programs": {"expert": expert, "canonical": canonical},
                        "entry_point": row["entry_point"], "inputs": ordered,
                        "repeats": args.repeats, "max_call_s": args.max_call_s,
                        "call_limit_s": max(args.max_call_s * 20, 2.0)},
                 timeout=600)
    if not times:
        return {"why": "timing failed"}
    best = None
    for lid, text in ordered:
        t = times.get(lid)
        if not t or t.get("expert") is None or t.get("canonical") is None:
            break
        if max(t["expert"], t["canonical"]) > args.max_call_s and best is not None:
            break
        best = (lid, text, t)
        if max(t["expert"], t["canonical"]) > args.max_call_s:
            break
    if best is None:
        return {"why": "no level measurable"}
    lid, text, t = best
    return {"level": int(lid), "size": sizes[int(lid)], "input": text,
            "expert_s": t["expert"], "canonical_s": t["canonical"]}


def _cost(v) -> float:
    """The judge's cost figure of a verdict (calibrated in the run)."""
    return v.score("efficiency").details["cost_s"]


def _fixed_floor(v) -> float:
    """The cost figure before the floor was calibrated: ``max(cpu, ops x 20 ns, 1 us)``, a
    floor tuned on one machine (the baseline this run is compared with)."""
    cost = v.execution.cost
    return max(cost.perf_cpu_s or 0.0, cost.ops * 2e-8, 1e-6)


def _why_no_pair(e, c, config) -> str:
    """Which rule of build_pairs kept an efficiency pair from being made, asked of the side
    the cost figure prefers (`codealign.judges.pairs.why_no_pair`)."""
    from codealign.judges.pairs import PairReason, why_no_pair

    lo, hi = sorted((e, c), key=_cost)
    why = why_no_pair(PairReason.EFFICIENCY, lo, hi, config)
    return "other" if why is None else why.value


def _times(ratio: float) -> str:
    return f"{ratio:,.2f}x" if ratio < 100 else f"{ratio:,.0f}x"


def _mi_figures(v) -> tuple[float, int]:
    s = v.score("maintainability")
    return s.value, s.details["cc_max"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=164, help="first N problems")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--max-call-s", type=float, default=0.1)
    ap.add_argument("--max-input-chars", type=int, default=400_000)
    ap.add_argument("--clear", type=float, default=1.5)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--backend", default="bwrap")
    ap.add_argument("--fresh", action="store_true", help="re-measure the ground truth")
    args = ap.parse_args()

    from codealign.generator.sample import Sample
    from codealign.judges import judge_samples
    from codealign.judges.pairs import PairConfig, PairReason, build_pairs
    from codealign.sandbox import SandboxConfig
    from codealign.tasks import load_tasks

    csv.field_size_limit(1 << 30)
    rows = list(csv.DictReader(open(ENAMEL / "dataset" / "enamel.csv", newline="")))[:args.limit]
    experts = json.loads((ENAMEL / "samples" / "enamel-references.json").read_text())
    canon = json.loads((ENAMEL / "samples" / "humaneval-canonical.json").read_text())
    humaneval = {t.task_id: t for t in load_tasks("humaneval")}

    # Ground truth is slow to measure and does not involve the judge: cached per settings.
    key = hashlib.sha256(json.dumps([args.repeats, args.max_call_s, args.max_input_chars,
                                     GENERATE, TIME]).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"codealign-enamel-truth-{key}.json"
    cached = json.loads(cache.read_text()) if cache.exists() and not args.fresh else {}
    started = time.monotonic()
    truths, tasks, samples = {}, [], []
    for i, row in enumerate(rows):
        tid = row["task_id"]
        truth = cached.get(tid) or ground_truth(row, experts[i][0], canon[i][0], args)
        truths[tid] = cached[tid] = truth
        if "input" not in truth:
            continue
        task = dataclasses.replace(humaneval[tid], perf_inputs=(truth["input"],), reference=None,
                                   timeout_s=30.0)
        tasks.append(task)
        samples += [Sample(tid, f"{tid}::expert", experts[i][0]),
                    Sample(tid, f"{tid}::canonical", canon[i][0])]
    truth_s = time.monotonic() - started
    cache.write_text(json.dumps(cached))

    verdicts, _, summary = judge_samples(
        tasks, samples, SandboxConfig(backend=args.backend, workers=args.workers), progress=True)
    judge_s = time.monotonic() - started - truth_s
    by_id = {v.sample_id: v for v in verdicts}

    rows_out, counts = [], {"clear": 0, "agree": 0, "disagree": 0, "tie": 0, "unjudged": 0,
                            "cpu_agree": 0, "ops_agree": 0, "fixed_agree": 0,
                            "pair_right": 0, "pair_wrong": 0,
                            "pair_none": 0}
    task_by_id = {t.task_id: t for t in tasks}
    blocked: list[dict] = []          # by maintainability-regression, the current rule
    before_blocked: list[dict] = []   # by the former rule (any drop of >= 10 MI points)
    only_efficiency = PairConfig(reasons=(PairReason.EFFICIENCY,))
    tolerance = 1.10  # the ranking's default efficiency tolerance
    print(f"{'task':15s} {'lvl':>3s} {'size':>6s} {'gt canon/expert':>15s} {'ops c/e':>10s} "
          f"{'cpu c/e':>8s} {'cost c/e':>8s}  verdict")
    agrees = lambda ratio, gt: ratio is not None and not (1 / tolerance < ratio < tolerance) \
        and (ratio > 1) == (gt > 1)  # noqa: E731
    for row in rows:
        tid, truth = row["task_id"], truths[row["task_id"]]
        if "input" not in truth:
            print(f"{tid:15s} {'-':>3s} {'-':>6s} {'-':>15s} {'-':>10s} {'-':>8s}  skipped: {truth['why']}")
            continue
        gt = max(truth["canonical_s"], 1e-7) / max(truth["expert_s"], 1e-7)
        e, c = by_id[f"{tid}::expert"], by_id[f"{tid}::canonical"]
        clear = gt > args.clear or gt < 1 / args.clear
        ops_ratio = cpu_ratio = cost_ratio = None
        if e.score("efficiency") and c.score("efficiency"):
            ops_ratio = max(c.execution.cost.ops, 1) / max(e.execution.cost.ops, 1)
            cost_ratio = _cost(c) / _cost(e)
            if e.execution.cost.perf_cpu_s and c.execution.cost.perf_cpu_s:
                cpu_ratio = c.execution.cost.perf_cpu_s / e.execution.cost.perf_cpu_s
        if not clear:
            verdict = "not clear"
        elif cost_ratio is None:
            verdict = (f"unjudged (expert {e.execution.status.value}, "
                       f"canonical {c.execution.status.value})")
            counts["clear"] += 1
            counts["unjudged"] += 1
        else:
            counts["clear"] += 1
            if 1 / tolerance < cost_ratio < tolerance:
                verdict, key = "tie", "tie"
            else:
                agree = (cost_ratio > 1) == (gt > 1)
                verdict, key = ("agree" if agree else "DISAGREE"), ("agree" if agree else "disagree")
            counts[key] += 1
            counts["ops_agree"] += agrees(ops_ratio, gt)
            counts["cpu_agree"] += agrees(cpu_ratio, gt)
            counts["fixed_agree"] += agrees(_fixed_floor(c) / _fixed_floor(e), gt)
            pairs = build_pairs(task_by_id[tid], [e, c], only_efficiency)
            lo, hi = sorted((e, c), key=_cost)
            (mi_lo, cc_lo), (mi_hi, cc_hi) = _mi_figures(lo), _mi_figures(hi)
            mi_case = {"task_id": tid, "gt_ratio": round(gt, 2),
                       "faster": "expert" if gt > 1 else "canonical",
                       "mi_faster": mi_lo, "mi_slower": mi_hi, "cc_faster": cc_lo, "cc_slower": cc_hi}
            vetoed_on_mi = not pairs and _why_no_pair(e, c, only_efficiency) == "maintainability-regression"
            if (pairs or vetoed_on_mi) and mi_hi - mi_lo >= only_efficiency.min_maintainability_margin:
                before_blocked.append(mi_case)   # the former rule: any drop of >= 10 MI points
            if not pairs:
                counts["pair_none"] += 1
                why = _why_no_pair(e, c, only_efficiency)
                counts["why_" + why] = counts.get("why_" + why, 0) + 1
                verdict += f"; no pair ({why})"
                if why == "maintainability-regression":
                    verdict += (f" MI {mi_lo:.1f} vs {mi_hi:.1f}, max CC {cc_lo} vs {cc_hi} "
                                f"(faster vs slower)")
                    blocked.append(mi_case)
            else:
                faster = f"{tid}::expert" if gt > 1 else f"{tid}::canonical"
                right = pairs[0].chosen_verdict.sample_id == faster
                counts["pair_right" if right else "pair_wrong"] += 1
                basis = pairs[0].basis.value
                counts["basis_" + basis] = counts.get("basis_" + basis, 0) + 1
                verdict += "; pair " + ("right" if right else "WRONG") + f" ({basis})"
        rows_out.append({"task_id": tid, "gt_ratio": gt, "ops_ratio": ops_ratio,
                         "cpu_ratio": cpu_ratio, "cost_ratio": cost_ratio, "clear": clear,
                         "verdict": verdict})
        fmt = lambda x, w: f"{x:{w}.2f}" if x is not None else f"{'-':>{w}s}"
        print(f"{tid:15s} {truth['level']:3d} {truth['size']:6d} {fmt(gt, 15)} {fmt(ops_ratio, 10)} "
              f"{fmt(cpu_ratio, 8)} {fmt(cost_ratio, 8)}  {verdict}")

    judged = counts["agree"] + counts["disagree"] + counts["tie"]
    agreement = counts["agree"] / judged if judged else math.nan
    clear_ratios = [r["gt_ratio"] for r in rows_out if r["clear"]]
    print(f"\nproblems {len(rows)}, measured {len(tasks)}, clear (>{args.clear}x) {counts['clear']}, "
          f"judged {judged}: agree {counts['agree']}, disagree {counts['disagree']}, "
          f"tie {counts['tie']}, unjudged {counts['unjudged']}")
    rate = lambda n: n / judged if judged else math.nan  # noqa: E731
    print(f"agreement with the experts on clear pairs: cost figure (the judge's) {agreement:.3f}; "
          f"op count alone {rate(counts['ops_agree']):.3f}; CPU time alone "
          f"{rate(counts['cpu_agree']):.3f}; before (fixed floor ops x 20 ns, 1 us) "
          f"{rate(counts['fixed_agree']):.3f}  (of {judged}; a tie counts as not agreeing)")
    print(f"efficiency pairs on clear problems (default PairConfig): right {counts['pair_right']}, "
          f"wrong {counts['pair_wrong']}, not made {counts['pair_none']} "
          f"({', '.join(f'{k[4:]} {n}' for k, n in sorted(counts.items()) if k.startswith('why_'))})")
    print("efficiency pairs by basis: " + ", ".join(f"{k[6:]} {n}" for k, n in sorted(counts.items())
                                                   if k.startswith("basis_")))

    def mi_line(cases: list[dict]) -> str:
        if not cases:
            return "none"
        gaps = [c["mi_slower"] - c["mi_faster"] for c in cases]
        return (f"{len(cases)} ({sum(c['faster'] == 'expert' for c in cases)} with the expert's the "
                f"faster; {_times(min(c['gt_ratio'] for c in cases))} to {_times(max(c['gt_ratio'] for c in cases))} "
                f"faster, median {statistics.median(gaps):.1f} MI points less)")
    print(f"maintainability veto, former rule (any drop >= "
          f"{only_efficiency.min_maintainability_margin:g} MI points) in this run: {mi_line(before_blocked)}")
    print(f"maintainability veto, current rule (the faster side hard to maintain: MI < 10, or a "
          f"block of CC > 20 the slower lacks): {mi_line(blocked)}")
    for c in blocked:
        print(f"  blocked {c['task_id']}: {c['gt_ratio']}x faster, MI {c['mi_faster']:.1f} vs "
              f"{c['mi_slower']:.1f}, max CC {c['cc_faster']} vs {c['cc_slower']}")
    calibration = summary["efficiency_calibration"]
    floor = calibration["s_per_op"]
    print("op-count floor calibrated in this run: "
          + (f"{floor * 1e9:.2f} ns per line event" if floor else "none (too few readings)")
          + f" (quantile {calibration['quantile']} of {calibration['readings']} readings)")
    print(f"cost figure vs CPU time alone in this run: {agreement:.3f} vs "
          f"{rate(counts['cpu_agree']):.3f} ({'not below' if agreement >= rate(counts['cpu_agree']) else 'BELOW'})")
    print(f"time: ground truth {truth_s:.0f}s, judge {judge_s:.0f}s; sandbox summary {summary['by_status']}")
    print(json.dumps({"benchmark": "efficiency_agreement", "problems": len(rows),
                      "measured": len(tasks), "clear": counts["clear"], "judged": judged,
                      "agree": counts["agree"], "disagree": counts["disagree"],
                      "tie": counts["tie"], "unjudged": counts["unjudged"],
                      "agreement": round(agreement, 4),
                      "ops_agreement": round(rate(counts["ops_agree"]), 4),
                      "cpu_agreement": round(rate(counts["cpu_agree"]), 4),
                      "fixed_floor_agreement": round(rate(counts["fixed_agree"]), 4),
                      "median_clear_gt_ratio": round(statistics.median(clear_ratios), 2)
                      if clear_ratios else None,
                      "pairs_right": counts["pair_right"], "pairs_wrong": counts["pair_wrong"],
                      "pairs_not_made": counts["pair_none"],
                      "not_made_because": {k[4:]: n for k, n in sorted(counts.items())
                                           if k.startswith("why_")},
                      "pairs_by_basis": {k[6:]: n for k, n in sorted(counts.items())
                                         if k.startswith("basis_")},
                      "maintainability_blocked": blocked,
                      "maintainability_blocked_before": len(before_blocked), "s_per_op": floor,
                      "clear_threshold": args.clear, "max_call_s": args.max_call_s}))


if __name__ == "__main__":
    main()
