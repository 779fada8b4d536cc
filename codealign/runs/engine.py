"""The run engine: create a run, execute (or resume) its rounds under the lease, cancel it.

A run is a directory ``<run_dir>/<name>/``::

    config.json       the validated config, as plain data (written last by `create_run`)
    tasks.jsonl       the task snapshot taken at creation; the run reads only this
    split.json        the held-out rule, its seed and the resulting task ids; ``kept_out``:
                      the snapshot's tasks left out of the train side, with why (leak control)
    lineage.json      with a parent run or an initial policy: where round 0's policy came from,
                      and the lineage's first policy π₀ (``initial``: what ``dpo.reference:
                      initial`` trains against)
    lineage/adapter/  a copy of that adapter (its hash is recorded)
    lineage/initial/  a child run's copy of π₀'s adapter (when π₀ is not the base)
    state.json, lease.lock, cancel.request      see `codealign.runs.state`
    events.jsonl      see `codealign.runs.events`
    exclusions.json   pair ids no training set may hold (reviewers disagreed), written by whoever
                      starts the run (`codealign.runs.exclusions`); absent: none
    round-0/evaluate/ the starting policy on the held-out tasks (evaluated once)
    round-k/sample/   samples.jsonl           (train tasks, current policy)
    round-k/execute/  executions.jsonl, references.jsonl (sandbox, profiled)
    round-k/judge/    verdicts.jsonl, pairs.jsonl (TRL format, with each pair's provenance), summary.json
    round-k/train/    pairs.jsonl (the training set: the judge's pairs less the excluded),
                      adapter/, metrics.jsonl, train.json
    round-k/rejudge-<stamp>/  ``codealign runs rejudge``: the round judged again (`codealign.runs.rejudge`)
    round-k/evaluate/ samples.jsonl, executions.jsonl, outcomes.jsonl, report.json
    round-k/gate/     decision.json
    rounds.jsonl      one line per round, rebuilt from the stage manifests
    timings.json      seconds per stage per round

The policy of round k is the adapter of the last *promoted* round before k (round 0's
policy — the base model, or the lineage's adapter — when none was): a rejected round's adapter
is kept on disk but never sampled from again. Sampling seeds differ per round (``sampling.seed
+ 100003 * round``, plus the prompt's index as the generator adds it); evaluation uses
``sampling.seed`` itself for every policy, so rounds are compared on the same random draws,
and a child run's round 0 repeats its parent's evaluation of the adapter it starts from. The
run's top-level ``seed`` picks the train tasks of each round when ``tasks_per_round`` is set;
DPO uses ``dpo.seed + round``.

The split is a stable function of the task id and ``evaluation.split_seed`` (see
`codealign.trainer.evaluate.split_tasks`), so adding tasks never moves a task across it; a
child run also keeps every task its parent had on the parent's side. A task its creator asks
to keep out of training (`create_run`'s `keep_out`: the service's near duplicates of held-out
tasks) that would be on the train side is on neither: it stays in the snapshot, is never
sampled nor evaluated, and ``split.json``'s ``kept_out`` says why.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codealign.config import RunConfig, check_tasks, parse_config
from codealign.errors import Canceled, ConfigError, InputError, RunBusy
from codealign.jsonl import read_jsonl, write_json, write_jsonl
from codealign.records import RoundRecord, last_promoted
from codealign.runs.events import EventLog, RunCanceled, RunFailed, RunFinished, RunStarted
from codealign.runs.rounds import LINEAGE_FILE, read_rounds, stage_timings, write_rounds
from codealign.runs.stages import (Context, Incumbent, Policy, evaluate_stage, execute_stage, gate_stage,
                                   judge_stage, round_tasks, sample_stage, sha_path, train_stage)
from codealign.runs.state import (CANCEL_FILE, STATE_FILE, CancelToken, RunLease, RunState, RunStatus,
                                  holder_info, now_iso, read_state)

__all__ = ["create_run", "execute_run", "request_cancel", "list_runs", "run_loop", "LoopResult",
           "TASKS_FILE", "SPLIT_FILE", "CONFIG_FILE"]

TASKS_FILE = "tasks.jsonl"
SPLIT_FILE = "split.json"
CONFIG_FILE = "config.json"
LINEAGE_ADAPTER = "lineage/adapter"
LINEAGE_INITIAL = "lineage/initial"
# Not part of what a run *is*: how far to go, and where its directory lies.
_NOT_IDENTITY = ("rounds", "run_dir")


# ---------------------------------------------------------------------------------------------
# Creating a run


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items()
            if k not in _NOT_IDENTITY and not (v is None and k in ("parent_run", "initial_policy"))}


def _task_dicts(tasks: Iterable) -> list[dict[str, Any]]:
    return [t.to_dict() for t in tasks]


def read_task_snapshot(run_path: Path) -> list:
    from codealign.tasks import Task

    path = run_path / TASKS_FILE
    out = []
    for line, d in read_jsonl(path):
        try:
            out.append(Task.from_dict(d))
        except (InputError, TypeError, ValueError) as exc:
            raise InputError(str(exc), path=str(path), line=line) from None
    return out


def _resolve_parent(config: RunConfig) -> Path:
    given = Path(config.parent_run).expanduser()
    candidates = [given] if given.is_absolute() else [given, Path(config.run_dir) / given]
    for c in candidates:
        if (c / CONFIG_FILE).exists():
            return c.resolve()
    raise ConfigError(f"parent run {config.parent_run!r} not found (looked for "
                      f"{' and '.join(str(c / CONFIG_FILE) for c in candidates)})", path=config.source,
                      field="parent_run")


def _initial_of(run: Path) -> tuple[str, Path | None]:
    """The first policy π₀ of `run`'s lineage: (its name, its adapter directory; None: the base)."""
    info = _read_lineage(run)
    if info is None:
        return "base", None
    if info["parent_run"] is None:               # π₀ is the run's own start (an initial_policy)
        return info["policy"], None if info["adapter"] is None else run / info["adapter"]
    if "initial" in info:
        initial = info["initial"]
        return initial["policy"], None if initial["adapter"] is None else run / initial["adapter"]
    return _initial_of(Path(info["parent_run"]))  # a child recorded before π₀ was


