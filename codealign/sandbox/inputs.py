"""The inputs the execute stage synthesises for its tasks: one artifact per round.

For every task of a batch, `synthesise_inputs` derives what the sandbox runs besides the
task's own tests: today the perf inputs of tasks that have none (scaled up from the tests'
literal calls and chosen by the reference, `codealign.sandbox.perfinputs`). The result is
an `InputSet`: the execute stage writes it into the round (``inputs.json``, hashed in the
stage's manifest: `codealign.runs.stages`), so a run is reproducible from its own directory, and every executor
(local or Ray) receives the same inputs inside its work items (`codealign.sandbox.work`).

Synthesis runs the task's code only in the sandbox (`work.Probe` items through the
configured executor) and decides by operation counts, never by time, so two machines derive
the same inputs. Each task's result is cached by content (`SandboxConfig.inputs_cache_dir`,
default ``~/.cache/codealign/inputs``): the key hashes everything it was derived from (the
task's tests, entry point, setup, the judging programs and the rules' constants), so the
cache can only save time, never change a result.

Tasks without a reference get perf inputs by the vote of their passing samples instead, once
their verdicts are in (`vote_perf_inputs`, called by `runner.execute`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from codealign.errors import InputError
from codealign.jsonl import write_json
from codealign.sandbox import perfinputs
from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.executor import Executor, executor_for
from codealign.sandbox.work import Cancel, Probe, ProbeResult
from codealign.tasks.task import Task

__all__ = ["VERSION", "TaskInputs", "InputSet", "synthesise_inputs", "vote_perf_inputs"]

VERSION = 1


@dataclass(frozen=True)
class TaskInputs:
    """What synthesis derived for one task.

    `perf_inputs`: argument-tuple sources the profile measures (empty when the task has its
    own, or none was kept: `why`); `perf_source` says who chose them (``"reference"`` or
    ``"votes"``); `probed`: how many candidates came back; `key`: the content key they were
    derived under (their cache key)."""

    task_id: str
    perf_inputs: tuple[str, ...] = ()
    perf_source: str = ""
    probed: int = 0
    why: str = ""
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "perf_inputs": list(self.perf_inputs),
                "perf_source": self.perf_source, "probed": self.probed, "why": self.why,
                "key": self.key}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaskInputs":
        return cls(d["task_id"], tuple(d["perf_inputs"]), d["perf_source"], int(d["probed"]),
                   d["why"], d["key"])


@dataclass(frozen=True)
class InputSet:
    """Every task's `TaskInputs`, by task id (the artifact of the execute stage)."""

    tasks: dict[str, TaskInputs] = field(default_factory=dict)

    def get(self, task_id: str) -> TaskInputs | None:
        return self.tasks.get(task_id)

    def merged(self, other: "InputSet") -> "InputSet":
        return InputSet({**self.tasks, **other.tasks})

    def apply(self, task: Task) -> Task:
        """`task` with the perf inputs synthesised for it (itself when none were, or it has
        its own)."""
        found = self.tasks.get(task.task_id)
        if found is None or not found.perf_inputs or task.perf_inputs:
            return task
        return replace(task, perf_inputs=found.perf_inputs)

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION,
                "tasks": [self.tasks[t].to_dict() for t in sorted(self.tasks)]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "InputSet":
        if d.get("version") != VERSION:
            raise InputError(f"inputs of version {d.get('version')!r}; this codealign reads "
                             f"version {VERSION}", field="version")
        return cls({t.task_id: t for t in (TaskInputs.from_dict(x) for x in d["tasks"])})

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: Path) -> "InputSet":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not an inputs file: {exc}", path=str(path)) from exc


# ---------------------------------------------------------------------------------------------
# Synthesis


def synthesise_inputs(tasks: Iterable[Task], config: SandboxConfig, *, profile: bool = True,
                      executor: Executor | None = None, cancel: Cancel | None = None) -> InputSet:
    """The inputs of `tasks` (cached by content). `profile`: whether their samples will be
    measured (perf inputs are synthesised only then)."""
    wanted = {t.task_id: t for t in tasks}
    if not (profile and config.synthesise_perf_inputs):
        return InputSet()
    return _by_probes([t for t in wanted.values() if t.reference and not t.perf_inputs],
                      lambda t: [t.reference], "reference", config, executor, cancel)


def vote_perf_inputs(tasks: Iterable[Task], voters: dict[str, Sequence[str]], config: SandboxConfig,
                     *, executor: Executor | None = None, cancel: Cancel | None = None) -> InputSet:
    """Perf inputs for tasks without a reference, chosen by the majority answer of
    `voters[task_id]` (the programs that passed its tests; up to ``MAX_VOTERS`` distinct)."""
    return _by_probes([t for t in tasks if voters.get(t.task_id) and not t.perf_inputs],
                      lambda t: sorted(set(voters[t.task_id]))[:perfinputs.MAX_VOTERS], "votes",
                      config, executor, cancel)


def _by_probes(tasks: list[Task], judges, source: str, config: SandboxConfig,
               executor: Executor | None, cancel: Cancel | None) -> InputSet:
    """Perf inputs of `tasks`, each chosen by its `judges(task)` programs' probes."""
    cache = _Cache(config)
    found: dict[str, TaskInputs] = {}
    todo: list[tuple[Task, str, list[str], list[str], list[int]]] = []
    for task in tasks:
        codes = judges(task)
        key = _key("perf", task, codes)
        hit = cache.get(key, task.task_id)
        if hit is not None:
            found[task.task_id] = hit
            continue
        sources, groups = perfinputs.candidates(task)
        if not sources:
            found[task.task_id] = cache.put(TaskInputs(task.task_id, why="no literal call in the tests",
                                                      key=key))
            continue
        todo.append((task, key, codes, sources, groups))
    probes = [Probe(task, code, tuple(sources), tuple(groups), perfinputs.BUDGET_OPS, label=f"probe{i}")
              for task, _, codes, sources, groups in todo for i, code in enumerate(codes)]
    results = iter((executor or executor_for(config)).run(probes, cancel=cancel)) if probes else iter(())
    for task, key, codes, sources, groups in todo:
        runs = [next(results) for _ in codes]
        chosen = perfinputs.choose(task, sources, groups, [r.replies for r in runs])
        why = chosen.why and next((r.error for r in runs if r.error), chosen.why)
        found[task.task_id] = cache.put(TaskInputs(task.task_id, chosen.perf_inputs,
                                                  source if chosen.perf_inputs else "",
                                                  chosen.probed, why, key))
    return InputSet(found)


def _key(kind: str, task: Task, codes: Sequence[str]) -> str:
    """The content key of one task's synthesis: everything the result depends on."""
    blob = json.dumps([VERSION, kind, perfinputs.RULES, task.tests, task.entry_point,
                       task.trusted_setup(), sorted(codes)], sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class _Cache:
    """One JSON file per content key; a missing or unreadable file is a miss."""

    def __init__(self, config: SandboxConfig) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.dir = Path(config.inputs_cache_dir or Path(base) / "codealign" / "inputs")

    def get(self, key: str, task_id: str) -> TaskInputs | None:
        """The entry under `key` (tasks of the same content share it), for `task_id`."""
        try:
            found = TaskInputs.from_dict(json.loads((self.dir / f"{key}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return replace(found, task_id=task_id) if found.key == key else None

    def put(self, found: TaskInputs) -> TaskInputs:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{found.key}.json"
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(found.to_dict()))
        os.replace(tmp, path)
        return found
