"""How often does the promotion gate promote noise? A/A rounds, the gate beside today's rule.

An A/A round changes nothing that matters: its policy is its parent's, evaluated again with
other sampling seeds. Promoting it is a false promotion. This benchmark measures the rate two
ways:

1. **Simulated, many repeats.** The per-task outcomes of one real evaluation of the seed
   policy (the held-out tasks of `configs/demo.yaml`, 16 samples each: failed / passed
   securely / passed insecurely, with each pass's measured cost) are the policy. Each repeat
   draws two evaluations of it, each task's samples redrawn with replacement from that task's
   own, independently for the "candidate" and the "incumbent" (other seeds), and asks
   - **this gate** (`codealign.trainer.gate.decide` with the recipe's ``gate`` section), and
   - **today's rule** (before issue 21: the point estimates, composite ``Δpass@1 + 0.5
     Δsecure + 0.1 cost fall > 0`` unless pass@1 fell more than 0.05 — the demo's gate then)
   whether to promote. Printed: each rule's false-promotion rate with a 95% Wilson interval,
   their ratio, and the share of A/A rounds in which this gate flags a tag (a per-tag
   regression beyond ``tag_tolerance``, `GateConfig`).
2. **Real, once.** Two runs of the demo recipe on its seed policy (built once, cached), one
   DPO round each with learning rate 1e-12 (an adapter that changes nothing), sampling seed 0
   and 1: the loop's own gate on each round (the same evaluation seeds as its parent), and
   the gate on each round against the *other* run's round 0 (other seeds), and the two round
   0s against each other (the very same policy, other seeds).

    .venv/bin/python benchmarks/gate_false_promotion.py [--repeats 2000] [--run-dir runs/gate-aa]
    .venv/bin/python benchmarks/gate_false_promotion.py --run runs/demo-...   # simulate only

With ``--run`` the simulation uses that run's round 0 outcomes and nothing is trained. The
runs of (2) are kept under ``--run-dir`` and reused by the next call (a finished run is not
redone). Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from codealign.config import parse_config
from codealign.jsonl import read_jsonl
from codealign.trainer.gate import GateConfig, TaskOutcomes, decide, read_outcomes

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
AA_LEARNING_RATE = 1e-12


def todays_rule(candidate: dict[str, TaskOutcomes], incumbent: dict[str, TaskOutcomes]) -> bool:
    """The gate before issue 21, with the demo's settings then (composite, pass@1 tolerance
    0.05, weights 1 / 0.5 / 0.1): point estimates of the held-out figures."""
    def figures(side: dict[str, TaskOutcomes]) -> tuple[float, float | None, float | None]:
        passed = sum(o.passed for o in side.values())
        costed = sum(o.costed for o in side.values())
        return (sum(o.passed / o.samples for o in side.values()) / len(side),
                sum(o.secure for o in side.values()) / passed if passed else None,
                sum(o.cost_sum for o in side.values()) / costed if costed else None)

    (p_new, s_new, c_new), (p_old, s_old, c_old) = figures(candidate), figures(incumbent)
    if p_new - p_old < -0.05 - 1e-12:
        return False
    secure = s_new - s_old if s_new is not None and s_old is not None else 0.0
    cost = (c_old - c_new) / c_old if c_new is not None and c_old else 0.0
    return (p_new - p_old) + 0.5 * secure + 0.1 * cost > 1e-12


def observed(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per task, its samples' outcome kinds (0 failed, 1 secure pass, 2 other pass) and costs."""
    by_task: dict[str, tuple[list, list]] = {}
    for _, row in read_jsonl(path):
        kinds, costs = by_task.setdefault(row["task_id"], ([], []))
        kinds.append(0 if not row["honest"] else 1 if row["secure"] is True else 2)
        costs.append(row["cost"] if row["honest"] and row["cost"] is not None else np.nan)
    return {t: (np.array(k), np.array(c, dtype=float)) for t, (k, c) in sorted(by_task.items())}


