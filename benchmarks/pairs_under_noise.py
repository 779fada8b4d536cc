"""Do a round's pairs move when its CPU readings do? (issue 21, item 6)

Re-judges the judge stage of recorded runs from their own files (samples, executions,
references, the run's judge and pair configs) many times, each time with every CPU reading
(`Cost.perf_cpu_s` of the samples and references) multiplied by its own factor drawn from
[1 - noise, 1 + noise], and counts the draws whose pairs differ from the unperturbed ones
(which samples, their reasons, their order, their margins) — beside the same count for the
ranks, which follow measured cost and so show that the noise bites. Nothing is executed:
bandit and radon run once per program.

    .venv/bin/python benchmarks/pairs_under_noise.py RUN_DIR [RUN_DIR ...] [--round 1]
        [--noise 0.3] [--draws 40] [--pairs-config recorded|current]

``--pairs-config current`` judges with today's `PairConfig` defaults (the run's cap kept)
instead of the config the run recorded. Prints one line per run, then one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from pathlib import Path


def _load(cls, path: Path) -> list:
    from codealign.jsonl import read_jsonl

    return [cls.from_dict(obj) for _, obj in read_jsonl(path)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--round", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--pairs-config", choices=("recorded", "current"), default="current")
    args = ap.parse_args()

    import codealign.judges as judges
    from codealign.generator import Sample
    from codealign.judges.pairs import PairConfig
    from codealign.runs.engine import stored_config
    from codealign.sandbox.execution import Execution
    from codealign.tasks.task import Task

    static_cache: dict = {}
    judge_static = judges.judge_static

    def cached_static(codes, executions=None, config=None):
        key = (tuple(codes), tuple(e.flags for e in executions or ()))
        if key not in static_cache:
            static_cache[key] = judge_static(codes, executions, config)
        return static_cache[key]

    judges.judge_static = cached_static     # only the CPU readings change between draws

    def noisy(e: Execution, rng: random.Random) -> Execution:
        if e.cost.perf_cpu_s is None:
            return e
        factor = rng.uniform(1 - args.noise, 1 + args.noise)
        return dataclasses.replace(e, cost=dataclasses.replace(e.cost, perf_cpu_s=e.cost.perf_cpu_s * factor))

    results = []
    for run in args.runs:
        config = stored_config(run)
        pairs_config = config.pairs if args.pairs_config == "recorded" else \
            PairConfig(max_pairs_per_task=config.pairs.max_pairs_per_task, seed=config.pairs.seed,
                       reasons=config.pairs.reasons)
        stage = run / f"round-{args.round}"
        by_id = {t.task_id: t for t in _load(Task, run / "tasks.jsonl")}
        samples = _load(Sample, stage / "sample" / "samples.jsonl")
        executions = _load(Execution, stage / "execute" / "executions.jsonl")
        references = {e.task_id: e for e in _load(Execution, stage / "execute" / "references.jsonl")}
        tasks = [by_id[t] for t in dict.fromkeys(s.task_id for s in samples)]

        def judged(rng: random.Random | None):
            runs = executions if rng is None else [noisy(e, rng) for e in executions]
            refs = references if rng is None else {t: noisy(e, rng) for t, e in references.items()}
            verdicts, pairs, _ = judges.judge_executions(tasks, samples, runs, refs, config.judges, pairs_config)
            return ([v.rank for v in verdicts],
                    [(p.task_id, p.reason.value, p.chosen_verdict.sample_id, p.rejected_verdict.sample_id,
                      round(p.margin, 9)) for p in pairs])

        ranks, pairs = judged(None)
        moved_ranks = moved_pairs = differing = 0
        for draw in range(args.draws):
            r, p = judged(random.Random(draw))
            moved_ranks += r != ranks
            moved_pairs += p != pairs
            differing += len(set(p) ^ set(pairs))
        results.append({"run": str(run), "round": args.round, "pairs": len(pairs), "draws": args.draws,
                        "draws_with_other_pairs": moved_pairs, "pairs_differing": differing,
                        "draws_with_other_ranks": moved_ranks})
        print(f"{run}: round {args.round}, {len(pairs)} pairs; ±{args.noise:.0%} on every CPU reading, "
              f"{args.draws} draws: other pairs in {moved_pairs}, other ranks in {moved_ranks} "
              f"(pairs differing in all: {differing})")
    print(json.dumps({"benchmark": "pairs_under_noise", "noise": args.noise,
                      "pairs_config": args.pairs_config, "runs": results}))


if __name__ == "__main__":
    main()
