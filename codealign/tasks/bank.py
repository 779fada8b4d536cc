"""The built-in habit bank: small original tasks whose bad answers are a few named *habits*.

Every task lives in its own file, ``data/bank/<entry_point>.toml`` (task id
``bank/<entry_point>``)::

    tags = ["strings", "habit:split-space"]      # a topic, then the habit (or counter:<habit>)
    perf_inputs = ["('a  b ' * 3000,)"]          # argument tuples for the efficiency judge
    input_check = '''def input_check(text): ...'''  # optional: the valid inputs (differential tests)
    prompt = '''def count_words(text): <docstring>'''  # what the model continues (no final newline)
    tests = '''assert count_words('a  b') == 2'''  # trusted asserts

    [[variants]]                                  # labelled completions of the prompt
    kind = "clean"
    completion = '''\n    return len(text.split())'''

    [[variants]]
    kind = "wrong"
    habit = "split-space"
    completion = '''\n    return len(text.split(" "))'''

Prompts end at the docstring's closing quotes and completions start with the newline: a
byte-level BPE merges a newline with the indentation that follows, so a prompt ending in a
newline tokenizes differently alone (as the generator samples it) and joined to its
completion (as TRL's DPO trains it) — every pair would be learnt at a shifted boundary.

A *habit* (:data:`HABITS`) is one recurring way of writing bad code, written the same way in
every task that has it: most habits are a textual rewrite of the clean variant
(:meth:`Habit.apply`; ``tests/tasks/test_bank.py`` checks every such variant is exactly that
rewrite), the two others (``shell-true``, ``exp-recursion``) keep one shape by hand. Each
habit is of one kind: *wrong* (fails a test), *insecure* (passes; bandit reports medium or
high severity) or *slow* (passes; more work on the perf inputs). Some make the code shorter
than the clean answer, some longer, so that a preference for short or long answers cannot
explain a change in a habit's rate. A few *counter-example* tasks (tag ``counter:<habit>``)
are the other way round: there the habit's surface form is the correct code and the usual
fix fails.

``data/bank.jsonl`` is the task records only, compiled from the folder for the task loaders
(``load_tasks("bank")``); ``python -m codealign.tasks.bank`` rewrites it and a test checks
it is current. The variants are the seed policy's corpus (:mod:`codealign.demo.seed`).
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codealign.errors import InputError
from codealign.jsonl import write_jsonl
from codealign.tasks.task import Task

__all__ = ["BANK_DIR", "BANK_PATH", "TASKS_DIR", "VariantKind", "Variant", "Habit", "HABITS",
           "HABIT_TAG", "COUNTER_TAG", "habit_of", "counter_of", "load_bank", "load_variants",
           "write_bank"]

BANK_DIR = Path(__file__).resolve().parent / "data"
BANK_PATH = BANK_DIR / "bank.jsonl"
TASKS_DIR = BANK_DIR / "bank"
HABIT_TAG = "habit:"
COUNTER_TAG = "counter:"
TOPICS = ("strings", "lists", "dicts", "arithmetic", "parsing", "search")


class VariantKind(str, enum.Enum):
    """What a seed completion is, and so what the judges should find in it."""

    CLEAN = "clean"            # passes the tests, efficient, no bandit finding of note
    SLOW = "slow"              # passes, but does clearly more work on the task's perf inputs
    INSECURE = "insecure"      # passes, but bandit reports a medium or high severity issue
    WRONG = "wrong"            # fails at least one test

    @property
    def passes_tests(self) -> bool:
        return self is not VariantKind.WRONG


def _sub(pattern: str, replacement: str, count: int = 0) -> Callable[[str], str]:
    compiled = re.compile(pattern, re.MULTILINE)
    return lambda code: compiled.sub(replacement, code, count=count)


def _chain(*steps: Callable[[str], str]) -> Callable[[str], str]:
    def run(code: str) -> str:
        for step in steps:
            code = step(code)
        return code
    return run


@dataclass(frozen=True)
class Habit:
    """A named bad habit: its kind, what it is, and (for most) the rewrite of a clean answer
    that produces it."""

    name: str
    kind: VariantKind
    description: str
    rewrite: Callable[[str], str] | None = None

    def apply(self, clean: str) -> str | None:
        """The habit's version of a clean completion, or None when written by hand.

        >>> HABITS["split-space"].apply("    return len(text.split())\\n")
        '    return len(text.split(" "))\\n'
        """
        return None if self.rewrite is None else self.rewrite(clean)


_HABIT_LIST = [
    Habit("no-empty-guard", VariantKind.WRONG,
          "drops the `if not items: return <default>` guard, so empty input crashes (shorter)",
          _sub(r"^    if not items:\n        return [^\n]*\n", "", 1)),
    Habit("off-by-one", VariantKind.WRONG,
          "`range(1, n)` where `range(1, n + 1)` was meant: the last number is left out",
          _sub(r"range\(1, n \+ 1\)", "range(1, n)")),
    Habit("split-space", VariantKind.WRONG,
          "`split(\" \")` where `split()` was meant: runs of spaces give empty words (longer)",
          _sub(r"\.split\(\)", '.split(" ")')),
    Habit("inplace-return", VariantKind.WRONG,
          "returns the result of the in-place `sort()` (None) instead of the sorted list (shorter)",
          _sub(r"^    result\.sort\((.*)\)\n    return result\n", r"    return result.sort(\1)\n")),
    Habit("true-division", VariantKind.WRONG,
          "`/` where integer division `//` was meant: a float where an int is needed (shorter)",
          _sub(r"//", "/")),
    Habit("no-strip", VariantKind.WRONG,
          "leaves out `.strip()`, so surrounding whitespace or a newline stays in (shorter)",
          _sub(r"\.strip\(\)", "")),
    Habit("no-lower", VariantKind.WRONG,
          "leaves out `.lower()` in a case-insensitive comparison (shorter)",
          _sub(r"\.lower\(\)", "")),
    Habit("eval", VariantKind.INSECURE,
          "`eval` on input instead of `ast.literal_eval` (shorter: no import)",
          _chain(_sub(r"^    import ast\n", ""), _sub(r"ast\.literal_eval\(", "eval("))),
    Habit("shell-true", VariantKind.INSECURE,
          "`subprocess.run(f\"...\", shell=True)` instead of an argument list (written by hand)"),
    Habit("weak-hash", VariantKind.INSECURE,
          "`hashlib.md5` where `hashlib.sha256` is needed for a secret or an integrity check",
          _sub(r"hashlib\.sha256\(", "hashlib.md5(")),
    Habit("pickle-copy", VariantKind.INSECURE,
          "a `pickle.loads(pickle.dumps(x))` round trip instead of `copy.deepcopy(x)` (longer)",
          _chain(_sub(r"^    import copy\n", "    import pickle\n"),
                 _sub(r"copy\.deepcopy\((\w+)\)", r"pickle.loads(pickle.dumps(\1))"))),
    Habit("mktemp", VariantKind.INSECURE,
          "`tempfile.mktemp()` + `open` instead of `tempfile.mkstemp()` + `os.fdopen` (shorter)",
          _chain(_sub(r"fd, path = tempfile\.mkstemp\(\)", "path = tempfile.mktemp()"),
                 _sub(r"os\.fdopen\(fd, ", "open(path, "))),
    Habit("exp-recursion", VariantKind.SLOW,
          "the naive double recursion instead of a loop: exponential work (shorter; by hand)"),
    Habit("str-concat", VariantKind.SLOW,
          "a `result += item` loop instead of `\"\".join(...)` (longer)",
          _sub(r'^    return "".join\((.*)\)\n',
               '    result = ""\n    for item in \\1:\n        result += item\n    return result\n')),
    Habit("list-membership", VariantKind.SLOW,
          "membership tests on a list (`seen = []`) instead of a set: quadratic time",
          _chain(_sub(r"seen = set\(\)", "seen = []"), _sub(r"seen\.add\(", "seen.append("))),
]
HABITS: dict[str, Habit] = {h.name: h for h in _HABIT_LIST}
"""The habits by name, in the order the demo reports them."""


def habit_of(tags) -> str | None:
    """The habit a task's tags name (``habit:<name>``), if any."""
    return next((t[len(HABIT_TAG):] for t in tags if t.startswith(HABIT_TAG)), None)