def redraw(policy: dict[str, tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> dict[str, TaskOutcomes]:
    """One evaluation of `policy`: each task's samples drawn with replacement from its own."""
    out = {}
    for task, (kinds, costs) in policy.items():
        pick = rng.integers(0, len(kinds), size=len(kinds))
        k, c = kinds[pick], costs[pick]
        measured = ~np.isnan(c)
        out[task] = TaskOutcomes(len(k), int((k > 0).sum()), int((k == 1).sum()), float(c[measured].sum()),
                                 int(measured.sum()))
    return out


def wilson(hits: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a rate."""
    z = 1.959964
    centre = (hits + z * z / 2) / (n + z * z)
    half = z * math.sqrt(hits * (n - hits) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def simulate(policy, tags, gate: GateConfig, repeats: int, tag_repeats: int, seed: int = 0) -> dict:
    """Both rules on `repeats` A/A rounds; the tag flags on the first `tag_repeats` of them (the
    per-tag intervals are most of a decision's time, and they decide nothing unless the recipe
    rejects tag regressions)."""
    rng = np.random.default_rng(seed)
    promoted = today = flagged = 0
    started = time.perf_counter()
    for i in range(repeats):
        candidate, incumbent = redraw(policy, rng), redraw(policy, rng)
        with_tags = i < tag_repeats or gate.reject_tag_regressions
        decision = decide(candidate, incumbent, gate, tags=tags if with_tags else None)
        promoted += decision.promoted
        flagged += bool(decision.regressed_tags)
        today += todays_rule(candidate, incumbent)
    seconds = time.perf_counter() - started

    def rate(hits: int, n: int = repeats) -> dict:
        low, high = wilson(hits, n)
        return {"promoted": hits, "of": n, "rate": hits / n, "ci95": [round(low, 4), round(high, 4)]}
    return {"repeats": repeats, "gate": rate(promoted), "today": rate(today),
            "tag_flagged": rate(flagged, min(tag_repeats, repeats)),
            "ratio_today_to_gate": round(today / promoted, 1) if promoted else None,
            "seconds": round(seconds, 1)}


def recipe(run_dir: Path, sampling_seed: int) -> Path:
    """The demo recipe, one round, DPO learning rate ~0, the given sampling seed; the gate's
    defaults (the decisions printed are made again with the recipe's gate, so editing it does
    not make new runs)."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data.update(rounds=1, run_dir=str(run_dir), gate={})
    data["sampling"]["seed"] = sampling_seed
    data["dpo"]["learning_rate"] = AA_LEARNING_RATE
    parse_config({**data, "model": str(DEMO)}, str(DEMO), check=False)      # fails fast on a typo
    path = run_dir / f"aa-seed{sampling_seed}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def real_aa(run_dir: Path, log) -> dict[int, Path]:
    """The two A/A runs (made, or reused when finished): sampling seed -> run directory."""
    from codealign.demo.run import run_demo

    runs = {}
    for seed in (0, 1):
        path = recipe(run_dir, seed)
        name = f"aa-seed{seed}-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}"   # a new recipe, new runs
        started = time.perf_counter()
        run_demo(path, name=name, run_dir=run_dir, out=lambda line: None, progress=False,
                 train_side_rates=False)
        log(f"A/A run {name}: {time.perf_counter() - started:.0f} s")
        runs[seed] = run_dir / name
    return runs


def real_decisions(runs: dict[int, Path], tags, gate: GateConfig) -> list[dict]:
    def outcomes(seed: int, k: int):
        return read_outcomes(runs[seed] / f"round-{k}/evaluate/outcomes.jsonl")

    rows = []
    for name, cand, inc in (("round 1 vs its round 0 (seeds 0, same eval seeds)", (0, 1), (0, 0)),
                            ("round 1 vs its round 0 (seeds 1, same eval seeds)", (1, 1), (1, 0)),
                            ("round 1 (seed 0) vs round 0 (seed 1)", (0, 1), (1, 0)),
                            ("round 1 (seed 1) vs round 0 (seed 0)", (1, 1), (0, 0)),
                            ("round 0 (seed 1) vs round 0 (seed 0)", (1, 0), (0, 0))):
        a, b = outcomes(*cand), outcomes(*inc)
        d = decide(a, b, gate, tags=tags)
        rows.append({"comparison": name, "status": d.status, "gain": d.gain.to_dict(),
                     "pass@1": d.pass_at_1.to_dict(), "regressed_tags": list(d.regressed_tags),
                     "today": "promoted" if todays_rule(a, b) else "rejected"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="simulate from this run's round 0 (no training)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "gate-aa",
                        help="where the real A/A runs are made (and reused)")
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--tag-repeats", type=int, default=300, help="of them, with per-tag intervals")
    args = parser.parse_args()
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731

    config = parse_config({**yaml.safe_load(DEMO.read_text(encoding="utf-8")), "model": str(DEMO)},
                          str(DEMO), check=False)
    gate = config.gate
    runs = {0: args.run} if args.run else real_aa(args.run_dir, log)
    source = runs[0] / "round-0/evaluate/outcomes.jsonl"
    policy = observed(source)
    snapshot = [json.loads(line) for line in (runs[0] / "tasks.jsonl").read_text().splitlines()]
    tags = {t["task_id"]: t.get("tags", []) for t in snapshot}
    samples = sorted({len(k) for k, _ in policy.values()})
    log(f"simulating {args.repeats} A/A rounds from {source} ({len(policy)} tasks x {samples} samples)")
    sim = simulate(policy, tags, gate, args.repeats, args.tag_repeats)
    real = [] if args.run else real_decisions(runs, tags, gate)

    print(f"A/A false promotions, {sim['repeats']} simulated rounds ({len(policy)} held-out tasks, "
          f"{samples[0]} samples each, from {source.relative_to(source.parents[2])})")
    print(f"{'rule':58} {'promoted':>9} {'rate':>7}  95% interval")
    for key, label in (("today", "today's rule: point composite > 0 (demo recipe before)"),
                       ("gate", f"this gate: {gate.objective.value} interval low > {gate.min_improvement} "
                                f"({gate.confidence:.0%})")):
        r = sim[key]
        print(f"{label:58} {r['promoted']:>9} {r['rate']:>7.1%}  [{r['ci95'][0]:.1%}, {r['ci95'][1]:.1%}]")
    ratio = sim["ratio_today_to_gate"]
    flags = sim["tag_flagged"]
    print(f"ratio today / gate: {ratio if ratio is not None else 'inf (the gate promoted none)'}; "
          f"A/A rounds with a tag flagged (tag_tolerance {gate.tag_tolerance}): {flags['promoted']}/{flags['of']} = "
          f"{flags['rate']:.1%} [{flags['ci95'][0]:.1%}, {flags['ci95'][1]:.1%}]; {sim['seconds']} s")
    for row in real:
        g = row["gain"]
        print(f"real A/A, {row['comparison']:52} gate {row['status']:8} (gain {g['value']:+.4f} "
              f"[{g['low']:+.4f}, {g['high']:+.4f}]), today's rule {row['today']}"
              + (f", flagged {row['regressed_tags']}" if row["regressed_tags"] else ""))
    print(json.dumps({"benchmark": "gate_false_promotion", "source": str(source), "tasks": len(policy),
                      "gate": gate.to_dict(), "simulated": sim, "real": real}))


if __name__ == "__main__":
    main()
