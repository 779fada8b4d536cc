"""`codealign demo`: the whole loop on a fresh CPU machine, with measured pass-rate deltas.

What it does, in order:

1. builds (or finds in the cache) the seed policy of :mod:`codealign.demo.seed`: a tiny Llama
   trained from scratch on the task bank's solution variants;
2. runs the rounds of ``codealign loop`` with a committed recipe (``configs/demo.yaml``) on
   that model: vLLM sampling, the sandbox, the judges, preference pairs, TRL DPO with LoRA,
   held-out evaluation, the promotion gate;
3. prints a per-round table (pass@1, pass@k, secure rate, mean cost, pairs by reason, gate
   decision, deltas against the previous row), where the artifacts are, a stage-by-stage time
   breakdown, and last one JSON line with the per-round figures and the total wall time.

Every figure is read back from the run's own records through `codealign.runs.RunReader`: the
demo computes nothing the loop did not measure. Each demo run gets a fresh run directory
(``runs/demo-<time>`` by default) so that the rounds really run; the seed is what is cached.

Honest limits, printed with the results: the model is tiny and knows only the bank's tasks;
it saw every task's variants (held-out ones too) when it was made, so "held out" means "no
DPO pair came from this task", not "never seen".
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from codealign.demo.seed import SeedConfig

__all__ = ["DemoResult", "run_demo", "round_rows", "train_side", "time_breakdown", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = Path("configs/demo.yaml")
STAGE_ORDER = ("sample", "execute", "judge", "train", "evaluate", "gate")


@dataclass
class DemoResult:
    """What a demo run measured: one row per round (round 0 = the seed), times, paths."""

    run_path: Path
    seed_path: Path
    seed_cached: bool
    rows: list[dict[str, Any]]
    times: dict[str, float]
    total_s: float

    def summary(self) -> dict[str, Any]:
        """The final JSON line's content."""
        return {"demo": "codealign", "run": str(self.run_path), "seed_model": str(self.seed_path),
                "seed_cached": self.seed_cached, "rounds": self.rows,
                "times_s": {k: round(v, 1) for k, v in self.times.items()},
                "total_s": round(self.total_s, 1)}