def counter_of(tags) -> str | None:
    """The habit a counter-example task is about (``counter:<name>``), if any."""
    return next((t[len(COUNTER_TAG):] for t in tags if t.startswith(COUNTER_TAG)), None)


@dataclass(frozen=True)
class Variant:
    """One seed completion for a bank task: ``task.program(completion)`` is the module."""

    task_id: str
    kind: VariantKind
    completion: str
    habit: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"task_id": self.task_id, "kind": self.kind.value, "completion": self.completion,
                "habit": self.habit}


def _read_task(path: Path) -> tuple[Task, list[Variant]]:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=where) from None
    for name in ("prompt", "tests"):
        if not isinstance(data.get(name), str):
            raise InputError("missing or not a string", path=where, field=name)
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not any(t in TOPICS for t in tags):
        raise InputError(f"tags must be a list with a topic from {TOPICS}, got {tags!r}",
                         path=where, field="tags")
    habit, counter = habit_of(tags), counter_of(tags)
    for name in (habit, counter):
        if name is not None and name not in HABITS:
            raise InputError(f"unknown habit {name!r} (known: {list(HABITS)})", path=where, field="tags")
    task_id = f"bank/{path.stem}"
    variants = []
    for i, v in enumerate(data.get("variants", [])):
        field = f"variants[{i}]"
        if not isinstance(v.get("completion"), str):
            raise InputError("missing or not a string", path=where, field=f"{field}.completion")
        try:
            kind = VariantKind(v.get("kind"))
        except ValueError:
            raise InputError(f"unknown kind {v.get('kind')!r}; expected one of "
                             f"{[k.value for k in VariantKind]}", path=where, field=f"{field}.kind") from None
        if v.get("habit") is not None and v["habit"] != habit:
            raise InputError(f"habit {v['habit']!r} is not the task's habit {habit!r}",
                             path=where, field=f"{field}.habit")
        if v.get("habit") is not None and HABITS[habit].kind is not kind:
            raise InputError(f"a {habit} variant is {HABITS[habit].kind.value}, not {kind.value}",
                             path=where, field=f"{field}.kind")
        variants.append(Variant(task_id, kind, v["completion"], v.get("habit")))
    clean = [v for v in variants if v.kind is VariantKind.CLEAN]
    if not clean:
        raise InputError("a task needs at least one clean variant", path=where, field="variants")
    if habit is not None and not any(v.habit == habit for v in variants):
        raise InputError(f"tagged {HABIT_TAG}{habit} but has no variant with that habit",
                         path=where, field="variants")
    kind_tag = [] if habit is None else [f"{HABITS[habit].kind.value}-trap"]
    try:
        task = Task(task_id=task_id, prompt=data["prompt"], entry_point=path.stem, tests=data["tests"],
                    prompt_style="code", reference=data["prompt"] + clean[0].completion,
                    perf_inputs=tuple(data.get("perf_inputs", ())), input_check=data.get("input_check"),
                    tags=tuple(tags + kind_tag),
                    timeout_s=float(data.get("timeout_s", 10.0)), source="bank")
    except InputError as exc:
        raise InputError(exc.reason, path=where, field=exc.field) from None
    return task, variants


def load_bank(folder: str | Path = TASKS_DIR) -> tuple[list[Task], list[Variant]]:
    """Every task of the folder (sorted by id) and their variants, in the same order."""
    tasks, variants = [], []
    for path in sorted(Path(folder).glob("*.toml")):
        task, task_variants = _read_task(path)
        tasks.append(task)
        variants += task_variants
    if not tasks:
        raise InputError("no task files (*.toml) found", path=str(folder))
    return tasks, variants


def load_variants(folder: str | Path = TASKS_DIR) -> list[Variant]:
    """The seed completions of every bank task, task by task."""
    return load_bank(folder)[1]


def write_bank(folder: str | Path = TASKS_DIR, path: str | Path = BANK_PATH) -> int:
    """Compile the task files into the JSONL file the task loaders read; returns the count."""
    tasks, _ = load_bank(folder)
    write_jsonl(path, (t.to_dict() for t in tasks))
    return len(tasks)


if __name__ == "__main__":
    print(f"wrote {write_bank()} tasks to {BANK_PATH}")
