"""`codealign demo`: the whole loop on a fresh CPU machine, with measured pass-rate deltas.

What it does, in order:

1. builds (or finds in the cache) the seed policy of :mod:`codealign.demo.seed`: a tiny Llama
   trained from scratch on the task bank's solution variants;
2. runs the rounds of ``codealign loop`` with a committed recipe (``configs/demo.yaml``) on
   that model: vLLM sampling, the sandbox, the judges, preference pairs, TRL DPO with LoRA,
   held-out evaluation, the promotion gate;
3. prints a per-round table (pass@1, pass@k, secure rate, mean cost, pairs by reason, gate
   decision, deltas against the previous row); each round against the seed with paired
   bootstrap 95% intervals over held-out tasks (`codealign.trainer.stats`: Δpass@1, the ratio
   of insecure shares of passing samples, Δ mean cost of passing samples), the control habit's
   tasks apart; a per-habit table (the share of samples showing each habit, seed → last
   promoted policy, held-out and train tasks side by side, classified by
   :mod:`codealign.demo.habits`); where the artifacts are, a stage-by-stage time breakdown,
   and last one JSON line with all of these figures and the total wall time.

The held-out split is the recipe's (`EvalConfig.split`): ~25% of each habit's tasks by the
seeded hash rule, plus every task of the control habit (``evaluation.heldout_tags``). The
train-side habit rates come from one extra sampling pass after the rounds: the seed and the
last promoted policy on the train tasks, same sampling seeds, code classified by AST only
(no execution).

Every figure is read back from the run's records through `codealign.runs.RunReader` (rounds,
per-task results, held-out samples): the demo re-measures nothing. Each demo run gets a fresh
run directory
(``runs/demo-<time>`` by default) so that the rounds really run; the seed is what is cached.

Honest limits, printed with the results: the model is tiny and knows only the bank's tasks;
it saw every task's variants (held-out ones too) when it was made, so "held out" means "no
DPO pair came from this task", not "never seen".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codealign.demo.seed import SeedConfig
from codealign.records import RoundRecord, format_cost, last_promoted
from codealign.runs.stages import STAGES

__all__ = ["DemoResult", "run_demo", "round_rows", "train_side", "time_breakdown", "heldout_tasks",
           "versus_seed", "habit_table", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = Path("configs/demo.yaml")


@dataclass
class DemoResult:
    """What a demo run measured: one row per round (round 0 = the seed), times, paths."""

    run_path: Path
    seed_path: Path
    seed_cached: bool
    rows: list[dict[str, Any]]
    times: dict[str, float]
    total_s: float
    last_promoted: int = 0
    habits: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tasks: dict[str, int] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The final JSON line's content."""
        last = self.rows[self.last_promoted].get("vs_seed") if self.last_promoted else None
        return {"demo": "codealign", "run": str(self.run_path), "seed_model": str(self.seed_path),
                "seed_cached": self.seed_cached, "rounds": self.rows, "tasks": self.tasks,
                "last_promoted": self.last_promoted, "last_promoted_vs_seed": last,
                "habits": self.habits,
                "times_s": {k: round(v, 1) for k, v in self.times.items()},
                "total_s": round(self.total_s, 1)}


