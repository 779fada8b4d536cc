"""The Sample record: one completion drawn from a policy for a task."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
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
    """

    task_id: str
    sample_id: str
    code: str
    completion: str = ""
    round: int = 0
    policy: str = ""
    tokens: int = 0
    finish_reason: str = "stop"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Sample":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown field(s) {unknown}", field=unknown[0])
        return cls(**d)


def read_sample_lines(path: str, tasks: Sequence["Task"]) -> list[Sample]:
    """Read a samples JSONL file (the input of `codealign exec` and `codealign judge`).

    Each line is a Sample record, or a shorter form: ``{"task_id", "sample_id"?, "code"}``
    or ``{"task_id", "sample_id"?, "completion"}`` (the completion is appended to the task
    prompt as the model would continue it: ``Task.program(completion)``). A missing
    sample_id becomes ``"<task_id>#<n>"`` (n-th sample of that task in the file). Raises
    `InputError` naming the file, line and field of the first bad line.
    """
    from codealign.jsonl import read_jsonl

    by_id = {t.task_id: t for t in tasks}
    names = {f.name for f in dataclasses.fields(Sample)}
    samples: list[Sample] = []
    seen: set[str] = set()
    per_task: dict[str, int] = {}
    for line, d in read_jsonl(path):
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown field(s) {unknown}", path=str(path), line=line,
                             field=unknown[0])
        task_id = d.get("task_id")
        if not isinstance(task_id, str) or task_id not in by_id:
            raise InputError(f"unknown task {task_id!r}", path=str(path), line=line,
                             field="task_id")
        code, completion = d.get("code"), d.get("completion")
        if code is None and completion is None:
            raise InputError("needs 'code' or 'completion'", path=str(path), line=line,
                             field="code")
        for field_name, value in (("code", code), ("completion", completion)):
            if value is not None and not isinstance(value, str):
                raise InputError(f"must be a string, got {type(value).__name__}",
                                 path=str(path), line=line, field=field_name)
        per_task[task_id] = per_task.get(task_id, 0) + 1
        record = dict(d)
        record.setdefault("sample_id", f"{task_id}#{per_task[task_id]}")
        if code is None:
            record["code"] = by_id[task_id].program(completion)
        if not isinstance(record["sample_id"], str) or record["sample_id"] in seen:
            raise InputError(f"duplicate or invalid sample_id {record['sample_id']!r}",
                             path=str(path), line=line, field="sample_id")
        seen.add(record["sample_id"])
        try:
            samples.append(Sample.from_dict(record))
        except TypeError as exc:
            raise InputError(str(exc), path=str(path), line=line) from exc
    return samples
