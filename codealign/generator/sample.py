"""The Sample record: one completion drawn from a policy for a task."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from codealign.errors import InputError

__all__ = ["Sample"]


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