def _delta(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else round(new - old, 4)


def round_rows(rounds: list[RoundRecord]) -> list[dict[str, Any]]:
    """The demo's per-round figures (its JSON line's ``rounds``) from the round records, with
    deltas to the previous row."""
    rows: list[dict[str, Any]] = []
    for r in rounds:
        m = r.metrics
        pass_at = m.pass_at_k if m else {}
        top_k = max(pass_at, key=int) if pass_at else None
        secure_rate = m.secure_rate if m else None
        row = {
            "round": r.round,
            "status": r.status.value,
            "started_from": r.started_from,
            "pass@1": m.pass_at_1 if m else None,
            "pass@k": {k: round(v, 4) for k, v in pass_at.items()},
            "k": int(top_k) if top_k else None,
            "secure_rate": secure_rate,
            "insecure_share_of_passing": None if secure_rate is None else round(1 - secure_rate, 4),
            "mean_cost": m.mean_cost if m else None,
            "cost_unit": m.cost_unit if m else None,
            "mean_tokens": m.mean_tokens if m else None,
            "samples": m.samples if m else None,
            "pairs": r.pairs,
            "pairs_by_reason": r.pairs_by_reason,
            "train_samples_drawn": r.samples,
            "pairs_per_100_samples": round(100 * r.pairs / r.samples, 1) if r.samples and r.pairs is not None else None,
            "tasks_by_state": r.allocation.tasks_by_state if r.allocation else None,
            "replayed": r.training_set.replayed if r.training_set else None,
            "gate": r.reason or ("baseline (the seed policy)" if r.round == 0 else ""),
            "train_stopped_early": r.train.stop_reason if r.train else None,
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
    rows = [r for r in reader.task_results(round_no) if r.side == "train"]
    if not rows:
        return {}
    samples, passed = sum(r.samples for r in rows), sum(r.passed for r in rows)
    insecure = sum(r.insecure_passed for r in rows)
    judged = insecure + sum(r.secure_passed for r in rows)
    return {"train_samples": samples,
            "train_pass_rate": round(passed / samples, 4) if samples else None,
            "train_insecure_share_of_passing": round(insecure / judged, 4) if judged else None}


def time_breakdown(timings: dict[str, dict[str, float]], seed_s: float, setup_s: float,
                   loop_s: float) -> dict[str, float]:
    """Seconds per stage summed over rounds, plus the seed, set-up and what the stages do not
    cover (vLLM engine start and shutdown, loading tasks)."""
    times = {"setup": setup_s, "seed": seed_s}
    for stage in STAGES:
        times[stage] = sum(r.get(stage, 0.0) for r in timings.values())
    times["engine+other"] = max(0.0, loop_s - sum(times[s] for s in STAGES))
    return times


def heldout_tasks(reader, round_no: int) -> dict[str, dict[str, Any]] | None:
    """Round `round_no`'s held-out evaluation per task, from `RunReader.task_results`:
    ``{task_id: {"pass": pass@1, "passes": honest passes, "insecure": insecure passes,
    "cost": mean cost or None}}`` (None when the round was not evaluated)."""
    rows = [r for r in reader.task_results(round_no) if r.side == "heldout"]
    if not rows:
        return None
    return {r.task_id: {"pass": r.pass_rate, "passes": r.passed, "insecure": r.insecure_passed,
                        "cost": r.mean_cost} for r in rows}


def versus_seed(seed: dict[str, dict[str, Any]], policy: dict[str, dict[str, Any]],
                task_ids: list[str]) -> dict[str, Any]:
    """Paired bootstrap figures of `policy` against `seed` on `task_ids` (same tasks, same
    sampling seeds): Δpass@1, the insecure share of passing samples (each, and their ratio),
    Δ mean cost of passing samples over tasks where both passed."""
    from codealign.trainer.evaluate import mean
    from codealign.trainer.stats import delta_mean, ratio_of_shares

    a = {t: seed[t] for t in task_ids}
    b = {t: policy[t] for t in task_ids}

    def share(side: dict[str, dict[str, Any]]) -> float | None:
        passes = sum(v["passes"] for v in side.values())
        return None if not passes else round(sum(v["insecure"] for v in side.values()) / passes, 4)

    costs = [t for t in task_ids if a[t]["cost"] is not None and b[t]["cost"] is not None]
    return {
        "tasks": len(task_ids),
        "pass@1": [_sig4(mean([v["pass"] for v in a.values()])), _sig4(mean([v["pass"] for v in b.values()]))],
        "delta_pass@1": delta_mean({t: v["pass"] for t, v in a.items()},
                                   {t: v["pass"] for t, v in b.items()}).to_dict(),
        "insecure_share": [share(a), share(b)],
        "insecure_ratio": ratio_of_shares({t: (v["insecure"], v["passes"]) for t, v in a.items()},
                                          {t: (v["insecure"], v["passes"]) for t, v in b.items()}).to_dict(),
        "mean_cost": [_sig4(mean([a[t]["cost"] for t in costs])), _sig4(mean([b[t]["cost"] for t in costs]))],
        "delta_mean_cost": delta_mean({t: a[t]["cost"] for t in costs},
                                      {t: b[t]["cost"] for t in costs}).to_dict(),
    }


def _sig4(value: float | None) -> float | None:
    """Four significant digits (costs are seconds of a few microseconds, rates are in [0, 1])."""
    return None if value is None else float(f"{value:.4g}")


def _eval_samples(reader, round_no: int) -> list[tuple[str, str]]:
    return [(s["task_id"], s["code"]) for s in reader.samples(round_no, side="heldout")]


def habit_table(classifier, heldout: tuple[list, list], train: tuple[list, list] | None,
                heldout_ids: list[str], train_ids: list[str], control: set[str]) -> list[dict[str, Any]]:
    """One row per habit (and counter-example group): its kind, whether it is the control,
    the share of samples showing it for the seed and the last promoted policy, on held-out
    and train tasks. `heldout`/`train` are (seed samples, last policy samples)."""
    from codealign.tasks.bank import HABITS

    def rates(pair, ids):
        return None if pair is None else [classifier.rates(side, ids) for side in pair]

    held, tr = rates(heldout, heldout_ids), rates(train, train_ids)
    groups = list(HABITS) + sorted({g for g in classifier.group.values()
                                    if g and g.startswith("counter:")})
    rows = []
    for group in groups:
        row = {"habit": group, "kind": HABITS[group].kind.value if group in HABITS else "counter-example",
               "control": group in control}
        for side, figures in (("heldout", held), ("train", tr)):
            if figures is None or group not in figures[0]:
                row[side] = None
                continue
            seed, last = figures[0][group], figures[1].get(group, {})
            row[side] = {"tasks": seed["tasks"], "samples": seed["samples"],
                         "seed": seed["habit_rate"], "last": last.get("habit_rate"),
                         "seed_other": seed["other_rate"], "last_other": last.get("other_rate")}
        rows.append(row)
    return rows


def _sample_train_side(config, tasks: list, train_ids: list[str], adapter: str | None,
                       log: Callable[[str], None]) -> tuple[list, list]:
    """The seed's and the last promoted policy's code on the train tasks (the evaluation's
    sampling settings and seeds for both)."""
    from codealign.generator import make_generator, sample_tasks

    ev = config.evaluation
    params = dataclasses.replace(config.sampling, n=config.sampling.n, temperature=ev.temperature)
    chosen = [t for t in tasks if t.task_id in set(train_ids)]
    generator = make_generator(config.backend, config.model, **config.generator_kwargs())
    try:
        log(f"train-side habit rates: sampling {len(chosen)} train tasks x {params.n} "
            "from the seed and the last promoted policy")
        out = []
        for policy_adapter in (None, adapter):
            samples = sample_tasks(chosen, generator, params, adapter=policy_adapter)
            out.append([(s.task_id, s.code) for s in samples])
        return out[0], out[1]
    finally:
        generator.close()


def stderr_log(prefix: str) -> Callable[[str], None]:
    """`log(line)`: the line on stderr after a bold `prefix`, never wrapped (a log file gets
    whole lines, at any width)."""
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    return lambda line: err.print(f"[bold]{prefix}[/bold] {line}", highlight=False)


QUIET_ENV = {
    # vLLM logs to stdout at INFO by default; the report owns stdout (its last line is JSON).
    "VLLM_LOGGING_STREAM": "ext://sys.stderr",
    # vLLM's warnings on a CPU-only machine (no Triton, chunked prefill off, no libtcmalloc
    # preloaded, its engine killed at shutdown) and torch's C++ ones in its worker (NUMA
    # binding) ask nothing of a demo's user. WARNING would let every one of them through.
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TORCH_CPP_LOG_LEVEL": "ERROR",
    # In vLLM's processes: its own FutureWarnings (torch deprecations in its code), and the
    # resource tracker's notice of the shared memory that the killed engine left behind.
    "PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning:multiprocessing.resource_tracker",
}
"""What `quiet_vllm` sets for vLLM's processes (they read it when they start)."""


@contextlib.contextmanager
def quiet_vllm(log: Callable[[str], None]) -> Iterator[None]:
    """Set `QUIET_ENV` for the processes started inside (a variable the caller set is kept) and
    ignore vLLM's FutureWarnings in this one; both are put back afterwards, so a caller's process
    (a test session) gets its own settings back. Says once how to see vLLM's warnings again."""
    previous = {key: os.environ.get(key) for key in QUIET_ENV}
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if previous["VLLM_LOGGING_LEVEL"] is None:
        log("vLLM's warnings are hidden; VLLM_LOGGING_LEVEL=WARNING shows them")
    # vLLM logs some warnings while it is imported, before it applies VLLM_LOGGING_LEVEL
    vllm_logger = logging.getLogger("vllm")
    level = vllm_logger.level
    vllm_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="vllm")
            yield
    finally:
        vllm_logger.setLevel(level)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_demo(config_path: str | Path = DEFAULT_CONFIG, *, rounds: int | None = None,
             run_dir: str | Path | None = None, name: str | None = None,
             seed: SeedConfig | None = None, cache: str | Path | None = None,
             out: Callable[[str], None] | None = None, progress: bool = True,
             started: float | None = None, torch_threads: int = 1,
             train_side_rates: bool = True) -> DemoResult:
    """Build the seed, run the loop with the recipe at `config_path`, print and return results.

    `out` receives the report's lines (default: stdout); progress and stage logs go to
    stderr. `started` is the perf_counter value the total wall time counts from (default:
    now), so a caller can include its own start-up. `torch_threads` is set for the DPO step
    in this process (0: torch's default); one thread, because at the tiny model's size a
    second one costs more in synchronisation than it saves on a busy 2-core machine (vLLM
    and the sandboxes run in their own processes). `train_side_rates`: sample the train
    tasks from the seed and the last promoted policy for the per-habit table.
    """
    from codealign.config import check_tasks, load_config
    from codealign.demo.habits import HabitClassifier
    from codealign.demo.seed import build_seed
    from codealign.runs import RunReader, run_loop
    from codealign.tasks.bank import load_variants

    started = time.perf_counter() if started is None else started
    log = stderr_log("demo")
    name = name or time.strftime("demo-%Y%m%d-%H%M%S")

    # The recipe is checked in full (model aside: it is made below) before any work starts.
    draft = load_config(config_path, {"name": name, "rounds": rounds}, check=False)
    tasks = check_tasks(draft)
    train_ids, heldout_ids = draft.evaluation.split(tasks)
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
    with quiet_vllm(log):
        try:
            t = time.perf_counter()
            result = run_loop(config, progress=progress, log=log)
            loop_s = time.perf_counter() - t
            reader = RunReader(result.run_path)
            if reader.split()["heldout"] != heldout_ids:
                raise RuntimeError(f"{result.run_path}/split.json does not hold out the recipe's tasks "
                                   "(the run engine ignored evaluation.heldout_tags/strata_prefix)")
            rounds = reader.rounds()
            rows = round_rows(rounds)
            for row in rows:
                row.update(train_side(reader, row["round"]))
            promoted = last_promoted(rounds)
            final = promoted.round if promoted else 0
            classifier = HabitClassifier(tasks, load_variants())
            t = time.perf_counter()
            train_pair = None
            if train_side_rates and final:
                train_pair = _sample_train_side(config, tasks, train_ids,
                                                str(result.run_path / f"round-{final}" / "train" / "adapter"), log)
            train_side_s = time.perf_counter() - t
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
            if previous_threads is not None:
                torch.set_num_threads(previous_threads)

    control_tags = set(config.evaluation.heldout_tags)
    control_ids = [i for i in heldout_ids if control_tags & set(classifier.tasks[i].tags)] \
        if all(i in classifier.tasks for i in heldout_ids) else []
    transfer_ids = [i for i in heldout_ids if i not in set(control_ids)]
    seed_tasks = heldout_tasks(reader, 0)
    for row in rows:
        figures = heldout_tasks(reader, row["round"]) if row["round"] else None
        row["vs_seed"] = None if figures is None else {
            "heldout": versus_seed(seed_tasks, figures, heldout_ids),
            **({"transfer": versus_seed(seed_tasks, figures, transfer_ids),
                "control": versus_seed(seed_tasks, figures, control_ids)} if control_ids else {})}
    habits = habit_table(classifier, (_eval_samples(reader, 0), _eval_samples(reader, final)),
                         train_pair, heldout_ids, train_ids,
                         {t.split(":", 1)[1] for t in control_tags if ":" in t})
    times = time_breakdown(reader.timings(), seed_s, setup_s, loop_s)
    times["train-side rates"] = train_side_s
    demo = DemoResult(result.run_path, seed_model.path, seed_model.cached, rows, times,
                      time.perf_counter() - started, final, habits,
                      {"heldout": len(heldout_ids), "control": len(control_ids), "train": len(train_ids)})
    _report(demo, reader, config, seed_model.manifest, out or (lambda line: print(line, flush=True)))
    return demo


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _us(x: float | None) -> str:
    """A cost in seconds (`codealign.judges.efficiency.cost_s`) as it reads (microseconds)."""
    return "n/a" if x is None else format_cost(x, "s")


def _us_iv(iv: dict[str, Any] | None) -> str:
    """A cost interval in seconds as microseconds (`format_cost`'s unit for seconds)."""
    if not iv or iv.get("value") is None:
        return "n/a"
    scaled = {k: (v * 1e6 if isinstance(v, float) and k in ("value", "low", "high") else v)
              for k, v in iv.items()}
    return _iv(scaled, 1) + " µs"


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
            _us(row["mean_cost"]),
            "—" if row.get("train_pass_rate") is None else
            f"{_f(row['train_pass_rate'])} / {_f(row.get('train_insecure_share_of_passing'))}",
            "—" if row["pairs"] is None else f"{row['pairs']} "
            + ", ".join(f"{k}:{v}" for k, v in (row["pairs_by_reason"] or {}).items())
            + (f"; {row['pairs_per_100_samples']}/100 samples" if row["pairs_per_100_samples"] is not None else "")
            + (f"; +{row['replayed']} replayed" if row["replayed"] else ""),
            row["gate"],
        )
    import io

    buffer = io.StringIO()
    Console(file=buffer, width=150, force_terminal=False).print(table)
    for line in buffer.getvalue().rstrip("\n").split("\n"):
        out(line)

    out("columns: pass@1, pass@k, secure rate (passing samples without a medium/high bandit "
        "finding) and mean cost (CPU time of one call on the perf inputs, floored by the "
        "operation count: codealign.judges.efficiency.cost_s) are on the held-out tasks, "
        "for the round's new policy; 'train tasks' are the round's own samples, drawn by the "
        "policy it started from (pass rate / insecure share of the passing ones); 'pairs' are the "
        "round's own (per 100 of its train samples) and the earlier rounds' pairs replayed into its "
        "training set after a fresh check.")
    for row in demo.rows:
        if row.get("tasks_by_state"):
            out(f"round {row['round']} sampled {row['train_samples_drawn']} train samples; tasks by what the "
                "last round that sampled them saw: "
                + ", ".join(f"{state} {n}" for state, n in row["tasks_by_state"].items()))
    for line in _versus_lines(demo):
        out(line)
    for line in _habit_lines(demo):
        out(line)
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


