"""Test strength: how many subtly wrong versions of a task's reference its tests reject.

For a task with a reference, `measure_strength` makes the reference's mutants
(`codealign.judges.mutants`: one edit each — a comparison, an operator, a constant, a
dropped ``not``, a slice bound, a returned value) and runs each **in the sandbox**:

1. against the task's own tests: a mutant that does not pass them is *killed*;
2. a survivor, against the **agreement inputs**: the tests' own call arguments, those
   arguments scaled up a little (`codealign.sandbox.perfinputs.candidates`, short ones
   only) and, when given, the *strengthened* inputs (differential testing's). Each input is
   one test script run by the sandbox's trusted tester, which calls the reference (loaded
   in a namespace of its own, in the tester's process) and the mutant (in the candidate's
   process, whose results come back as plain data) on fresh copies of the arguments, and
   compares them as the tests would (``==``; floats within a relative 1e-6). The
   reference is first run the same way against itself: inputs on which it raises, runs
   past its limit, or answers differently in two processes are dropped. No task code runs
   on the host, and a hostile reference can only spoil its own task's figure.

A survivor that agrees with the reference on every agreement input is *likely equivalent*
(it may differ elsewhere, but nothing here can tell). The **mutation score** is::

    score = killed / (mutants - likely equivalent)

with the tests alone, and ``strengthened_score`` counts as killed also the survivors that
disagree on a strengthened input (None until strengthened inputs are given). A task whose
tests kill fewer than `WEAK_TESTS_THRESHOLD` of its non-equivalent mutants has *weak tests*
(`weak_tests`): the service warns about it, or rejects the task when configured strict.

Every run here is of a task without its reference (the reference only ever runs as a
candidate, or inside the tester through `agreement_task`), so what kills a mutant is the
task's tests or the agreement inputs, never checks the sandbox would add from the reference.
Mutants run with a time limit of `MUTANT_TIMEOUT_FACTOR` times the reference's own wall
time in the same run (at least `MUTANT_MIN_TIMEOUT_S`, at most the task's): a mutant that
loops is killed by the limit, as in any mutation tool, and the limit follows this
machine's speed rather than a constant of it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codealign.judges.mutants import MAX_MUTANTS, Mutant, mutate
from codealign.sandbox import Execution, Job, SandboxConfig, Status, run_many
from codealign.sandbox.perfinputs import call_arguments, candidates
from codealign.tasks.task import Task

__all__ = ["WEAK_TESTS_THRESHOLD", "InputKind", "MutantResult", "TaskStrength",
           "agreement_task", "measure_strength", "strengthened_inputs", "summary", "task_mutants",
           "weak_tests"]

# HumanEval's 5th percentile of per-task scores, rounded down to 0.05 (0.952 -> 0.95 with the
# agreement inputs of today; benchmarks/mutation_score.py prints it): 95% of HumanEval's tasks
# are at or above it. It judges the tests alone, measured without strengthened inputs (as
# the service measures a submitted task's): with them fewer mutants count as equivalent.
WEAK_TESTS_THRESHOLD = 0.95
MUTANT_TIMEOUT_FACTOR = 20.0
MUTANT_MIN_TIMEOUT_S = 3.0   # below this, a busy machine can stop the tester before it starts
MAX_SCALED_INPUTS = 16       # scaled-up test arguments per task, each at most MAX_INPUT_CHARS
MAX_INPUT_CHARS = 2000
MAX_STRENGTHENED_INPUTS = 500


class InputKind(str, enum.Enum):
    """Where an agreement input came from."""

    TESTS = "tests"                # a call argument tuple of the task's own tests
    SCALED = "scaled"              # one of those scaled up (perfinputs.candidates)
    STRENGTHENED = "strengthened"  # differential testing's inputs


@dataclass(frozen=True)
class MutantResult:
    """What became of one mutant.

    `tests`: its status against the task's own tests (anything but PASSED kills it);
    `disagrees_on`: the kinds of agreement input on which it differed from the reference
    (empty: it agreed on all; None: not checked, because the tests killed it or the task
    kept no agreement input, and then it does not count as equivalent);
    `detail`: why it was killed, or the first disagreement.
    """

    mutant: Mutant
    tests: Status
    disagrees_on: tuple[InputKind, ...] | None = None
    detail: str = ""

    @property
    def killed(self) -> bool:
        """Killed by the task's own tests."""
        return self.tests is not Status.PASSED

    @property
    def equivalent(self) -> bool:
        """Likely equivalent: passed the tests and agreed on every agreement input."""
        return not self.killed and self.disagrees_on == ()

    @property
    def killed_strengthened(self) -> bool:
        """Killed by the tests or by a strengthened input."""
        return self.killed or InputKind.STRENGTHENED in (self.disagrees_on or ())

    def to_dict(self) -> dict[str, Any]:
        return {"operator": self.mutant.operator.value, "description": self.mutant.description,
                "tests": self.tests.value, "killed": self.killed, "equivalent": self.equivalent,
                "disagrees_on": None if self.disagrees_on is None else [k.value for k in self.disagrees_on],
                "detail": self.detail}