def _lineage(config: RunConfig, run_path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(lineage record with the absolute `source` adapter to copy, and for a child π₀'s name
    `initial` and adapter `initial_source`; the parent's split)."""
    if config.parent_run is not None:
        parent = _resolve_parent(config)
        if parent == run_path.resolve():
            raise ConfigError("a run cannot be its own parent", path=config.source, field="parent_run")
        parent_config = json.loads((parent / CONFIG_FILE).read_text(encoding="utf-8"))
        if parent_config["model"] != config.model:
            raise ConfigError(f"the parent run was made on model {parent_config['model']}; a child "
                              f"run must use the same base model, not {config.model}",
                              path=config.source, field="parent_run")
        initial_policy, initial_source = _initial_of(parent)
        last = last_promoted(read_rounds(parent))
        record: dict[str, Any] = {"parent_run": str(parent), "parent_round": 0, "source": None,
                                  "policy": "base", "initial": initial_policy,
                                  "initial_source": None if initial_source is None else str(initial_source)}
        if last is not None and last.artifacts.adapter is not None:
            record.update(parent_round=last.round, source=str(parent / last.artifacts.adapter),
                          policy=f"{parent.name}/round-{last.round}")
        elif (parent / LINEAGE_FILE).exists():      # the parent never improved on its own start
            inherited = json.loads((parent / LINEAGE_FILE).read_text(encoding="utf-8"))
            if inherited["adapter"] is not None:
                record.update(source=str(parent / inherited["adapter"]), policy=inherited["policy"])
        return record, json.loads((parent / SPLIT_FILE).read_text(encoding="utf-8"))
    if config.initial_policy is not None:
        source = Path(config.initial_policy).expanduser().resolve()
        if not (source / "adapter_config.json").exists():
            raise ConfigError(f"{source} is not a LoRA adapter directory (no adapter_config.json)",
                              path=config.source, field="initial_policy")
        return {"parent_run": None, "parent_round": None, "source": str(source),
                "policy": f"adapter:{source.name}"}, None
    return None, None


def _split(config: RunConfig, tasks: Sequence, parent_split: dict[str, Any] | None,
           keep_out: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The recipe's split of `tasks` (`EvalConfig.split`: the seeded per-task hash rule, within
    each habit group and with always-held-out tags when the recipe names them), without the
    train tasks of `keep_out` (id -> why), which ``kept_out`` lists."""
    ev = config.evaluation
    task_ids = [t.task_id for t in tasks]
    train, heldout = ev.split(tasks)
    split = {"rule": ev.split_rule(), "fraction": ev.heldout_fraction, "seed": ev.split_seed,
             "train": train, "heldout": heldout}
    if parent_split is not None:
        # A task keeps the side it had in the parent: held-out stays held out along a lineage.
        held = (set(heldout) - set(parent_split["train"])) | (set(parent_split["heldout"]) & set(task_ids))
        split["train"] = [t for t in task_ids if t not in held]
        split["heldout"] = [t for t in task_ids if t in held]
        split["inherited_from"] = parent_split.get("inherited_from") or "parent run"
        if not split["train"] or not split["heldout"]:
            raise ConfigError("with the parent run's split, one side of this run's split is empty",
                              path=config.source, field="parent_run")
    if keep_out:
        split["kept_out"] = {t: keep_out[t] for t in split["train"] if t in keep_out}
        split["train"] = [t for t in split["train"] if t not in keep_out]
        if not split["train"]:
            raise ConfigError("every train task of this run is kept out of training (near "
                              "duplicates of held-out tasks): no task is left to train on",
                              path=config.source, field="tasks")
    return split


def create_run(config: RunConfig, *, tasks: Sequence | None = None,
               parent_run: str | Path | None = None, keep_out: Mapping[str, str] | None = None) -> Path:
    """Make the run directory (task snapshot, split, lineage, config, state ``queued``); return it.

    `keep_out` (task id -> why): tasks never to train on; one the split puts on the train side
    is on neither side (see the module docstring). A held-out one stays held out.

    An existing run is kept: its config must be the same (``rounds`` and ``run_dir`` aside;
    a new ``rounds`` is recorded) or `ConfigError` is raised before anything is written; its
    task snapshot is kept (explicit `tasks` that differ from it are refused). Raises `RunBusy`
    when another process holds the run's lease.
    """
    if parent_run is not None:
        config = dataclasses.replace(config, parent_run=str(parent_run))
        if config.initial_policy is not None:
            raise ConfigError("give parent_run or initial_policy, not both", field="parent_run")
    run_path = config.run_path
    if (run_path / CONFIG_FILE).exists():
        with RunLease(run_path).acquire(heartbeat=False) as lease:
            _check_existing(config, run_path, tasks, lease)
        return run_path

    tasks = list(tasks) if tasks is not None else check_tasks(config)
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids) or len(ids) < 2:
        raise ConfigError(f"a run needs at least two tasks with distinct ids, got {len(ids)} "
                          f"({len(set(ids))} distinct)", path=config.source, field="tasks")
    lineage, parent_split = _lineage(config, run_path)
    split = _split(config, tasks, parent_split, keep_out)
    with RunLease(run_path).acquire(heartbeat=False) as lease:
        if (run_path / CONFIG_FILE).exists():        # made by another process meanwhile
            _check_existing(config, run_path, tasks, lease)
            return run_path
        write_jsonl(run_path / TASKS_FILE, _task_dicts(tasks))
        write_json(run_path / SPLIT_FILE, split)
        if lineage is not None:
            write_json(run_path / LINEAGE_FILE, _copy_lineage(run_path, lineage))
        lease.update(status=RunStatus.QUEUED, parent_run=lineage and lineage["parent_run"])
        write_json(run_path / CONFIG_FILE, config.section_dicts())     # last: the run exists
    return run_path


def _copy_lineage(run_path: Path, lineage: dict[str, Any]) -> dict[str, Any]:
    """Copy the start adapter (and a child's π₀ adapter) into the run; the lineage.json record."""
    def copy(source: str | None, rel: str) -> tuple[str | None, str | None]:
        target = run_path / rel
        if target.exists():
            shutil.rmtree(target)
        if source is None:
            return None, None
        shutil.copytree(source, target)
        return rel, sha_path(target)

    record = dict(lineage)
    record["adapter"], record["adapter_hash"] = copy(record["source"], LINEAGE_ADAPTER)
    if "initial" in record:                          # a child: π₀ as its parent had it
        adapter, digest = copy(record.pop("initial_source"), LINEAGE_INITIAL)
        record["initial"] = {"policy": record["initial"], "adapter": adapter, "adapter_hash": digest}
    return record


def _check_existing(config: RunConfig, run_path: Path, tasks: Sequence | None, lease: RunLease) -> None:
    path = run_path / CONFIG_FILE
    stored = json.loads(path.read_text(encoding="utf-8"))
    wanted = config.section_dicts()
    if _identity(stored) != _identity(wanted):
        changed = sorted(k for k in set(_identity(stored)) | set(_identity(wanted))
                         if _identity(stored).get(k) != _identity(wanted).get(k))
        raise ConfigError(f"{run_path} was made with a different config (changed: {', '.join(changed)}); "
                          "use a new run name or --run-dir", path=str(path))
    snapshot = run_path / TASKS_FILE
    if snapshot.exists():
        if tasks is not None and _task_dicts(tasks) != _task_dicts(read_task_snapshot(run_path)):
            raise ConfigError(f"{run_path} was made with other tasks; use a new run name",
                              path=str(snapshot))
    else:                                    # a run made before snapshots: take it now
        tasks = list(tasks) if tasks is not None else check_tasks(config)
        split = _split(config, tasks, None)
        old = json.loads((run_path / SPLIT_FILE).read_text(encoding="utf-8"))
        if (old["train"], old["heldout"]) != (split["train"], split["heldout"]):
            raise ConfigError(f"{run_path} was started with a different task split; use a new run name",
                              path=str(run_path / SPLIT_FILE))
        write_jsonl(snapshot, _task_dicts(tasks))
    if stored.get("rounds") != wanted["rounds"]:
        write_json(path, {**stored, "rounds": wanted["rounds"]})
    if lease.state is None:
        lease.update(status=RunStatus.QUEUED)


def stored_config(run_path: Path) -> RunConfig:
    """The run's config, as `create_run` recorded it."""
    path = run_path / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("not a run directory (no config.json)", path=str(run_path)) from None
    return parse_config(data, str(path), check=False)


# ---------------------------------------------------------------------------------------------
# Executing a run


def execute_run(run_path: str | Path, *, rounds: int | None = None, subscribers: Iterable[Callable] = (),
                cancel: threading.Event | None = None) -> RunState:
    """Take the lease (`RunBusy` at once if held), run or resume rounds 1..`rounds` (default:
    the config's), and return the final state: succeeded, failed (with `error`) or canceled."""
    return _execute(Path(run_path), rounds, subscribers, cancel, reraise=False)


def _execute(run_path: Path, rounds: int | None, subscribers: Iterable[Callable],
             cancel: threading.Event | None, reraise: bool) -> RunState:
    config = stored_config(run_path)
    total = rounds if rounds is not None else config.rounds
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise ConfigError(f"must be a positive integer, got {total!r}", field="rounds")
    lease = RunLease(run_path).acquire()
    try:
        token = CancelToken(run_path, cancel)
        token.clear_stale(before=lease.acquired_at)
        previous = lease.state or RunState(path=run_path)
        tasks = read_task_snapshot(run_path)
        state = lease.update(status=RunStatus.RUNNING, holder=holder_info(), heartbeat=now_iso(),
                             started_at=previous.started_at or now_iso(), finished_at=None, error=None,
                             resumed=previous.resumed + (previous.started_at is not None),
                             round=None, stage=None)
        events = EventLog(run_path, subscribers)
        events.emit(RunStarted(str(run_path), total, state.resumed, state.parent_run))
        ctx = Context(config, run_path, tasks, lease, events, token)
        try:
            try:
                _rounds(ctx, total)
            finally:
                ctx.close()
        except Canceled:
            lease.update(status=RunStatus.CANCELED, holder=None, finished_at=now_iso())
            events.emit(RunCanceled(ctx.round, ctx.stage))
            if reraise:
                raise
        except Exception as exc:
            lease.update(status=RunStatus.FAILED, holder=None, finished_at=now_iso(),
                         error=f"{type(exc).__name__}: {exc}")
            events.emit(RunFailed(f"{type(exc).__name__}: {exc}", ctx.round, ctx.stage,
                                  "".join(traceback.format_exception(exc))))
            if reraise:
                raise
        except BaseException:                 # Ctrl-C, SIGTERM turned into SystemExit
            lease.update(status=RunStatus.INTERRUPTED, holder=None)
            raise
        else:
            lease.update(status=RunStatus.SUCCEEDED, holder=None, finished_at=now_iso(),
                         round=None, stage=None)
            events.emit(RunFinished(total))
        return dataclasses.replace(lease.state)
    finally:
        CancelToken(run_path).consume()    # a request for this execution is moot once it ended
        lease.release()


def _read_lineage(run_path: Path) -> dict[str, Any] | None:
    path = run_path / LINEAGE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _initial_policy(run_path: Path) -> Policy:
    """π₀, the reference of ``dpo.reference: initial`` (`_initial_of`), as a policy of the run."""
    name, adapter = _initial_of(run_path)
    if adapter is None:
        return Policy(name)
    rel = adapter.relative_to(run_path) if adapter.is_relative_to(run_path) else adapter
    return Policy(name, str(rel), sha_path(adapter))


def _rounds(ctx: Context, total: int) -> None:
    run_path = ctx.run_path
    split = json.loads((run_path / SPLIT_FILE).read_text(encoding="utf-8"))
    lineage = _read_lineage(run_path)
    start = Policy(lineage["policy"], lineage["adapter"], lineage["adapter_hash"]) if lineage else Policy("base")
    initial = _initial_policy(run_path)
    base_eval = evaluate_stage(ctx, 0, split["heldout"], start)
    write_rounds(run_path)
    incumbent = Incumbent.of(0, start, base_eval)
    names = {0: start.name}
    for k in range(1, total + 1):
        policy = incumbent.policy(names[incumbent.round])
        sampled = sample_stage(ctx, k, round_tasks(ctx.config, split["train"], k), policy)
        executed = execute_stage(ctx, k, sampled)
        judged = judge_stage(ctx, k, sampled, executed)
        trained = train_stage(ctx, k, judged, policy, initial, split["train"])
        adapter = f"round-{k}/train/adapter" if "adapter" in trained.outputs else None
        candidate = Policy(f"round-{k}", adapter, trained.output_hashes.get("adapter"))
        evaluated = evaluate_stage(ctx, k, split["heldout"], candidate, skipped=trained.skipped)
        decided = gate_stage(ctx, k, evaluated, incumbent)
        if decided.promoted:
            incumbent = Incumbent.of(k, candidate, evaluated)
            names[k] = candidate.name
        write_rounds(run_path)
    write_rounds(run_path)


# ---------------------------------------------------------------------------------------------
# Cancel, list


def request_cancel(run_path: str | Path) -> None:
    """Ask the run to stop. A run nobody works on (queued, interrupted) is marked canceled at
    once; a running one gets ``cancel.request`` and stops within seconds. Safe from any process;
    a finished run is left as it is."""
    run_path = Path(run_path)
    if not (run_path / STATE_FILE).exists():
        raise InputError("not a run directory (no state.json)", path=str(run_path))
    try:
        lease = RunLease(run_path).acquire(heartbeat=False)
    except RunBusy:
        write_json(run_path / CANCEL_FILE, {"requested_at": now_iso(), "by": holder_info()})
        return
    with lease:
        state = lease.state
        if state is not None and not state.status.terminal:
            lease.update(status=RunStatus.CANCELED, holder=None, finished_at=now_iso())
            EventLog(run_path).emit(RunCanceled(state.round, state.stage))


def list_runs(run_dir: str | Path) -> list[RunState]:
    """The state of every run under `run_dir` (each with its `path`), by name."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return [read_state(p) for p in sorted(run_dir.iterdir()) if (p / STATE_FILE).exists()]


# ---------------------------------------------------------------------------------------------
# The loop as one call (create + execute), for the CLI and the demo


@dataclass
class LoopResult:
    run_path: Path
    rounds: list[RoundRecord]
    timings: dict[str, dict[str, float]]


def run_loop(config: RunConfig, *, rounds: int | None = None, run_dir: str | Path | None = None,
             progress: bool = True, log: Callable[[str], None] | None = None,
             subscribers: Iterable[Callable] = ()) -> LoopResult:
    """Create (or reopen) the run of `config` and run rounds 1..`rounds`; errors propagate
    (`Canceled` included). `log` gets the stage lines, `progress` draws rich bars."""
    from codealign.runs.console import ConsoleReporter

    if run_dir is not None:
        config = dataclasses.replace(config, run_dir=str(run_dir))
    if rounds is not None and (not isinstance(rounds, int) or rounds < 1):
        raise ConfigError(f"must be a positive integer, got {rounds!r}", field="rounds")
    run_path = create_run(config)
    reporter = ConsoleReporter(log or (lambda line: None), bars=progress)
    _execute(run_path, rounds, [reporter, *subscribers], None, reraise=True)
    return LoopResult(run_path, read_rounds(run_path), stage_timings(run_path))
