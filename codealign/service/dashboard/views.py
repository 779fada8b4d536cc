"""What each dashboard page shows, computed from a run's reader: plain dicts, no HTTP, no HTML.

The served dashboard (`pages.py`) and the static report (`codealign.report`) render these
with the same templates, so a figure is computed once, here. Every Δ with an interval is
`codealign.trainer.stats.delta_mean` over tasks (paired bootstrap, 95%); pass@k of a task is
`codealign.trainer.evaluate.pass_at_k`. Per-task pass rates:

- held-out tasks: from round k's evaluation (the round's new policy; round 0 = the base);
- train tasks: from round k's own samples, drawn by the policy the round *started from*.

A sample passes when it passed its tests honestly (the tamper judge found nothing). In the
flips view a task passes in a round when at least one of its samples passes: the groups are
`codealign.records.Flip`'s (the API's ``fixed``/``broken`` of `/v1/metrics/pass-rates`, headed
by their labels fail→pass/pass→fail), with the unchanged tasks split into always and never
passing. By default flips compare round 0 with the last promoted round (the run's policy;
the last round when none was promoted). Rows carry the round's `RoundRecord` (``record``)
and its held-out `RoundMetrics` figures under the record's own field names. Radon's
figures per round are `codealign.judges.complexity` on the round's passing train samples:
the score the judge stage recorded in each verdict (what the pipeline ranked with), or, for
a verdict without one, the judge run here (identical code scored once).

Decided rounds never change, so a `RunView` keeps what it read and computed per round (the
per-task results, the overview's and the quality page's row; the state, which changes while
the run works, is read on every call); `run_view()` hands out one per run directory and builds
a new one when `rounds.jsonl` (a round was decided), the split or the task snapshot changed,
carrying over the rounds that did not change. The service's views read through a reader with
a cache directory (`RunReader`'s `cache_dir`), so what was derived from a round's records
outlives the process.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import threading
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from codealign.jsonl import file_identity
from codealign.judges.complexity import judge_complexity
from codealign.records import Flip, RoundMetrics, RoundRecord, TaskResult, TrainSummary, format_cost, last_promoted
from codealign.runs import RunReader, list_runs, read_rounds
from codealign.trainer.evaluate import mean, pass_at_k
from codealign.trainer.stats import delta_mean

__all__ = ["RunView", "run_view", "runs_index", "DPO_SERIES", "PAIR_REASONS"]

DPO_SERIES = ("loss", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected")
PAIR_REASONS = ("correctness", "efficiency", "security", "maintainability")
PAIRS_PER_PAGE = 50


def _by_name(cls: type, record: Any) -> dict[str, Any]:
    """`record`'s fields under their own names (each None when there is no record)."""
    return {f.name: None if record is None else getattr(record, f.name) for f in dataclasses.fields(cls)}


def _pass_rate(result: TaskResult | None) -> float | None:
    return None if result is None else result.pass_rate


def _interval(a: dict[str, float], b: dict[str, float]) -> dict[str, Any] | None:
    if not a or not b:
        return None
    iv = delta_mean(a, b)
    return iv.to_dict() | {"excludes_zero": iv.excludes_zero} if iv.value is not None else None


