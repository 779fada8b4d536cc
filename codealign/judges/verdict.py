"""The records the judges produce: one `JudgeScore` per judge, one `Verdict` per sample.

A judge that crashed says so (`status="error"`, the exception text in `details["error"]`);
it never pretends to a value of 0, and whoever consumes the score (ranking, pairs) leaves
that sample out of every decision that needed the judge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from codealign.judges import rules
from codealign.sandbox.execution import Execution

__all__ = ["JudgeStatus", "JudgeScore", "Verdict"]


class JudgeStatus(str, enum.Enum):
    """Whether the judge itself worked (not whether the code is good)."""

    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True)
class JudgeScore:
    """One judge's opinion of one sample.

    `value` is the judge's headline number (its direction is documented by each judge;
    None when `status` is ERROR); `details` holds the figures it was computed from.
    """

    name: str
    value: float | None
    status: JudgeStatus = JudgeStatus.OK
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JudgeStatus(self.status))
        if self.status is JudgeStatus.OK and self.value is None:
            raise ValueError(f"judge {self.name!r}: an ok score needs a value")

    @property
    def ok(self) -> bool:
        return self.status is JudgeStatus.OK

    @property
    def number(self) -> float:
        """`value` of an ok score (what `Verdict.score` returns); an error score has none."""
        if self.value is None:
            raise ValueError(f"judge {self.name!r} could not judge: its score has no value")
        return self.value

    @classmethod
    def error(cls, name: str, exc: BaseException | str, **details: Any) -> "JudgeScore":
        """The record of a judge that could not judge: never a score of 0."""
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return cls(name, None, JudgeStatus.ERROR, {"error": text, **details})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "status": self.status.value,
                "details": self.details}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JudgeScore":
        return cls(d["name"], d.get("value"), JudgeStatus(d.get("status", "ok")),
                   dict(d.get("details", {})))


@dataclass(frozen=True)
class Verdict:
    """Everything known about one sample after judging.

    `rank` is the 1-based position among the samples of the same task (1 = best; None
    before ranking); `explanation` says in words why it sits there.
    """

    sample_id: str
    task_id: str
    code: str
    execution: Execution
    scores: dict[str, JudgeScore] = field(default_factory=dict)
    rank: int | None = None
    explanation: str = ""

    @property
    def tampered(self) -> bool:
        """`codealign.judges.rules.is_tampered` of this sample."""
        return rules.is_tampered(self.execution, self.scores.get("tamper"))

    @property
    def passed(self) -> bool:
        """Passed every test honestly (`codealign.judges.rules.passed_honestly`)."""
        return rules.passed_honestly(self.execution, self.scores.get("tamper"))

    @property
    def secure(self) -> bool | None:
        """True secure, False insecure, None unknown (`codealign.judges.rules.security_class`)."""
        return rules.security_class(self.scores.get("security"))

    def score(self, name: str) -> JudgeScore | None:
        """The named judge's score when it worked, else None."""
        s = self.scores.get(name)
        return s if s is not None and s.ok else None

    def to_dict(self) -> dict[str, Any]:
        return {"sample_id": self.sample_id, "task_id": self.task_id, "rank": self.rank,
                "explanation": self.explanation,
                "scores": {k: v.to_dict() for k, v in self.scores.items()},
                "execution": self.execution.to_dict(), "code": self.code}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        return cls(d["sample_id"], d["task_id"], d["code"], Execution.from_dict(d["execution"]),
                   {k: JudgeScore.from_dict(v) for k, v in d.get("scores", {}).items()},
                   d.get("rank"), d.get("explanation", ""))
