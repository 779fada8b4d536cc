"""Choose the demo's DPO recipe on train tasks only, by how well it *transfers*.

The demo's held-out tasks are never touched here. The demo's train tasks are split again, by
the evaluation's own rule (within each habit, another seed, half and half), into fitting and
validation tasks, and each candidate recipe runs the demo's whole loop (its rounds, sampling,
judges, gate) from the seed on that inner split: the loop trains on the fitting tasks and
evaluates on the validation tasks. The recipe is the candidate whose last promoted round has
the highest validation pass@1, the question the demo asks of its held-out tasks, answered
without looking at them.

    python scripts/tune_demo_dpo.py [--config configs/demo.yaml] [--out DIR] [LR,EPOCHS,NLL,BETA[,REFERENCE] ...]

REFERENCE is a `dpo.reference` (base, previous, initial; default: the recipe's).

Prints one line per candidate as it finishes and, last, one JSON object with all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

# learning rate, epochs, NLL weight (loss_weights[1]), beta: the candidates tried for the demo
# (30 Nov 2026, validation pass@1 of the last promoted round, from 0.753: 0.747, 0.823, 0.791,
# 0.817, 0.823, 0.840, 0.831, 0.837; ~3-4 min each on 2 busy cores)
# dpo.reference, 7 Dec 2026 with the interval gate, 1e-3,5,2,0.1: base and previous both 0.750 ->
# 0.788 in round 1 (the same round: no previous adapter yet); rounds 2 and 3 rejected by the gate,
# 0.802 / 0.802 with base, 0.799 / 0.797 with previous (composite lower bounds -0.002 with base).
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

    from codealign.config import check_tasks, load_config
    from codealign.demo.seed import build_seed
    from codealign.records import last_promoted
    from codealign.runs import RunReader, run_loop

    torch.set_num_threads(1)
    draft = load_config(args.config, {"name": "tune"}, check=False)
    tasks = check_tasks(draft)
    train_ids, heldout_ids = draft.evaluation.split(tasks)
    seed = build_seed(tasks=tasks)
    out = args.out or Path(tempfile.mkdtemp(prefix="tune-dpo-"))
    out.mkdir(parents=True, exist_ok=True)
    task_file = out / "train-tasks.jsonl"
    task_file.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks
                                 if t.task_id in set(train_ids)))
    results = []
    for spec in args.candidates:
        fields = spec.split(",")
        lr, epochs, nll, beta = (float(x) for x in fields[:4])
        reference = fields[4] if len(fields) > 4 else None
        name = f"lr{lr:g}-e{epochs:g}-nll{nll:g}-b{beta:g}" + (f"-{reference}" if reference else "")
        config = load_config(args.config, {"name": name, "model": str(seed.path), "run_dir": str(out),
                                           "tasks": str(task_file)}, check=False)
        config = dataclasses.replace(
            config,
            dpo=dataclasses.replace(config.dpo, learning_rate=lr, epochs=epochs, beta=beta,
                                    loss_weights=[1.0, nll], reference=reference or config.dpo.reference),
            evaluation=dataclasses.replace(config.evaluation, split_seed=args.fold_seed,
                                           heldout_fraction=0.5, heldout_tags=[],
                                           n_samples=args.n_samples,
                                           k=[k for k in config.evaluation.k if k <= args.n_samples]))
        started = time.perf_counter()
        result = run_loop(config, progress=False)
        reader = RunReader(result.run_path)
        split = reader.split()
        assert not set(split["heldout"]) & set(heldout_ids) and not set(split["train"]) & set(heldout_ids)
        rounds = reader.rounds()
        promoted = last_promoted(rounds) or rounds[0]
        row = {"candidate": name, "seconds": round(time.perf_counter() - started),
               "fitting_tasks": len(split["train"]), "validation_tasks": len(split["heldout"]),
               "last_promoted": promoted.round,
               "rounds": [{"round": r.round, "status": r.status.value, "pairs": r.pairs,
                           **{k: (r.metrics.to_dict() if r.metrics else {}).get(k)
                              for k in ("pass@1", "secure_rate", "mean_cost")}}
                          for r in rounds]}
        row["validation_delta_pass@1"] = round(row["rounds"][promoted.round]["pass@1"]
                                               - row["rounds"][0]["pass@1"], 4)
        results.append(row)
        print(f"{name:28s} validation pass@1 {row['rounds'][0]['pass@1']:.3f} -> "
              f"{row['rounds'][promoted.round]['pass@1']:.3f} (round {promoted.round}); by round "
              + ", ".join(f"{r['round']}:{r['status'][0]}:{r['pass@1']:.3f}:secure {r['secure_rate']:.2f}"
                          for r in row["rounds"])
              + f"  [{row['seconds']} s]", flush=True)
    best = max(results, key=lambda r: r["validation_delta_pass@1"])
    print(json.dumps({"out": str(out), "candidates": results, "best": best["candidate"]}))


if __name__ == "__main__":
    main()