class RunView:
    """One run, read through its `RunReader`, with per-round results kept once read."""

    def __init__(self, run_path: str | Path, previous: RunView | None = None,
                 cache_dir: str | Path | None = None) -> None:
        """`previous`: an older view of the same run, whose per-round reads are kept for the
        rounds whose records did not change (a new round then costs one round's reading);
        `cache_dir`: the reader's (what it derived from a round's verdicts, kept across views
        and processes)."""
        self.path = Path(run_path)
        self.name = self.path.name
        self.reader = RunReader(self.path, cache_dir=cache_dir)
        self._results: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}
        self._overview_rows: dict[int, dict[str, Any]] = {}   # a row: its round, incumbent, round 0
        self._quality_rows: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if previous is not None and previous.split == self.split:
            same = {r.round for r in previous.rounds if r in self.rounds}
            self._results = {k: v for k, v in previous._results.items() if k in same}
            self._overview_rows = {k: v for k, v in previous._overview_rows.items()
                                   if {k, 0, v["record"].incumbent_round or 0} <= same}
            self._quality_rows = {k: v for k, v in previous._quality_rows.items() if k in same}

    # -- what the reader gives, memoised -------------------------------------------------------

    @cached_property
    def rounds(self) -> list[RoundRecord]:
        return self.reader.rounds()

    @cached_property
    def split(self) -> dict[str, list[str]]:
        return self.reader.split()

    @cached_property
    def heldout(self) -> set[str]:
        return set(self.split["heldout"])

    @property
    def state(self):
        """The run's state, read now (it changes while the run works; nothing else here does)."""
        return self.reader.state()

    def results(self, k: int) -> dict[str, dict[str, TaskResult]]:
        """{"heldout": {task_id: result}, "train": {task_id: result}} of round k (reader.task_results)."""
        with self._lock:
            if k not in self._results:
                out: dict[str, dict[str, TaskResult]] = {"heldout": {}, "train": {}}
                for row in self.reader.task_results(k):
                    out[row.side][row.task_id] = row
                self._results[k] = out
            return self._results[k]

    def pass_rates(self, k: int, side: str) -> dict[str, float]:
        return {t: r.pass_rate for t, r in self.results(k)[side].items()}

    # -- overview ------------------------------------------------------------------------------

    @cached_property
    def ks(self) -> list[str]:
        """The k of pass@k reported by the evaluation (as strings, ascending)."""
        for r in self.rounds:
            if r.metrics is not None:
                return sorted(r.metrics.pass_at_k, key=int)
        return ["1"]

    def _train_pass_at(self, k: int) -> dict[str, float | None]:
        rows = self.results(k)["train"].values()
        if not rows:
            return {}
        out = {}
        for kk in self.ks:
            values = [pass_at_k(r.samples, r.passed, int(kk)) for r in rows if r.samples >= int(kk)]
            out[kk] = mean(values) if len(values) == len(rows) else None
        return out

    def _kept_rows(self, kept: dict[int, dict[str, Any]], make) -> list[dict[str, Any]]:
        """`make(record)` for every round record, except the rows in `kept` (kept from an older
        view when unchanged); new rows are kept there too."""
        for r in self.rounds:
            if r.round not in kept:
                kept[r.round] = make(r)
        return [kept[r.round] for r in self.rounds]

    def _overview_row(self, r: RoundRecord) -> dict[str, Any]:
        """The round's `record`, its held-out figures by their `RoundMetrics` names, its train
        side's pass@k, and Δ held-out pass@1 against the incumbent and against round 0."""
        k, held = r.round, self.pass_rates(r.round, "heldout")
        train_at = self._train_pass_at(k)
        return {"record": r, **_by_name(RoundMetrics, r.metrics),
                "train_pass_at_1": train_at.get("1"), "train_pass_at_k": train_at,
                "delta_prev": _interval(self.pass_rates(r.incumbent_round or 0, "heldout"), held) if k else None,
                "delta_base": _interval(self.pass_rates(0, "heldout"), held) if k else None}

    @cached_property
    def overview(self) -> dict[str, Any]:
        rows = self._kept_rows(self._overview_rows, self._overview_row)
        kmax = self.ks[-1]
        series = [{"label": "held-out pass@1", "values": [row["pass_at_1"] for row in rows]},
                  {"label": f"held-out pass@{kmax}", "values": [(row["pass_at_k"] or {}).get(kmax) for row in rows]},
                  {"label": "train pass@1", "values": [row["train_pass_at_1"] for row in rows]},
                  {"label": f"train pass@{kmax}", "values": [row["train_pass_at_k"].get(kmax) for row in rows]}]
        # (train pass@k is undefined when the round drew fewer than k samples per train task)
        chart = {"x": [r.round for r in self.rounds], "status": [r.status.value for r in self.rounds],
                 "series": series[:1] + [s for s in series[1:] if any(v is not None for v in s["values"])]}
        promoted = last_promoted(self.rounds)
        return {"rows": rows, "chart": chart, "kmax": kmax, "last": rows[-1] if rows else None,
                "last_promoted": promoted.round if promoted else None,
                "tasks": {"heldout": len(self.split["heldout"]), "train": len(self.split["train"])}}

    # -- per-task matrix -----------------------------------------------------------------------

    @cached_property
    def matrix(self) -> dict[str, Any]:
        rounds = [r.round for r in self.rounds]
        tasks = []
        for side, ids in (("heldout", self.split["heldout"]), ("train", self.split["train"])):
            for t in ids:
                cells = [_pass_rate(self.results(k)[side].get(t)) for k in rounds]
                known = [c for c in cells if c is not None]
                delta = known[-1] - known[0] if len(known) >= 2 else None
                tasks.append({"task_id": t, "heldout": side == "heldout", "cells": cells, "delta": delta})
        return {"rounds": rounds, "tasks": tasks}

    @cached_property
    def tasks(self) -> dict[str, Any]:
        """The run's task snapshot by id."""
        return {t.task_id: t for t in self.reader.tasks()}

    def task(self, task_id: str) -> dict[str, Any] | None:
        task = self.tasks.get(task_id)
        if task is None:
            return None
        side = "heldout" if task_id in self.heldout else "train"
        kept_out = self.split.get("kept_out", {}).get(task_id)     # leak control: on neither side
        per_round = []
        for r in self.rounds:
            samples = self.reader.samples(r.round, side, task_id=task_id)
            if samples:
                per_round.append({"round": r.round, "status": r.status, "samples": samples,
                                  "pass_rate": sum(s["honest"] for s in samples) / len(samples)})
        return {"task": task, "side": "kept-out" if kept_out else side, "kept_out": kept_out,
                "rounds": per_round}

    # -- flips ---------------------------------------------------------------------------------

    def flip_rounds(self) -> tuple[int, int]:
        """The rounds flips compare by default: round 0 and the last promoted round (the run's
        policy), or the last round when none was promoted."""
        last = last_promoted(self.rounds) or self.rounds[-1]
        return self.rounds[0].round, last.round

    def flips(self, a: int, b: int) -> dict[str, Any]:
        """Tasks of both rounds by `Flip` (regressions first), the unchanged ones split into
        always and never passing."""
        groups: dict[str, list[dict[str, Any]]] = {Flip.BROKEN.label: [], Flip.FIXED.label: [],
                                                    "always pass": [], "never pass": []}
        for side in ("heldout", "train"):
            ra, rb = self.pass_rates(a, side), self.pass_rates(b, side)
            for t in sorted(set(ra) & set(rb)):
                flip = Flip.between(ra[t], rb[t])
                group = flip.label if flip is not Flip.NONE else "always pass" if ra[t] > 0 else "never pass"
                groups[group].append({"task_id": t, "heldout": side == "heldout", "a": ra[t], "b": rb[t]})
        return {"a": a, "b": b, "groups": groups,
                "counts": {g: len(v) for g, v in groups.items()}}

    # -- quality -------------------------------------------------------------------------------

    def _quality_row(self, r: RoundRecord) -> dict[str, Any]:
        """The round's `record`, its held-out figures by their `RoundMetrics` names, and its
        passing train samples' tokens and radon figures."""
        train = self.reader.samples(r.round, "train") if r.round else []
        radon = [tuple(s["complexity"]) if s["complexity"] is not None else _radon(s["code"])
                 for s in train if s["honest"]]
        return {"record": r, **_by_name(RoundMetrics, r.metrics),
                "train_mean_tokens": mean([s["tokens"] for s in train]),
                "maintainability": mean([mi for mi, _ in radon]),
                "cc_max": mean([cc for _, cc in radon])}

    @cached_property
    def quality(self) -> dict[str, Any]:
        rows = self._kept_rows(self._quality_rows, self._quality_row)
        x = [r.round for r in self.rounds]
        # Costs in seconds are a few microseconds: charted in µs (as `format_cost` writes them),
        # so that the axis's ticks are distinct numbers.
        in_us = all(row["cost_unit"] in ("s", None) for row in rows)
        costs = [None if row["mean_cost"] is None else row["mean_cost"] * (1e6 if in_us else 1) for row in rows]
        charts = [{"x": x, "series": [{"label": label, "values": values} for label, values in group]}
                  for group in ((("secure rate", [row["secure_rate"] for row in rows]),),
                                (("mean cost (µs)" if in_us else "mean cost", costs),),
                                (("mean tokens (held-out)", [row["mean_tokens"] for row in rows]),
                                 ("mean tokens (train)", [row["train_mean_tokens"] for row in rows])),
                                (("maintainability index", [row["maintainability"] for row in rows]),))]
        return {"rows": rows, "charts": charts}

    # -- DPO health ----------------------------------------------------------------------------

    def trained_rounds(self) -> list[int]:
        return [r.round for r in self.rounds if r.trained]

    def dpo(self, k: int) -> dict[str, Any]:
        steps = self.reader.train_metrics(k)
        series = [{"label": name, "values": [s.get(name) for s in steps]} for name in DPO_SERIES]
        # "Both falling": the mean of the last quarter of the steps below that of the first
        # quarter, for the chosen and the rejected log-probabilities alike (noisy single steps
        # do not raise it).
        both_falling = False
        if len(steps) >= 2:
            n = max(1, len(steps) // 4)
            start = {key: mean([s[key] for s in steps[:n]]) for key in ("logps/chosen", "logps/rejected")}
            end = {key: mean([s[key] for s in steps[-n:]]) for key in ("logps/chosen", "logps/rejected")}
            both_falling = all(end[key] < start[key] for key in start)
        return {"round": k, "steps": [s["step"] for s in steps], "series": series,
                "last": steps[-1] if steps else {}, "both_falling": both_falling, "sampling": self.sampling(k),
                "tags": self.tags(k)}

    def tags(self, k: int) -> dict[str, Any] | None:
        """Round k's held-out Δ per task tag against the round it was compared with, as its gate
        decision recorded them (`codealign.trainer.gate.TagDelta`: Δpass@1 and Δsecure rate with
        their intervals, regressed or not); None for a decision without them."""
        record = next(r for r in self.rounds if r.round == k)
        if record.gate is None or not record.gate.decision.tags:
            return None
        decision = record.gate.decision
        return {"incumbent": record.incumbent_round, "rows": list(decision.tags),
                "regressed": list(decision.regressed_tags)}

    def sampling(self, k: int) -> dict[str, Any]:
        """Round k's samples and training set: its `AllocationSummary` and each task's share
        with its reason (``allocation.json``), pairs per 100 samples, its `TrainingSetSummary`
        and the earlier pairs a re-check dropped."""
        record = next(r for r in self.rounds if r.round == k)
        allocation = self.reader.allocation(k)
        per_100 = 100 * record.pairs / record.samples if record.samples and record.pairs is not None else None
        return {"record": record, "allocation": record.allocation,
                "tasks": list(allocation.tasks) if allocation else [], "pairs_per_100": per_100,
                "training": record.training_set,
                "dropped": [c for c in self.reader.replay_checks(k) if c.fault is not None]}

    @cached_property
    def guard(self) -> list[dict[str, Any]]:
        """Per round after 0: its `TrainSummary` fields under their names, and the chosen log-p
        change and drift at the end of training."""
        return [{"round": r.round, "status": r.status, **_by_name(TrainSummary, r.train),
                 "chosen_logp_change": r.train.last.get("chosen_logp_change") if r.train else None,
                 "drift": r.train.last.get("drift") if r.train else None}
                for r in self.rounds if r.round]

    # -- pairs ---------------------------------------------------------------------------------

    def pairs(self, k: int, reason: str | None, task_id: str | None, start: int = 0,
              limit: int = PAIRS_PER_PAGE) -> dict[str, Any]:
        """Round k's pairs (filtered), `limit` of them from `start`; a margin histogram per
        reason (margins are in each judge's own unit) over every filtered pair."""
        every = self.reader.pairs(k)
        shown = [p for p in every if (reason is None or p.reason == reason)
                 and (task_id is None or p.task_id == task_id)]
        page = shown[start:start + limit]
        return {"round": k, "reason": reason, "task": task_id, "total": len(shown), "start": start,
                "next": start + limit if start + limit < len(shown) else None,
                "tasks": sorted({p.task_id for p in every}),
                "pairs": [{"pair": p, "diff": _diff(p.rejected, p.chosen)} for p in page],
                "histograms": {reason: _histogram([p.margin for p in shown if p.reason == reason])
                               for reason in PAIR_REASONS if any(p.reason == reason for p in shown)}}

    # -- live progress -------------------------------------------------------------------------

    def progress(self, after_seq: int = 0, keep: int | None = None) -> dict[str, Any]:
        """The run's state and its events after `after_seq` (the live view polls this); with
        `keep`, only the last `keep` events, plus the latest progress event in `progress`."""
        events = self.reader.events(after_seq=after_seq)
        latest = next((e for e in reversed(events) if e["type"] == "progress"), None)
        return {"state": self.reader.state().to_dict(), "events": events[-keep:] if keep else events,
                "progress": latest, "last_seq": events[-1]["seq"] if events else after_seq}


@lru_cache(maxsize=65536)
def _radon(code: str) -> tuple[float | None, float | None]:
    """(maintainability index, max cyclomatic complexity) of `code`; (None, None) if radon failed."""
    score = judge_complexity(code)
    return (score.value, score.details["cc_max"]) if score.ok else (None, None)


def _diff(rejected: str, chosen: str) -> list[tuple[str, str]]:
    """Unified diff rejected → chosen as (kind, line) rows: kind is "add", "del", "hunk" or ""."""
    rows = []
    for line in difflib.unified_diff(rejected.splitlines(), chosen.splitlines(), "rejected", "chosen",
                                     lineterm="", n=2):
        kind = ("hunk" if line.startswith("@@") else "" if line.startswith(("---", "+++"))
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "")
        rows.append((kind, line))
    return rows


def _histogram(values: list[float], bins: int = 10) -> dict[str, list[float]]:
    if not values:
        return {"edges": [], "counts": []}
    low, high = min(values), max(values)
    width = (high - low) / bins if high > low else 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return {"edges": [round(low + i * width, 6) for i in range(bins)], "counts": counts}


def _iso(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _duration_s(state: dict[str, Any]) -> float | None:
    started, finished = _iso(state.get("started_at")), _iso(state.get("finished_at"))
    if started is None:
        return None
    end = finished or datetime.now(started.tzinfo)
    return max(0.0, (end - started).total_seconds())


# -- the runs list and the view cache ------------------------------------------------------------

_VIEWS: dict[Path, tuple[list, RunView]] = {}
_VIEWS_LOCK = threading.Lock()


def _stamp(path: Path) -> list:
    return [file_identity(path / name) for name in ("rounds.jsonl", "split.json", "tasks.jsonl")]


def run_view(run_path: str | Path, cache_dir: str | Path | None = None) -> RunView:
    """The cached `RunView` of a run directory, rebuilt when its records changed."""
    path = Path(run_path).resolve()
    stamp = _stamp(path)
    with _VIEWS_LOCK:
        cached = _VIEWS.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, RunView(path, previous=cached[1] if cached else None, cache_dir=cache_dir))
            _VIEWS[path] = cached
        return cached[1]


def runs_index(run_dir: str | Path, next_night: datetime | None = None) -> dict[str, Any]:
    """Every run under `run_dir`, newest first: status, duration, resumed, lineage, night."""
    rows = []
    for state in list_runs(run_dir):
        data = state.to_dict()
        rows.append(data | {"name": state.name, "duration_s": _duration_s(data),
                            "rounds": len(read_rounds(state.path)),
                            "night": (state.path / "night.json").exists()})
    rows.sort(key=lambda r: (r.get("started_at") or "", r["name"]), reverse=True)
    return {"runs": rows, "next_night": next_night}


def fmt_cost(value: float | None, unit: str | None = "s") -> str:
    """A cost as it reads on a page (`codealign.records.format_cost`; "–" for none).

    >>> fmt_cost(0.0017615), fmt_cost(None), fmt_cost(491194.0, "ops")
    ('1,761.5 µs', '–', '491,194 ops')
    """
    return "–" if value is None else format_cost(value, unit or "s")


def fmt(value: Any, digits: int = 3) -> str:
    """How a number reads on a page (the exact value goes in a data-* attribute)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)