def _delta(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else round(new - old, 4)


def round_rows(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat per-round figures from ``rounds.jsonl`` records, with deltas to the previous row."""
    rows: list[dict[str, Any]] = []
    for r in rounds:
        m = r.get("metrics") or {}
        pass_at = m.get("pass@k") or {}
        top_k = max(pass_at, key=int) if pass_at else None
        row = {
            "round": r["round"],
            "status": r["status"],
            "started_from": r.get("started_from"),
            "pass@1": m.get("pass@1"),
            "pass@k": {k: round(v, 4) for k, v in pass_at.items()},
            "k": int(top_k) if top_k else None,
            "secure_rate": m.get("secure_rate"),
            "insecure_share_of_passing": None if m.get("secure_rate") is None
            else round(1 - m["secure_rate"], 4),
            "mean_cost": m.get("mean_cost"),
            "cost_unit": m.get("cost_unit"),
            "mean_tokens": m.get("mean_tokens"),
            "samples": m.get("samples"),
            "pairs": r.get("pairs"),
            "pairs_by_reason": r.get("pairs_by_reason"),
            "gate": r.get("reason") or ("baseline (the seed policy)" if r["round"] == 0 else ""),
            "train_stopped_early": (r.get("train") or {}).get("stop_reason"),
        }
        if rows:
            prev = rows[-1]
            row["delta_pass@1"] = _delta(row["pass@1"], prev["pass@1"])
            row["delta_secure_rate"] = _delta(row["secure_rate"], prev["secure_rate"])
        rows.append(row)
    return rows


def train_side(reader, round_no: int) -> dict[str, Any]:
    """What round `round_no`'s own samples (train tasks, drawn by the policy the round started
    from) measured: pass rate, and the share of insecure code among the honest passes."""
    rows = [r for r in reader.task_results(round_no) if r["side"] == "train"]
    if not rows:
        return {}
    samples, passed = sum(r["samples"] for r in rows), sum(r["passed"] for r in rows)
    insecure = sum(r["insecure_passed"] for r in rows)
    judged = insecure + sum(r["secure_passed"] for r in rows)
    return {"train_samples": samples,
            "train_pass_rate": round(passed / samples, 4) if samples else None,
            "train_insecure_share_of_passing": round(insecure / judged, 4) if judged else None}


def time_breakdown(timings: dict[str, dict[str, float]], seed_s: float, setup_s: float,
                   loop_s: float) -> dict[str, float]:
    """Seconds per stage summed over rounds, plus the seed, set-up and what the stages do not
    cover (vLLM engine start and shutdown, loading tasks)."""
    times = {"setup": setup_s, "seed": seed_s}
    for stage in STAGE_ORDER:
        times[stage] = sum(r.get(stage, 0.0) for r in timings.values())
    times["engine+other"] = max(0.0, loop_s - sum(times[s] for s in STAGE_ORDER))
    return times


def run_demo(config_path: str | Path = DEFAULT_CONFIG, *, rounds: int | None = None,
             run_dir: str | Path | None = None, name: str | None = None,
             seed: SeedConfig | None = None, cache: str | Path | None = None,
             out: Callable[[str], None] | None = None, progress: bool = True,
             started: float | None = None, torch_threads: int = 1) -> DemoResult:
    """Build the seed, run the loop with the recipe at `config_path`, print and return results.

    `out` receives the report's lines (default: stdout); progress and stage logs go to
    stderr. `started` is the perf_counter value the total wall time counts from (default:
    now), so a caller can include its own start-up. `torch_threads` is set for the DPO step
    in this process (0: torch's default); one thread, because at the tiny model's size a
    second one costs more in synchronisation than it saves on a busy 2-core machine (vLLM
    and the sandboxes run in their own processes).
    """
    from rich.console import Console

    from codealign.config import check_tasks, load_config
    from codealign.demo.seed import build_seed
    from codealign.runs import RunReader, run_loop

    started = time.perf_counter() if started is None else started
    # vLLM logs to stdout at INFO by default; the report owns stdout (its last line is JSON).
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    err = Console(stderr=True)
    log = lambda line: err.print(f"[bold]demo[/bold] {line}", highlight=False)  # noqa: E731
    name = name or time.strftime("demo-%Y%m%d-%H%M%S")

    # The recipe is checked in full (model aside: it is made below) before any work starts.
    draft = load_config(config_path, {"name": name, "rounds": rounds}, check=False)
    tasks = check_tasks(draft)
    setup_s = time.perf_counter() - started

    t = time.perf_counter()
    seed_model = build_seed(seed, tasks=tasks, cache=cache, log=log)
    seed_s = time.perf_counter() - t
    log(f"seed policy: {seed_model.path} ({'cached' if seed_model.cached else 'built now'})")

    config = load_config(config_path, {"name": name, "rounds": rounds, "model": str(seed_model.path),
                                       **({"run_dir": str(run_dir)} if run_dir is not None else {})})
    previous_handler = previous_threads = None
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) unwinds like Ctrl-C, so the loop's `finally` shuts vLLM's engine
        # processes down instead of leaving them orphaned.
        previous_handler = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if torch_threads:
        import torch

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(torch_threads)
    try:
        t = time.perf_counter()
        result = run_loop(config, progress=progress, log=log)
        loop_s = time.perf_counter() - t
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        if previous_threads is not None:
            torch.set_num_threads(previous_threads)

    reader = RunReader(result.run_path)
    rows = round_rows(reader.rounds())
    for row in rows:
        row.update(train_side(reader, row["round"]))
    times = time_breakdown(reader.timings(), seed_s, setup_s, loop_s)
    demo = DemoResult(result.run_path, seed_model.path, seed_model.cached, rows, times,
                      time.perf_counter() - started)
    _report(demo, reader, config, seed_model.manifest, out or (lambda line: print(line, flush=True)))
    return demo


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _d(x: float | None) -> str:
    return "" if x is None else f" ({x:+.3f})"


def _report(demo: DemoResult, reader, config, seed_manifest: dict[str, Any],
            out: Callable[[str], None]) -> None:
    from rich.console import Console
    from rich.table import Table

    split = reader.split()
    ev = config.evaluation
    table = Table(title=f"codealign demo: {len(demo.rows) - 1} rounds, held-out pass rates "
                        f"({len(split['heldout'])} tasks x {ev.n_samples} samples, T={ev.temperature})")
    for column in ("round", "status", "pass@1 (Δ)", "pass@k", "secure rate (Δ)", "mean cost",
                   "train tasks: pass / insecure", "pairs by reason", "gate decision"):
        table.add_column(column, overflow="fold")
    for row in demo.rows:
        table.add_row(
            str(row["round"]) + ("" if row["round"] == 0 else f" ← {row['started_from']}"),
            row["status"],
            _f(row["pass@1"]) + _d(row.get("delta_pass@1")),
            " ".join(f"@{key} {value:.3f}" for key, value in row["pass@k"].items() if key != "1") or "n/a",
            _f(row["secure_rate"]) + _d(row.get("delta_secure_rate")),
            f"{_f(row['mean_cost'], 0)} {row['cost_unit'] or ''}",
            "—" if row.get("train_pass_rate") is None else
            f"{_f(row['train_pass_rate'])} / {_f(row.get('train_insecure_share_of_passing'))}",
            "—" if row["pairs"] is None else f"{row['pairs']} "
            + ", ".join(f"{k}:{v}" for k, v in (row["pairs_by_reason"] or {}).items()),
            row["gate"],
        )
    import io

    buffer = io.StringIO()
    Console(file=buffer, width=150, force_terminal=False).print(table)
    for line in buffer.getvalue().rstrip("\n").split("\n"):
        out(line)

    first, last = demo.rows[0], demo.rows[-1]
    out("columns: pass@1, pass@k, secure rate (passing samples without a medium/high bandit "
        "finding) and mean cost (line events on the perf inputs) are on the held-out tasks, "
        "for the round's new policy; 'train tasks' are the round's own samples, drawn by the "
        "policy it started from (pass rate / insecure share of the passing ones).")
    out(f"pass@1 {_f(first['pass@1'])} -> {_f(last['pass@1'])}; insecure share of passing samples "
        f"{_f(first['insecure_share_of_passing'])} -> {_f(last['insecure_share_of_passing'])} "
        "(seed -> last round, held-out tasks; secure rate = passing samples without a "
        "medium/high bandit finding)")
    out(f"note: the model is tiny ({seed_manifest.get('config', {}).get('hidden_size')} wide, "
        f"{seed_manifest.get('config', {}).get('layers')} layers, trained from scratch here in "
        f"{seed_manifest.get('seconds')} s) and knows only these {seed_manifest.get('tasks')} tasks; "
        "it saw every task's variants, held-out ones included, so held out means no DPO pair came "
        "from the task, not that the model never saw it.")
    out(f"artifacts: {demo.run_path}/  (rounds.jsonl, timings.json, split.json, "
        "round-k/{sample,execute,judge,train,evaluate,gate}/; round-k/train/adapter is the LoRA)")
    out(f"seed model: {demo.seed_path}  ({'cached' if demo.seed_cached else 'built now'})")
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in demo.times.items())
    out(f"time: {parts}; total {demo.total_s:.0f} s")
    out(json.dumps(demo.summary(), sort_keys=True))


def main_entry(config: Path, rounds: int | None, run_dir: Path | None, name: str | None,
               started: float) -> DemoResult:
    """What the CLI command calls (kept here so cli.py stays a thin layer)."""
    return run_demo(config, rounds=rounds, run_dir=run_dir, name=name, started=started,
                    progress=sys.stderr.isatty())
