"""The inputs the execute stage synthesises for its tasks: one artifact per round.

For every task of a batch, `synthesise_inputs` derives what the sandbox runs besides the
task's own tests:

* **perf inputs** for a task that has none: scaled up from the tests' literal calls and
  chosen by the reference (`codealign.sandbox.perfinputs`), for profiled samples;
* **differential cases** for a task with a reference: inputs mutated from the tests' own
  and the reference's outputs on them, computed in the sandbox
  (`codealign.sandbox.strengthen`); every sample must agree with the reference on them.

The result is an `InputSet`: the execute stage writes it into the round (``inputs.json``,
hashed in the stage's manifest: `codealign.runs.stages`), so a run is reproducible from its
own directory, and every executor (local or Ray) receives the same inputs inside its work
items (`codealign.sandbox.work`).

Synthesis runs task code only in the sandbox (`work.Probe` items through the configured
executor) and decides by operation counts, never by time, so two machines derive the same
inputs. Each part is cached by content (`SandboxConfig.inputs_cache_dir`, default
``~/.cache/codealign/inputs``): the key hashes everything it was derived from (the task's
tests, entry point, setup, reference, input contract, the judging programs and the rules'
constants), so the cache can only save time, never change a result.

Tasks without a reference get perf inputs by the vote of their passing samples instead, once
their verdicts are in (`vote_perf_inputs`, called by `runner.execute`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, cast

from codealign.errors import InputError
from codealign.jsonl import write_json
from codealign.sandbox import perfinputs, strengthen
from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.executor import Executor, executor_for
from codealign.sandbox.strengthen import Comparison, DiffInput
from codealign.sandbox.testcases import TestPlan
from codealign.sandbox.work import Cancel, Probe, ProbeResult
from codealign.tasks.task import Task

log = logging.getLogger(__name__)

__all__ = ["VERSION", "PerfInputs", "DiffInputs", "TaskInputs", "InputSet", "synthesise_inputs",
           "vote_perf_inputs"]

VERSION = 2


@dataclass(frozen=True)
class PerfInputs:
    """Perf inputs synthesised for a task: argument-tuple sources the profile measures
    (empty when none was kept: `why`), who chose them (`source`: ``"reference"`` or
    ``"votes"``), how many candidates came back, and the content key (cache key)."""

    inputs: tuple[str, ...] = ()
    source: str = ""
    probed: int = 0
    why: str = ""
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "source": self.source, "probed": self.probed,
                "why": self.why, "key": self.key}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PerfInputs":
        return cls(tuple(d["inputs"]), d["source"], int(d["probed"]), d["why"], d["key"])


@dataclass(frozen=True)
class DiffInputs:
    """A task's differential cases: the kept inputs with the reference's outputs, how they
    are compared (`comparison`; None: the tests compare in a way that is not modelled, see
    `why`), what was dropped and why (`counts`), and the content key (cache key)."""

    cases: tuple[DiffInput, ...] = ()
    comparison: Comparison | None = None
    why: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    key: str = ""

    def test_cases(self) -> tuple[strengthen.DiffCase, ...]:
        if self.comparison is None:
            return ()
        return tuple(strengthen.case(i, c.args, c.expected, c.ref_ops, self.comparison)
                     for i, c in enumerate(self.cases))

    def to_dict(self) -> dict[str, Any]:
        return {"cases": [c.to_dict() for c in self.cases],
                "comparison": self.comparison.to_dict() if self.comparison else None,
                "why": self.why, "counts": dict(self.counts), "key": self.key}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiffInputs":
        how = d["comparison"]
        return cls(tuple(DiffInput.from_dict(c) for c in d["cases"]),
                   Comparison.from_dict(how) if how is not None else None, d["why"],
                   {k: int(v) for k, v in d["counts"].items()}, d["key"])


@dataclass(frozen=True)
class TaskInputs:
    """What synthesis derived for one task (either part may be absent)."""

    task_id: str
    perf: PerfInputs | None = None
    diff: DiffInputs | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "perf": self.perf.to_dict() if self.perf else None,
                "diff": self.diff.to_dict() if self.diff else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaskInputs":
        return cls(d["task_id"], PerfInputs.from_dict(d["perf"]) if d["perf"] else None,
                   DiffInputs.from_dict(d["diff"]) if d["diff"] else None)


@dataclass(frozen=True)
class InputSet:
    """Every task's `TaskInputs`, by task id (the artifact of the execute stage)."""

    tasks: dict[str, TaskInputs] = field(default_factory=dict)

    def get(self, task_id: str) -> TaskInputs | None:
        return self.tasks.get(task_id)

    def merged(self, other: "InputSet") -> "InputSet":
        """These inputs with `other`'s parts added (a part `other` has replaces this one's)."""
        out = dict(self.tasks)
        for task_id, theirs in other.tasks.items():
            mine = out.get(task_id, TaskInputs(task_id))
            out[task_id] = TaskInputs(task_id, theirs.perf or mine.perf, theirs.diff or mine.diff)
        return InputSet(out)

    def apply(self, task: Task) -> Task:
        """`task` with the perf inputs synthesised for it (itself when none were, or it has
        its own)."""
        found = self.tasks.get(task.task_id)
        if found is None or found.perf is None or not found.perf.inputs or task.perf_inputs:
            return task
        return replace(task, perf_inputs=found.perf.inputs)

    def plan(self, task: Task, plan: TestPlan) -> TestPlan:
        """The task's test plan with its differential cases added (`strengthen.DiffCase`,
        named ``diff[i]``, after the tests' own calls)."""
        found = self.tasks.get(task.task_id)
        if found is None or found.diff is None:
            return plan
        return TestPlan(plan.calls + found.diff.test_cases(), plan.scripts)

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
#
# Each part of each task is a `_Part`: its cache key, the probes it needs (none on a cache
# hit) and how their results become the part. Every probe of a batch goes to the executor at
# once.