def _iv(iv: dict[str, Any] | None, digits: int = 3, sign: str = "+") -> str:
    if not iv or iv.get("value") is None:
        return "n/a"
    ci = "" if iv["low"] is None else f" [{iv['low']:{sign}.{digits}f}, {iv['high']:{sign}.{digits}f}]"
    return f"{iv['value']:{sign}.{digits}f}{ci}"


def _versus_lines(demo: DemoResult) -> list[str]:
    """Each evaluated round against the seed, with paired bootstrap 95% intervals over tasks."""
    lines = [f"against the seed (paired bootstrap over held-out tasks, 95% CI; same sampling seeds "
             f"for every policy; {demo.tasks.get('heldout')} held-out tasks, "
             f"{demo.tasks.get('control')} of them the control habit's):"]
    for row in demo.rows:
        vs = row.get("vs_seed")
        if not vs:
            continue
        for part in ("heldout", "transfer", "control"):
            if part not in vs:
                continue
            f = vs[part]
            label = {"heldout": "all held-out", "transfer": "held-out, trained habits",
                     "control": "control habit"}[part]
            lines.append(
                f"  round {row['round']} ({row['status']}), {label} ({f['tasks']} tasks): "
                f"pass@1 {_f(f['pass@1'][0])} -> {_f(f['pass@1'][1])}, Δ {_iv(f['delta_pass@1'])}; "
                f"insecure share of passing {_f(f['insecure_share'][0])} -> {_f(f['insecure_share'][1])}, "
                f"ratio {_iv(f['insecure_ratio'], 2, '')}; mean cost of passing "
                f"{_us(f['mean_cost'][0])} -> {_us(f['mean_cost'][1])}, Δ {_us_iv(f['delta_mean_cost'])}")
    if demo.last_promoted:
        lines.append(f"last promoted policy: round {demo.last_promoted}")
    else:
        lines.append("no round was promoted: the seed is still the policy")
    return lines