@dataclass(frozen=True)
class TaskStrength:
    """The test strength of one task. `score` is None when there is nothing to score
    (`why` says what: no reference, a reference that fails, no mutant, ...)."""

    task_id: str
    results: tuple[MutantResult, ...] = ()
    inputs: dict[InputKind, int] = dataclasses.field(default_factory=dict)  # kept agreement inputs
    strengthened: bool = False     # strengthened inputs were given for this task
    why: str = ""

    @property
    def mutants(self) -> int:
        return len(self.results)

    @property
    def killed(self) -> int:
        return sum(r.killed for r in self.results)

    @property
    def equivalent(self) -> int:
        return sum(r.equivalent for r in self.results)

    @property
    def non_equivalent(self) -> int:
        return self.mutants - self.equivalent

    @property
    def score(self) -> float | None:
        """Killed by the tests / non-equivalent mutants (None: nothing to score)."""
        return self.killed / self.non_equivalent if self.non_equivalent and not self.why else None

    @property
    def strengthened_score(self) -> float | None:
        """The same with strengthened inputs (None: none were given, or nothing to score)."""
        if not self.strengthened or self.score is None:
            return None
        return sum(r.killed_strengthened for r in self.results) / self.non_equivalent

    @property
    def survivors(self) -> tuple[MutantResult, ...]:
        """Non-equivalent mutants the task's own tests let through: what to test for."""
        return tuple(r for r in self.results if not r.killed and not r.equivalent)

    def to_dict(self) -> dict[str, Any]:
        """The task record's summary (the API and `codealign tasks check`)."""
        return {"task_id": self.task_id, "mutants": self.mutants, "killed": self.killed,
                "likely_equivalent": self.equivalent, "score": self.score,
                "strengthened_score": self.strengthened_score,
                "inputs": {k.value: n for k, n in self.inputs.items()},
                "survivors": [r.mutant.description for r in self.survivors], "why": self.why}


def weak_tests(strength: TaskStrength, threshold: float = WEAK_TESTS_THRESHOLD) -> str | None:
    """The ``weak-tests`` warning for a task, or None when its tests are strong enough (or
    there is nothing to score).

    >>> from codealign.judges.mutants import Operator
    >>> m = Mutant(Operator.COMPARISON, 2, 4, "line 2: `<` -> `<=`", "")
    >>> s = TaskStrength("t", (MutantResult(m, Status.FAILED, None),
    ...                        MutantResult(m, Status.PASSED, ("scaled",)),
    ...                        MutantResult(m, Status.PASSED, ("tests",))))
    >>> weak_tests(s)
    'weak-tests: the tests kill 1 of 3 non-equivalent mutants of the reference (0.33 < 0.95); e.g. line 2: `<` -> `<=` passes them'
    >>> weak_tests(s, threshold=0.3) is None
    True
    """
    score = strength.score
    if score is None or score >= threshold:
        return None
    example = strength.survivors[0].mutant.description if strength.survivors else ""
    return (f"weak-tests: the tests kill {strength.killed} of {strength.non_equivalent} "
            f"non-equivalent mutants of the reference ({score:.2f} < {threshold:.2f})"
            + (f"; e.g. {example} passes them" if example else ""))


def task_mutants(task: Task, limit: int = MAX_MUTANTS) -> list[Mutant]:
    """The mutants of a task's reference: for a code prompt, only the code after the
    prompt (what a model writes)."""
    if not task.reference:
        return []
    start = (1, 0)
    if task.prompt_style == "code" and task.reference.startswith(task.prompt):
        start = (task.prompt.count("\n") + 1, len(task.prompt.rsplit("\n", 1)[-1]))
    return mutate(task.reference, start=start, limit=limit)


