"""The one read path over a run directory, for the CLI, the demo, the API and the dashboard.

`RunReader` reads only files: it takes no lease and may be used while the run is being
worked on (every file it reads is replaced atomically, except ``events.jsonl``, whose torn
last line it skips). Per-task results come from the records the stages wrote:

- held-out side of round k: ``round-k/evaluate/outcomes.jsonl`` (the policy round k made,
  or at round 0 the starting policy), one line per sample with its honest/secure flags;
- train side of round k (k >= 1): ``round-k/judge/verdicts.jsonl``, the round's own samples,
  drawn by the policy the round started from.

Reading a big round's verdicts is the slow part (every verdict parsed, every rule applied).
With a `cache_dir` (the service gives each run one under its home: `Settings.run_cache`) what
is derived from a round's files is kept there: the train outcomes of ``verdicts.jsonl``, the
per-task results, and where each task's lines are in the samples and outcomes files (a task
page reads its own lines only). Each kept file is keyed by its sources' identity (inode, size,
mtime: the stages replace files, never edit them) and by the source of the code that applies
the rules, so a rewritten record or a changed rule is derived again; `index_round` derives a
round ahead of its first view. The run directory is never written.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from codealign.errors import InputError
from codealign.jsonl import file_identity, read_jsonl, write_jsonl
from codealign.runs.engine import CONFIG_FILE, SPLIT_FILE, read_task_snapshot
from codealign.runs.events import read_events
from codealign.records import (Allocation, Disagreement, Failure, OutcomeRow, PairRow, ReplayCheck, RoundRecord,
                               Side, TaskResult, TrainingPair, load_list)
from codealign.records.results import MAX_DISAGREEMENTS
from codealign.runs.rounds import read_rounds, stage_timings
from codealign.runs.state import RunState, read_state

__all__ = ["RunReader", "TRAIN_METRICS"]

TRAIN_METRICS = ("step", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                 "rewards/accuracies", "logps/chosen", "logps/rejected")


class RunReader:
    """Read-only view of one run directory."""

    def __init__(self, run_path: str | Path, cache_dir: str | Path | None = None) -> None:
        """`cache_dir`: where what is derived from a round's files is kept between readers and
        processes (None: kept by this reader only)."""
        self.path = Path(run_path)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._memo: dict[str, tuple[list, Any]] = {}      # cache file name -> (key, value)
        if not (self.path / CONFIG_FILE).exists():
            raise InputError("not a run directory (no config.json)", path=str(self.path))

    def _json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def _rows(self, rel: str) -> list[dict[str, Any]]:
        path = self.path / rel
        return [d for _, d in read_jsonl(path)] if path.exists() else []

    def state(self) -> RunState:
        return read_state(self.path)

    def config(self) -> dict[str, Any]:
        """The config as recorded (plain data)."""
        return self._json(CONFIG_FILE)

    def split(self) -> dict[str, Any]:
        """``{"train": [...], "heldout": [...], "rule", "fraction", "seed"}``."""
        return self._json(SPLIT_FILE)

    def tasks(self) -> list:
        """The task snapshot (`Task` objects)."""
        return read_task_snapshot(self.path)

    def rounds(self) -> list[RoundRecord]:
        """The round records of rounds.jsonl (round 0: the starting policy)."""
        return read_rounds(self.path)

    def round(self, k: int) -> RoundRecord:
        for r in self.rounds():
            if r.round == k:
                return r
        raise InputError(f"round {k} is not decided yet", path=str(self.path / "rounds.jsonl"))

    def timings(self) -> dict[str, dict[str, float]]:
        return stage_timings(self.path)

    def events(self, after_seq: int = 0) -> list[dict[str, Any]]:
        return read_events(self.path, after_seq)

    # -- per sample ---------------------------------------------------------------------------

    def _heldout_outcomes(self, k: int, task_id: str | None = None) -> list[dict[str, Any]]:
        """The lines of round k's outcomes.jsonl (each checked as an `OutcomeRow`), or `task_id`'s."""
        rel = f"round-{k}/evaluate/outcomes.jsonl"
        rows = self._rows(rel) if task_id is None else self._task_rows(rel, task_id)
        load_list(OutcomeRow, rows, path=str(self.path / rel))
        return rows

    def _key(self, sources: tuple[str, ...]) -> list[Any]:
        return [_rules_key(), *(file_identity(self.path / rel) for rel in sources)]

    def _kept(self, name: str, sources: tuple[str, ...], make: Callable[[], Any]) -> Any:
        """`make()`, kept in this reader (not on disk) while `sources` and the rules are the same."""
        key = self._key(sources)
        if name not in self._memo or self._memo[name][0] != key:
            self._memo[name] = (key, make())
        return self._memo[name][1]

    def _derived(self, name: str, sources: tuple[str, ...], derive: Callable[[], Any]) -> Any:
        """`derive()`, kept (in this reader, and in ``cache_dir/name``) while each of `sources`
        (files of the run) is the same file (inode, size, mtime: the stages replace files, never
        edit them) and the code that applies the rules is the same."""
        key = self._key(sources)
        if name in self._memo and self._memo[name][0] == key:
            return self._memo[name][1]
        data = None
        if self.cache_dir is not None:
            try:
                data = json.loads((self.cache_dir / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass                                    # absent or unreadable: derive it again
        if isinstance(data, dict) and data.get("key") == key and "value" in data:
            value = data["value"]
        else:
            value = derive()
            try:
                if self.cache_dir is not None:
                    write_jsonl(self.cache_dir / name, [{"key": key, "value": value}])  # one compact line
            except OSError:
                pass                                    # a cache that cannot be written costs time only
        self._memo[name] = (key, value)
        return value

    def _index(self, rel: str) -> dict[str, list[list[int]]]:
        return self._derived(rel.replace("/", "-") + ".index.json", (rel,), lambda: _line_index(self.path / rel))

    def _task_rows(self, rel: str, task_id: str) -> list[dict[str, Any]]:
        """The lines of the run's file `rel` about `task_id`, read where the file's kept index
        (each task's lines' byte offsets) says they are."""
        if not (self.path / rel).exists():
            return [d for d in self._rows(rel) if d["task_id"] == task_id]
        index = self._index(rel)
        rows = []
        with open(self.path / rel, "rb") as handle:
            for start, length in index.get(task_id, ()):
                handle.seek(start)
                try:
                    rows.append(json.loads(handle.read(length)))
                except ValueError:
                    rows.append(None)
        if any(not isinstance(d, dict) or d.get("task_id") != task_id for d in rows):
            # the file was replaced after its index was read: read the whole file
            return [d for d in self._rows(rel) if d["task_id"] == task_id]
        return rows

    def _train_outcomes(self, k: int) -> dict[str, list[dict[str, Any]]]:
        """Per train task of round k, per sample: `_train_flags` of its verdict plus ``task_id``,
        ``counted`` (False for an infrastructure error: the execution never happened) and
        ``complexity`` (see `samples`)."""
        rel = f"round-{k}/judge/verdicts.jsonl"

        def derive() -> dict[str, list[dict[str, Any]]]:
            by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for d in self._rows(rel):
                v = _judged(d)
                failure = Failure.of(d["execution"])
                by_task[v.task_id].append(_train_flags(v) | {"task_id": v.task_id,
                                                             "counted": not v.execution.infrastructure_error,
                                                             "complexity": _complexity(v),
                                                             "failure": failure and failure.to_dict()})
            return dict(by_task)

        return self._derived(f"round-{k}-train.json", (rel,), derive)

    def samples(self, k: int, side: str = "heldout", task_id: str | None = None) -> list[dict[str, Any]]:
        """Round k's samples on one side: the Sample fields plus ``status`` (the execution's),
        ``honest`` (passed honestly), ``secure`` (None unless honest and scanned), ``cost`` and
        ``failure`` (`Failure.to_dict`: why the sandbox did not pass it; None if it did);
        train samples also ``complexity``: the maintainability judge's ``[mi, cc_max]`` from the
        verdict (``[None, None]`` when the judge failed; None when the verdict has no such score)."""
        try:
            side = Side(side)
        except ValueError:
            raise InputError(f"side must be one of {[s.value for s in Side]}, got {side!r}",
                             field="side") from None
        rel = f"round-{k}/evaluate/samples.jsonl" if side is Side.HELDOUT else f"round-{k}/sample/samples.jsonl"
        flags: dict[str, dict[str, Any]]
        if side is Side.HELDOUT:
            flags = {o["sample_id"]: o for o in self._heldout_outcomes(k, task_id)}
        else:
            by_task = self._train_outcomes(k)
            flags = {f["sample_id"]: f for t in ([task_id] if task_id else by_task) for f in by_task.get(t, ())}
        samples = self._rows(rel) if task_id is None else self._task_rows(rel, task_id)
        out = []
        for s in samples:                               # (already only `task_id`'s, if given)
            f = flags.get(s["sample_id"], {})
            out.append({**s, "status": f.get("status"), "honest": f.get("honest", False),
                        "secure": f.get("secure"), "cost": f.get("cost"), "failure": f.get("failure")}
                       | ({"complexity": f.get("complexity")} if side is Side.TRAIN else {}))
        return out

    def task_results(self, k: int) -> list[TaskResult]:
        """Per task of round k (`TaskResult`), train tasks first."""
        sources = (f"round-{k}/judge/verdicts.jsonl", f"round-{k}/evaluate/outcomes.jsonl")

        def load() -> list[TaskResult]:
            rows = self._derived(f"round-{k}-tasks.json", sources,
                                 lambda: [r.to_dict() for r in self._task_results(k)])
            return load_list(TaskResult, rows)

        return list(self._kept(f"round-{k}-task-results", sources, load))

    def _task_results(self, k: int) -> list[TaskResult]:
        from codealign.trainer.evaluate import mean

        rows: list[TaskResult] = []
        train = [f for group in self._train_outcomes(k).values() for f in group if f["counted"]]
        for side, flags in ((Side.TRAIN, train), (Side.HELDOUT, self._heldout_outcomes(k))):
            by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for f in flags:
                by_task[f["task_id"]].append(f)
            for task_id, group in by_task.items():
                honest = [f for f in group if f["honest"]]
                disagreed = [Disagreement(sample_id=f["sample_id"], test=f["failure"]["test"],
                                          detail=f["failure"]["detail"])
                             for f in group if (f.get("failure") or {}).get("differential")]
                rows.append(TaskResult(task_id=task_id, side=side, samples=len(group), passed=len(honest),
                                       secure_passed=sum(1 for f in honest if f["secure"] is True),
                                       insecure_passed=sum(1 for f in honest if f["secure"] is False),
                                       mean_cost=mean([f["cost"] for f in honest]),
                                       pass_rate=len(honest) / len(group), disagreed=len(disagreed),
                                       disagreements=tuple(disagreed[:MAX_DISAGREEMENTS])))
        return rows

    def index_round(self, k: int) -> None:
        """Derive and keep in the cache what the dashboard and the API read of round k (its
        per-task results; where each task's samples and held-out outcomes are), so that a first
        view reads kept files only. Nothing happens without a `cache_dir`."""
        if self.cache_dir is None:
            return
        self.task_results(k)
        for rel in (f"round-{k}/sample/samples.jsonl", f"round-{k}/evaluate/samples.jsonl",
                    f"round-{k}/evaluate/outcomes.jsonl"):
            if (self.path / rel).exists():
                self._index(rel)

    def pairs(self, k: int, reason: str | None = None, task_id: str | None = None) -> list[PairRow]:
        """Round k's preference pairs (`PairRow`), in the file's order; filters: reason, task."""
        rel = f"round-{k}/judge/pairs.jsonl"
        every: list[PairRow] = self._kept(rel, (rel,), lambda: load_list(PairRow, self._rows(rel),
                                                                         path=str(self.path / rel)))
        return [p for p in every if (reason is None or p.reason == reason) and (task_id is None or p.task_id == task_id)]

    def allocation(self, k: int) -> Allocation | None:
        """How round k spread its samples over its train tasks (None: a round made before
        allocations were recorded, or not sampled yet)."""
        path = self.path / f"round-{k}/sample/allocation.json"
        if not path.exists():
            return None
        return Allocation.from_dict(json.loads(path.read_text(encoding="utf-8")), path=str(path))

    def training_set(self, k: int) -> list[TrainingPair]:
        """What round k trained on (`TrainingPair`: its own pairs, then replayed ones)."""
        rel = f"round-{k}/train/pairs.jsonl"
        return list(self._kept(rel, (rel,), lambda: load_list(TrainingPair, self._rows(rel), path=str(self.path / rel))))

    def replay_checks(self, k: int) -> list[ReplayCheck]:
        """The earlier pairs re-checked for round k's training set, kept or dropped."""
        rel = f"round-{k}/train/replay.jsonl"
        return load_list(ReplayCheck, self._rows(rel), path=str(self.path / rel))

    def train_metrics(self, k: int) -> list[dict[str, Any]]:
        """The DPO trainer's logged figures per step of round k (empty when it did not train)."""
        return [{key: m.get(key) for key in TRAIN_METRICS} for m in self._rows(f"round-{k}/train/metrics.jsonl")]


def _judged(d: dict[str, Any]):
    """The `Verdict` of a verdicts.jsonl line with only what is read here: the tamper, security
    and maintainability scores, and the execution without its per-test outcomes (the rules
    read its status, flags and cost). Building every judge's score and every test's
    outcome was most of the time of reading a round."""
    from codealign.judges.verdict import Verdict

    scores = d.get("scores", {})
    return Verdict.from_dict(d | {"scores": {name: scores[name] for name in ("tamper", "security", "maintainability")
                                             if name in scores},
                                  "execution": d["execution"] | {"outcomes": ()}})


def _complexity(verdict) -> list[float | None] | None:
    """The maintainability judge's (`codealign.judges.complexity`) [mi, cc_max] as the pipeline
    recorded it; [None, None] when it failed, None when the verdict has no such score."""
    score = verdict.scores.get("maintainability")
    if score is None:
        return None
    return [score.value, score.details["cc_max"]] if score.ok else [None, None]


def _line_index(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Where each task's lines are in a JSON Lines file: task_id -> [(byte offset, length)]."""
    index: dict[str, list[tuple[int, int]]] = defaultdict(list)
    start = 0
    data = path.read_bytes()
    for raw in data.split(b"\n"):
        if raw.strip():
            try:
                index[json.loads(raw)["task_id"]].append((start, len(raw)))
            except (ValueError, KeyError, TypeError):
                read_jsonl(path)                        # names the file and the bad line
                raise InputError("a line has no task_id", path=str(path)) from None
        start += len(raw) + 1
    return dict(index)


@cache
def _rules_key() -> str:
    """A hash of the code that turns a verdict into an outcome: a cached outcome made by other
    rules is never used."""
    from codealign.judges import complexity, efficiency, rules, verdict
    from codealign.records import results
    from codealign.sandbox import execution

    h = hashlib.sha256()
    for module in (rules, verdict, efficiency, complexity, execution, results):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def _train_flags(verdict) -> dict[str, Any]:
    """A verdict's outcome in the form of ``outcomes.jsonl`` (the rules of
    `codealign.judges.rules`; the cost is the efficiency judge's figure, `cost_s` at the
    judge stage's calibration, None where that judge gave none)."""
    honest = verdict.passed
    efficiency = verdict.score("efficiency")
    return {"sample_id": verdict.sample_id, "status": verdict.execution.status.value, "honest": honest,
            "secure": verdict.secure if honest else None,
            "cost": efficiency.details["cost_s"] if honest and efficiency is not None else None}
