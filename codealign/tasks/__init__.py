"""Coding tasks: the `Task` record and loaders for our JSONL, HumanEval and MBPP files."""

from codealign.tasks.loaders import (
    TASK_SETS,
    TaskFormat,
    TaskIndex,
    load_bank,
    load_humaneval,
    load_mbpp,
    load_mbpp_sanitized,
    load_tasks,
    resolve_spec,
)
from codealign.tasks.task import Task, reference_id

__all__ = [
    "Task",
    "reference_id",
    "TASK_SETS",
    "TaskFormat",
    "TaskIndex",
    "load_tasks",
    "load_bank",
    "load_humaneval",
    "load_mbpp",
    "load_mbpp_sanitized",
    "resolve_spec",
]
