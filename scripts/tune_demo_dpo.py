"""Choose the demo's DPO recipe on train tasks only, by how well it *transfers*.

The demo's held-out tasks are never touched here. The demo's train tasks are split again, by
the evaluation's own rule (within each habit, another seed, half and half), into fitting and
validation tasks, and each candidate recipe runs the demo's whole loop (its rounds, sampling,
judges, gate) from the seed on that inner split: the loop trains on the fitting tasks and
evaluates on the validation tasks. The recipe is the candidate whose last promoted round has
the highest validation pass@1, the question the demo asks of its held-out tasks, answered
without looking at them.

    python scripts/tune_demo_dpo.py [--config configs/demo.yaml] [--out DIR] [LR,EPOCHS,NLL,BETA[,REFERENCE][,SECTION.FIELD=VALUE...] ...]

REFERENCE is a `dpo.reference` (base, previous, initial; default: the recipe's); each
``SECTION.FIELD=VALUE`` (the value read as YAML) replaces one field of the recipe for that
candidate, e.g. ``allocation.mode=even`` or ``replay.share=0.5``.

Besides validation pass@1 it prints, per round, the train samples and pairs (pairs per 100
samples), the validation insecure share of passing samples, and at the end each habit's share
of validation samples that show it (seed -> last promoted): what the demo's targets ask of its
held-out tasks, asked of the validation tasks.

Prints one line per candidate as it finishes and, last, one JSON object with all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

# learning rate, epochs, NLL weight (loss_weights[1]), beta: the candidates tried for the demo
# (30 Nov 2026, validation pass@1 of the last promoted round, from 0.753: 0.747, 0.823, 0.791,
# 0.817, 0.823, 0.840, 0.831, 0.837; ~3-4 min each on 2 busy cores)
# dpo.reference, 7 Dec 2026 with the interval gate, 1e-3,5,2,0.1: base and previous both 0.750 ->
# 0.788 in round 1 (the same round: no previous adapter yet); rounds 2 and 3 rejected by the gate,
# 0.802 / 0.802 with base, 0.799 / 0.797 with previous (composite lower bounds -0.002 with base).
# allocation, replay and epochs, 7 Dec 2026, after the tamper judge stopped flagging mkstemp +
# os.fdopen (the seed's validation pass@1 is 0.794 since: its clean mktemp answers pass), from
# 0.794 (last promoted round; validation insecure share of passing samples 0.201 ->):
#   1e-3,5,2,0.1 allocation.mode=even          0.863 (r3; 0.047)
#   1e-3,5,2,0.1 (adaptive)                    0.846 (r2; 0.041; its rejected r3 0.860, 0.020)
#   1e-3,5,2,0.1 replay.share=0.25             0.820 (r1; rounds 2, 3 rejected at 0.808, 0.846)
#   1e-3,5,2,0.1 sampling.n=8                  0.849 (r3; 0.027; round 1 rejected)
#   1e-3,3,2,0.1 replay.share=0.5              0.820 (r3; 0.064)
#   1e-3,7,2,0.1 (adaptive)                    0.866 (r3; 0.030)  <- configs/demo.yaml
#   2e-3,4,2,0.1 (adaptive)                    0.860 (r2; 0.024)
# and before that fix, replay.share=0.5 at 1e-3,5: rounds 2 and 3 at 0.765 and 0.773 against
# 0.799 and 0.834 without replay. (~1.5-4 min each on 2 busy cores, rounds 0-1 reused.)
CANDIDATES = ["2e-3,6,2,0.1", "1e-3,3,1,0.1", "2e-3,6,2,0.5", "2e-3,3,2,0.1",
              "1e-3,3,2,0.1", "1e-3,5,2,0.1", "2e-3,2,2,0.1", "1e-3,7,2,0.1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="*", default=CANDIDATES,
                        help="LR,EPOCHS,NLL_WEIGHT,BETA[,REFERENCE] (default: %(default)s)")
    parser.add_argument("--config", type=Path, default=Path("configs/demo.yaml"))
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temp dir)")
    parser.add_argument("--fold-seed", type=int, default=1)
    parser.add_argument("--n-samples", type=int, default=8, help="per validation task")
    args = parser.parse_args()

    import torch

    import yaml

    from codealign.config import check_tasks, load_config
    from codealign.demo.habits import HabitClassifier
    from codealign.demo.seed import build_seed
    from codealign.tasks.bank import load_variants
    from codealign.records import last_promoted
    from codealign.runs import RunReader, run_loop

    torch.set_num_threads(1)
    draft = load_config(args.config, {"name": "tune"}, check=False)
    tasks = check_tasks(draft)
    classifier = HabitClassifier(tasks, load_variants())
    train_ids, heldout_ids = draft.evaluation.split(tasks)
    seed = build_seed(tasks=tasks)
    out = args.out or Path(tempfile.mkdtemp(prefix="tune-dpo-"))
    out.mkdir(parents=True, exist_ok=True)
    task_file = out / "train-tasks.jsonl"
    task_file.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks
                                 if t.task_id in set(train_ids)))
    results = []
    donors: dict[str, Path] = {}
    for spec in args.candidates:
        fields = spec.split(",")
        lr, epochs, nll, beta = (float(x) for x in fields[:4])
        extra = [f for f in fields[4:] if "=" in f]
        reference = next((f for f in fields[4:] if "=" not in f), None)
        name = (f"lr{lr:g}-e{epochs:g}-nll{nll:g}-b{beta:g}" + (f"-{reference}" if reference else "")
                + "".join(f"-{f.split('.', 1)[-1].replace('=', '')}" for f in extra))
        config = load_config(args.config, {"name": name, "model": str(seed.path), "run_dir": str(out),
                                           "tasks": str(task_file)}, check=False)
        for item in extra:
            key, value = item.split("=", 1)
            section, field = key.split(".", 1)
            config = dataclasses.replace(config, **{section: dataclasses.replace(
                getattr(config, section), **{field: yaml.safe_load(value)})})
        config = dataclasses.replace(
            config,
            dpo=dataclasses.replace(config.dpo, learning_rate=lr, epochs=epochs, beta=beta,
                                    loss_weights=[1.0, nll], reference=reference or config.dpo.reference),
            evaluation=dataclasses.replace(config.evaluation, split_seed=args.fold_seed,
                                           heldout_fraction=0.5, heldout_tags=[],
                                           n_samples=args.n_samples,
                                           k=[k for k in config.evaluation.k if k <= args.n_samples]))
        # Round 0 (the seed on the validation tasks) is the same for every candidate, and so is
        # round 1 for candidates that differ only in what round 1 does not use (allocation: round
        # 1 has no history; replay: no earlier pairs): copied from the first run that made them.
        # A copied stage whose inputs differ would be refused by the loop, never reused.
        plain = config.section_dicts()
        keys = {0: json.dumps({k: plain[k] for k in ("model", "tasks", "sampling", "sandbox", "evaluation")},
                              sort_keys=True),
                1: json.dumps({k: v for k, v in plain.items() if k not in ("name", "allocation", "replay")},
                              sort_keys=True)}
        for k in (0, 1):
            if keys[k] in donors and not (out / name / f"round-{k}").exists():
                shutil.copytree(donors[keys[k]] / f"round-{k}", out / name / f"round-{k}")
        started = time.perf_counter()
        result = run_loop(config, progress=False)
        for k in (0, 1):
            donors.setdefault(keys[k], result.run_path)
        reader = RunReader(result.run_path)
        split = reader.split()
        assert not set(split["heldout"]) & set(heldout_ids) and not set(split["train"]) & set(heldout_ids)
        rounds = reader.rounds()
        promoted = last_promoted(rounds) or rounds[0]
        row = {"candidate": name, "seconds": round(time.perf_counter() - started),
               "fitting_tasks": len(split["train"]), "validation_tasks": len(split["heldout"]),
               "last_promoted": promoted.round,
               "rounds": [{"round": r.round, "status": r.status.value, "samples": r.samples, "pairs": r.pairs,
                           "replayed": r.training_set.replayed if r.training_set else None,
                           **{k: (r.metrics.to_dict() if r.metrics else {}).get(k)
                              for k in ("pass@1", "secure_rate", "mean_cost")}}
                          for r in rounds]}
        row["validation_delta_pass@1"] = round(row["rounds"][promoted.round]["pass@1"]
                                               - row["rounds"][0]["pass@1"], 4)
        validation = split["heldout"]
        seed_rates = classifier.rates([(x["task_id"], x["code"]) for x in reader.samples(0)], validation)
        last_rates = classifier.rates([(x["task_id"], x["code"]) for x in reader.samples(promoted.round)], validation)
        row["habits"] = {h: [round(seed_rates[h]["habit_rate"], 3), round(last_rates[h]["habit_rate"], 3)]
                         for h in sorted(seed_rates) if h in last_rates and not h.startswith("counter:")}
        results.append(row)
        print(f"{name:28s} validation pass@1 {row['rounds'][0]['pass@1']:.3f} -> "
              f"{row['rounds'][promoted.round]['pass@1']:.3f} (round {promoted.round}); by round "
              + ", ".join(f"{r['round']}:{r['status'][0]}:{r['pass@1']:.3f}:insecure {1 - r['secure_rate']:.3f}"
                          + (f":pairs {r['pairs']}/{r['samples']} ({100 * r['pairs'] / r['samples']:.1f}/100)"
                             f"+{r['replayed']} replayed" if r["samples"] else "")
                          for r in row["rounds"])
              + f"  [{row['seconds']} s]", flush=True)
        print("    habits (seed -> last promoted): " + ", ".join(f"{h} {a:.2f}->{b:.2f}"
                                                            for h, (a, b) in row["habits"].items()), flush=True)
    best = max(results, key=lambda r: r["validation_delta_pass@1"])
    print(json.dumps({"out": str(out), "candidates": results, "best": best["candidate"]}))


if __name__ == "__main__":
    main()