_AGREEMENT_SETUP = '''
import copy as __codealign_copy
import math as __codealign_math
__codealign_reference_ns = {{"__name__": "__codealign_reference__"}}
exec(compile({reference!r}, "reference.py", "exec"), __codealign_reference_ns)
__codealign_reference = __codealign_reference_ns[{entry!r}]


def __codealign_same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if not all(isinstance(v, (int, float)) for v in (a, b)):
            return False
        return a == b or (a != a and b != b) or __codealign_math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(__codealign_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(__codealign_same(a[k], b[k]) for k in a)
    return bool(a == b)


def __codealign_agrees(candidate, args):
    try:
        want = __codealign_reference(*__codealign_copy.deepcopy(args))
    except Exception as exc:
        raise RuntimeError("the reference raised " + type(exc).__name__ + ": input dropped")
    got = candidate(*args)
    assert __codealign_same(got, want), "differs from the reference: got %.200r, expected %.200r" % (got, want)
    return True
'''


def agreement_task(task: Task, inputs: Sequence[str]) -> Task:
    """A task whose tests compare a candidate with `task`'s reference on `inputs`
    (argument-tuple sources), one test script per input, in the sandbox's tester."""
    setup = (task.setup + "\n" if task.setup else "") + _AGREEMENT_SETUP.format(
        reference=task.reference, entry=task.entry_point)
    tests = "".join(f"assert __codealign_agrees(candidate, {src})\n" for src in inputs)
    return dataclasses.replace(task, task_id=f"{task.task_id}::agreement", setup=setup,
                               tests=tests or "assert True\n", perf_inputs=())


def _inputs(task: Task, strengthened: Sequence[str]) -> list[tuple[InputKind, str]]:
    """The agreement inputs of a task, (kind, argument-tuple source), without repeats."""
    found: list[tuple[InputKind, str]] = []
    seen: set[str] = set()

    def add(kind: InputKind, src: str) -> None:
        if src not in seen:
            seen.add(src)
            found.append((kind, src))

    for args in call_arguments(task):
        add(InputKind.TESTS, repr(args))
    scaled = [s for s in candidates(task)[0] if len(s) <= MAX_INPUT_CHARS]
    for src in scaled[:MAX_SCALED_INPUTS]:
        add(InputKind.SCALED, src)
    for src in list(strengthened)[:MAX_STRENGTHENED_INPUTS]:
        add(InputKind.STRENGTHENED, src)
    return found


def _tests_only(task: Task) -> Task:
    """`task` judged by its tests alone: without the reference, the sandbox adds nothing of
    its own (differential testing) to what the mutation score measures."""
    return dataclasses.replace(task, reference=None)


def _limited(task: Task, wall_s: float) -> Task:
    """`task` by its tests alone, with the mutants' time limit: a multiple of `wall_s`, the
    reference's own wall time for the same work in this run."""
    timeout = max(MUTANT_MIN_TIMEOUT_S, MUTANT_TIMEOUT_FACTOR * wall_s)
    return dataclasses.replace(_tests_only(task), timeout_s=min(task.timeout_s, timeout))


def _script_passed(execution: Execution, n: int) -> list[bool] | None:
    """Per agreement input, whether its script passed; None when the run broke before
    reporting every input (a timeout, a crash: which input did it is unknown)."""
    passed = [o.passed for o in execution.outcomes if o.name.startswith("script[")]
    return passed if len(passed) == n else None


# Agreement inputs are checked in two groups, so that a mutant that hangs or crashes the
# run on one group is not credited to the other.
_GROUPS = ((InputKind.TESTS, InputKind.SCALED), (InputKind.STRENGTHENED,))


def _validation_groups(offered: list[tuple[InputKind, str]]) -> list[list[int]]:
    """How the reference is checked against itself: the tests' own arguments together (the
    tests already run them), every scaled input alone (one that is too slow must not take
    the others with it), the strengthened ones together (differential testing kept only
    those on which the reference returned within budget)."""
    tests = [i for i, (kind, _) in enumerate(offered) if kind == InputKind.TESTS]
    scaled = [[i] for i, (kind, _) in enumerate(offered) if kind == InputKind.SCALED]
    strong = [i for i, (kind, _) in enumerate(offered) if kind == InputKind.STRENGTHENED]
    return [g for g in [tests, *scaled, strong] if g]


