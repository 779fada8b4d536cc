"""A run whose round 1 is sampled from literal programs (no model): its sample stage's manifest
is written through the engine's own `Context.run_stage` with the inputs `sample_stage` records,
then the real execute stage (bubblewrap) and judge stage run on it. For the tests of what
comes after sampling: provenance, re-judging, the training set's exclusions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from seeded_policy import TASKS

from codealign.config import parse_config, plain_data
from codealign.generator import Sample
from codealign.jsonl import write_jsonl
from codealign.runs.events import EventLog
from codealign.runs.stages import ROUND_SEED_STRIDE, Context, Policy, StageRun, execute_stage, judge_stage
from codealign.runs.state import CancelToken, RunLease
from codealign.tasks import Task

# The programs each task's samples are, by variant index of `seeded_policy.TASKS`: add 2 is the
# eval answer (passes, a MEDIUM bandit finding), add 1 / neg 2 / double 2 fail their tests.
PROGRAMS = {"add": (2, 1, 1), "neg": (0, 2, 2), "double": (0, 1, 2)}


def literal_tasks() -> list[Task]:
    return [Task(tid, prompt, tid, tests, prompt_style="code", reference=prompt + variants[0])
            for tid, (prompt, tests, variants) in TASKS.items()]


def make_run(run_dir: Path, name: str = "lit", **sections) -> tuple[Path, list[Task]]:
    """A created run (model ``org/tiny``: never loaded) over the seeded policy's four tasks."""
    from codealign.runs import create_run

    tasks = literal_tasks()
    data = {"name": name, "model": "org/tiny", "backend": "hf", "tasks": "unused", "rounds": 1,
            "run_dir": str(run_dir), "sampling": {"n": 3, "seed": 7, "max_tokens": 24, "chat": False},
            "sandbox": {"backend": "bwrap", "workers": 1},
            "evaluation": {"heldout_fraction": 0.25, "split_seed": 0, "n_samples": 2, "k": [1, 2]}} | sections
    config = parse_config(data, check=False)
    return Path(create_run(config, tasks=tasks)), tasks


def judged_round(run_path: Path, tasks: list[Task], round_no: int = 1, programs=PROGRAMS):
    """Round `round_no`'s sample (literal programs), execute and judge stages; returns the
    three manifests."""
    from codealign.runs.engine import stored_config

    config = stored_config(run_path)
    by_id = {t.task_id: t for t in tasks}
    params = dataclasses.replace(config.sampling, seed=config.sampling.seed + ROUND_SEED_STRIDE * round_no)
    samples = [Sample(task_id=tid, sample_id=f"{tid}#r{round_no}#{i}",
                      code=by_id[tid].continuation_prompt + TASKS[tid][2][variant],
                      completion=TASKS[tid][2][variant], round=round_no, policy="base", tokens=5)
               for tid, variants in programs.items() for i, variant in enumerate(variants)]
    with RunLease(run_path).acquire(heartbeat=False) as lease:
        ctx = Context(config, run_path, tasks, lease, EventLog(run_path), CancelToken(run_path))

        def work(d: Path) -> StageRun:
            write_jsonl(d / "samples.jsonl", (s.to_dict() for s in samples))
            return StageRun({"samples": "samples.jsonl"}, {"samples": len(samples), "tasks": len(programs),
                                                           "tokens": 5 * len(samples)})

        inputs = {"model": config.model, "backend": config.backend, "tasks": ctx.tasks_hash,
                  "task_ids": list(programs), "sampling": plain_data(params), "policy": plain_data(Policy("base"))}
        sampled = ctx.run_stage(round_no, "sample", inputs, work)
        executed = execute_stage(ctx, round_no, sampled)
        judged = judge_stage(ctx, round_no, sampled, executed)
    return sampled, executed, judged


def pair_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