@dataclass
class _Part:
    task: Task
    key: str
    probes: list[Probe]
    finish: Callable[[list[ProbeResult]], Any]


def synthesise_inputs(tasks: Iterable[Task], config: SandboxConfig, *, profile: bool = True,
                      executor: Executor | None = None, cancel: Cancel | None = None) -> InputSet:
    """The inputs of `tasks` (cached by content): perf inputs when `profile` (their samples
    will be measured) and `config.synthesise_perf_inputs`; differential cases for tasks with
    a reference when `config.differential`."""
    wanted = list({t.task_id: t for t in tasks}.values())
    parts: list[tuple[str, _Part]] = []
    if profile and config.synthesise_perf_inputs:
        parts += [("perf", _perf_part(t, [t.reference], "reference")) for t in wanted
                  if t.reference and not t.perf_inputs]
    if config.differential:
        parts += [("diff", _diff_part(t)) for t in wanted if t.reference]
    return _run(parts, config, executor, cancel)


def vote_perf_inputs(tasks: Iterable[Task], voters: Mapping[str, Sequence[str]], config: SandboxConfig,
                     *, executor: Executor | None = None, cancel: Cancel | None = None) -> InputSet:
    """Perf inputs for tasks without a reference, chosen by the majority answer of
    `voters[task_id]` (the programs that passed its tests; up to ``MAX_VOTERS`` distinct)."""
    parts = [("perf", _perf_part(t, sorted(set(voters[t.task_id]))[:perfinputs.MAX_VOTERS], "votes"))
             for t in tasks if voters.get(t.task_id) and not t.perf_inputs]
    return _run(parts, config, executor, cancel)


def _run(parts: list[tuple[str, _Part]], config: SandboxConfig, executor: Executor | None,
         cancel: Cancel | None) -> InputSet:
    cache = _Cache(config)
    found: dict[str, dict[str, Any]] = {}
    todo = []
    for kind, part in parts:
        hit = cache.get(kind, part.key)
        if hit is not None:
            found.setdefault(part.task.task_id, {})[kind] = hit
        elif not part.probes:
            found.setdefault(part.task.task_id, {})[kind] = cache.put(kind, part.key, part.finish([]))
        else:
            todo.append((kind, part))
    probes = [p for _, part in todo for p in part.probes]
    # The executor's contract: a result of the item's own kind, in item order.
    results = iter(cast(list[ProbeResult], (executor or executor_for(config)).run(probes, cancel=cancel))
                   if probes else [])
    for kind, part in todo:
        runs = [next(results) for _ in part.probes]
        made = part.finish(runs)
        if not any(r.transient for r in runs):   # a lost worker says nothing worth keeping
            cache.put(kind, part.key, made)
        found.setdefault(part.task.task_id, {})[kind] = made
    return InputSet({t: TaskInputs(t, got.get("perf"), got.get("diff")) for t, got in found.items()})