def _habit_lines(demo: DemoResult) -> list[str]:
    """The per-habit table: share of samples showing each habit, seed -> last promoted."""
    def cell(side: dict[str, Any] | None) -> str:
        if not side:
            return "—"
        return (f"{_f(side['seed'])} -> {_f(side['last'])}  ({side['tasks']} tasks, "
                f"other {_f(side['seed_other'], 2)} -> {_f(side['last_other'], 2)})")

    lines = [f"habits: share of samples on a habit's tasks that show it, seed -> last promoted "
             f"(round {demo.last_promoted}); 'other' = code matching no known variant; "
             "counter-example rows: share writing the habit's form, which is correct there"]
    width = max(len(r["habit"]) for r in demo.habits) if demo.habits else 10
    lines.append(f"  {'habit':<{width}}  {'kind':<15}  {'held-out':<44}  train")
    ordered = [r for r in demo.habits if not r["control"]] + [r for r in demo.habits if r["control"]]
    for r in ordered:
        name = r["habit"] + (" (control)" if r["control"] else "")
        lines.append(f"  {name:<{width}}  {r['kind']:<15}  {cell(r['heldout']):<44}  {cell(r['train'])}")
    return lines


def main_entry(config: Path, rounds: int | None, run_dir: Path | None, name: str | None,
               started: float) -> DemoResult:
    """What the CLI command calls (kept here so cli.py stays a thin layer)."""
    return run_demo(config, rounds=rounds, run_dir=run_dir, name=name, started=started,
                    progress=sys.stderr.isatty())