def strengthened_inputs(tasks: Sequence[Task], config: SandboxConfig = SandboxConfig(), *,
                        cancel: Callable[[], bool] | None = None) -> dict[str, list[str]]:
    """Differential testing's kept inputs of each task with a reference, as `measure_strength`'s
    `strengthened` (task id -> argument-tuple sources): those the execute stage would test
    samples on (`codealign.sandbox.inputs.synthesise_inputs`, made in the sandbox)."""
    from codealign.sandbox.inputs import synthesise_inputs

    inputs = synthesise_inputs(tasks, dataclasses.replace(config, differential=True), profile=False,
                               cancel=cancel)
    return {tid: [c.args for c in ti.diff.cases] for tid, ti in inputs.tasks.items()
            if ti.diff is not None and ti.diff.cases}


def measure_strength(tasks: Sequence[Task], config: SandboxConfig = SandboxConfig(), *,
                     strengthened: Mapping[str, Sequence[str]] | None = None,
                     references: Mapping[str, Execution] | None = None,
                     limit: int = MAX_MUTANTS, progress: bool = False,
                     cancel: Callable[[], bool] | None = None) -> list[TaskStrength]:
    """The test strength of each task, in order (see the module docstring).

    `strengthened` maps task ids to differential testing's inputs (argument-tuple
    sources); a task it names gets a `strengthened_score`. `references` holds executions
    of the references against their tests already made with `config` (by task id; the
    others are run here). Everything runs in the sandbox of `config`, in three batches:
    the references against their tests; the references against themselves on the
    agreement inputs, and the mutants against the tests; the surviving mutants against
    the kept agreement inputs. `cancel` is `run_many`'s: once it says so, the running
    executions finish and `Canceled` is raised (the service's validator yields to a new
    submitter that way).
    """
    strengthened = strengthened or {}
    scored = [t for t in tasks if t.reference]
    by_id = {t.task_id: t for t in scored}
    reference_code = {t.task_id: t.reference for t in scored if t.reference}

    def run(jobs: list[Job]) -> list[Execution]:
        return run_many(jobs, config, progress=progress, cancel=cancel) if jobs else []

    # 1. references against their tests: they must pass; their wall time sets the limits
    known = dict(references or {})
    todo = [tid for tid in by_id if tid not in known]
    known.update(zip(todo, run([Job(f"{tid}::reference", _tests_only(by_id[tid]),
                                    reference_code[tid]) for tid in todo])))
    references = {tid: known[tid] for tid in by_id}
    passing = [tid for tid in by_id if references[tid].sandbox_passed]
    limit_s = {tid: references[tid].cost.wall_s for tid in passing}

    # 2. the references against themselves on the agreement inputs (inputs on which the
    #    reference raises, runs past its limit or answers differently in two processes are
    #    dropped), and the mutants against the tests
    offered = {tid: _inputs(by_id[tid], strengthened.get(tid, ())) for tid in passing}
    checks = [(tid, group) for tid in passing for group in _validation_groups(offered[tid])]
    jobs = [Job(f"{tid}::reference-agreement[{n}]",
                _limited(agreement_task(by_id[tid], [offered[tid][i][1] for i in group]),
                         limit_s[tid]), reference_code[tid])
            for n, (tid, group) in enumerate(checks)]
    mutants = {tid: task_mutants(by_id[tid], limit) for tid in passing}
    keys = [(tid, k) for tid in passing for k in range(len(mutants[tid]))]
    jobs += [Job(f"{tid}::mutant[{k}]", _limited(by_id[tid], limit_s[tid]), mutants[tid][k].code)
             for tid, k in keys]
    second = run(jobs)
    kept: dict[str, list[tuple[InputKind, str]]] = {tid: [] for tid in by_id}
    spent: dict[str, float] = dict(limit_s)
    for (tid, group), check in zip(checks, second):
        passed = _script_passed(check, len(group)) or [False] * len(group)
        if any(passed):
            spent[tid] += check.cost.wall_s
        kept[tid] += [offered[tid][i] for i, ok in zip(group, passed) if ok]
    for tid in passing:   # back in the order offered
        kept[tid].sort(key=offered[tid].index)
    tested = dict(zip(keys, second[len(checks):]))

    # 3. survivors against the kept agreement inputs, one job per group of inputs
    agreement: dict[tuple[str, int], Task] = {}
    for tid in passing:
        for g, kinds in enumerate(_GROUPS):
            sources = [src for kind, src in kept[tid] if kind in kinds]
            if sources:
                agreement[tid, g] = _limited(agreement_task(by_id[tid], sources), spent[tid])
    runs = [(tid, k, g) for tid, k in keys if tested[tid, k].sandbox_passed
            for g in range(len(_GROUPS)) if (tid, g) in agreement]
    agreed = dict(zip(runs, run([Job(f"{tid}::mutant[{k}]::agreement[{g}]", agreement[tid, g],
                                     mutants[tid][k].code) for tid, k, g in runs])))

    out = []
    for t in tasks:
        if not t.reference:
            out.append(TaskStrength(t.task_id, why="no reference"))
            continue
        tid, ref = t.task_id, references[t.task_id]
        counts = {kind: sum(k == kind for k, _ in kept[tid])
                  for kind in (InputKind.TESTS, InputKind.SCALED, InputKind.STRENGTHENED)}
        given = counts[InputKind.STRENGTHENED] > 0
        if not ref.sandbox_passed:
            out.append(TaskStrength(tid, inputs=counts, strengthened=given,
                                    why=f"the reference does not pass its tests ({ref.status.value})"))
            continue
        results = [_result(mutants[tid][k], tested[tid, k], kept[tid],
                           [agreed.get((tid, k, g)) for g in range(len(_GROUPS))])
                   for k in range(len(mutants[tid]))]
        out.append(TaskStrength(tid, tuple(results), counts, given,
                                "" if results else "no mutant (nothing to edit)"))
    return out