def _perf_part(task: Task, codes: list[str], source: str) -> _Part:
    key = _key("perf", task, codes, perfinputs.RULES)
    sources, groups = perfinputs.candidates(task)
    if not sources:
        return _Part(task, key, [], lambda _: PerfInputs(why="no literal call in the tests", key=key))

    def finish(runs: list[ProbeResult]) -> PerfInputs:
        chosen = perfinputs.choose(task, sources, groups, [r.replies for r in runs], [r.op_s for r in runs])
        why = chosen.why and next((r.error for r in runs if r.error), chosen.why)
        return PerfInputs(chosen.perf_inputs, source if chosen.perf_inputs else "", chosen.probed,
                          why, key)

    return _Part(task, key, [Probe(task, code, tuple(sources), tuple(groups), perfinputs.BUDGET_OPS,
                                   label=f"probe{i}", work_factor=perfinputs.WORK_FACTOR)
                             for i, code in enumerate(codes)], finish)


def _diff_part(task: Task) -> _Part:
    """Two runs of the reference on the mutated inputs (an input must give the same value
    both times), with the task's input contract asked first."""
    assert task.reference is not None
    key = _key("diff", task, [task.reference, task.input_check or ""], strengthen.RULES)
    how, why = strengthen.comparison(task)
    sources = strengthen.mutants(task) if how is not None else []
    if how is None or not sources:
        why = why or "no literal call in the tests to mutate"
        return _Part(task, key, [], lambda _: DiffInputs(comparison=how, why=why, key=key))

    def finish(runs: list[ProbeResult]) -> DiffInputs:
        if any(r.error for r in runs):
            return DiffInputs(comparison=how, why=next(r.error for r in runs if r.error)[:200], key=key)
        cases, counts = strengthen.choose(sources, runs[0].replies, runs[1].replies, how)
        why = ("" if cases else "the reference answered an input differently twice" if counts["unstable"]
               else "no input kept")
        return DiffInputs(cases, how, why, counts, key)

    groups = tuple(range(len(sources)))       # each input alone: one that fails skips no other
    return _Part(task, key, [Probe(task, task.reference, tuple(sources), groups, strengthen.REF_OPS,
                                   label=f"expect{i}", values=True, check=task.input_check)
                             for i in range(2)], finish)


def _key(kind: str, task: Task, codes: Sequence[str], rules: dict[str, Any]) -> str:
    """The content key of one part of a task's synthesis: everything it depends on."""
    blob = json.dumps([VERSION, kind, rules, task.tests, task.entry_point, task.trusted_setup(),
                       sorted(codes)], sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class _Cache:
    """One JSON file per part and content key; a missing or unreadable file is a miss."""

    _TYPES: ClassVar[dict[str, type[PerfInputs] | type[DiffInputs]]] = {"perf": PerfInputs, "diff": DiffInputs}
    _warned = False

    def __init__(self, config: SandboxConfig) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.dir = Path(config.inputs_cache_dir or Path(base) / "codealign" / "inputs")

    def get(self, kind: str, key: str) -> Any:
        try:
            found = self._TYPES[kind].from_dict(json.loads((self.dir / f"{kind}-{key}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return found if found.key == key else None

    def put(self, kind: str, key: str, found: Any) -> Any:
        """Keep `found` (and return it); a cache that cannot be written (a read-only home, a
        full disk) is only slower: logged once, never an error."""
        path = self.dir / f"{kind}-{key}.json"
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(found.to_dict()))
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if not _Cache._warned:
                _Cache._warned = True
                log.warning("inputs cache %s not written (%s): inputs are synthesised again next time",
                            self.dir, exc)
        return found