def _result(mutant: Mutant, tested: Execution, kept: list[tuple[InputKind, str]],
            checks: list[Execution | None]) -> MutantResult:
    """One mutant's outcome from its run against the tests and its agreement runs (one per
    group of `_GROUPS`, None where the group had no input)."""
    if not tested.sandbox_passed:
        return MutantResult(mutant, tested.status, None, (tested.detail or tested.status.value)[:300])
    if all(run is None for run in checks):
        return MutantResult(mutant, tested.status, None,
                            "no agreement input to compare on: counted as not equivalent")
    kinds: list[InputKind] = []
    detail = ""
    for kinds_of_group, run in zip(_GROUPS, checks):
        if run is None:
            continue
        group = [(kind, src) for kind, src in kept if kind in kinds_of_group]
        passed = _script_passed(run, len(group))
        if passed is None:       # the run broke: every kind of the group is to blame
            bad = sorted({kind for kind, _ in group})
            why = f"{run.status.value}: {run.detail}"
        else:
            bad = [kind for (kind, _), ok in zip(group, passed) if not ok]
            first = next((i for i, ok in enumerate(passed) if not ok), None)
            why = "" if first is None else f"input {group[first][1][:120]}: {run.outcomes[first].detail}"
        kinds += [k for k in dict.fromkeys(bad) if k not in kinds]
        detail = detail or why[:300]
    return MutantResult(mutant, tested.status, tuple(kinds), detail)


def summary(strengths: Sequence[TaskStrength]) -> dict[str, Any]:
    """Scores across tasks: how many were scored, the pooled score (every scored task's
    mutants together), the per-task mean, median, 5th and 10th percentiles and minimum, and
    how many fall below `WEAK_TESTS_THRESHOLD`."""
    scores = sorted(s.score for s in strengths if s.score is not None)
    strong = sorted(s.strengthened_score for s in strengths if s.strengthened_score is not None)

    def stats(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"mean": None, "median": None, "p5": None, "p10": None, "min": None}
        return {"mean": sum(values) / len(values), "median": _quantile(values, 0.5),
                "p5": _quantile(values, 0.05), "p10": _quantile(values, 0.1), "min": values[0]}

    return {"tasks": len(strengths), "scored": len(scores),
            "mutants": sum(s.mutants for s in strengths),
            "killed": sum(s.killed for s in strengths),
            "likely_equivalent": sum(s.equivalent for s in strengths),
            "pooled_score": (sum(s.killed for s in strengths if s.score is not None)
                             / max(1, sum(s.non_equivalent for s in strengths if s.score is not None))),
            "tests": stats(scores), "strengthened": stats(strong),
            "weak": sum(x < WEAK_TESTS_THRESHOLD for x in scores),
            "threshold": WEAK_TESTS_THRESHOLD}


def _quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of sorted `values`, interpolated linearly."""
    pos = q * (len(values) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)
