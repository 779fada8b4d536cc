"""The round record: one line of ``rounds.jsonl`` per decided round, and its parts.

``rounds.jsonl`` is rebuilt from the stage manifests (`codealign.runs.rounds`); each line is a
`RoundRecord` of schema `ROUNDS_SCHEMA`. Version 1 is the same layout without the
``schema_version`` key and without the keys a round does not have (round 0's ``gate``,
``train``, ...); it reads as version 2. A line of any other version is refused with a message
naming it.

Round 0 is the starting policy (status ``baseline``: the base model, or the adapter a lineage
starts from) evaluated on the held-out tasks; round k >= 1 is sample → execute → judge → train
→ evaluate → gate. Costs are in the unit the evaluation names (``cost_unit``: ``s``, seconds of
`codealign.judges.efficiency.cost_s`); `format_cost` writes them for people.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from codealign.errors import InputError
from codealign.records.codec import Record

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

    from codealign.trainer.gate import GateDecision

__all__ = ["ROUNDS_SCHEMA", "RoundStatus", "RoundMetrics", "TrainSummary", "Lineage", "RoundArtifacts",
           "RoundDecision", "RoundRecord", "parse_round", "last_promoted", "format_cost"]

ROUNDS_SCHEMA = 2
"""The schema version `RoundRecord` writes; 1 (no ``schema_version`` key) reads as this one."""
_READS = (1, 2)


class RoundStatus(enum.StrEnum):
    """What became of a round's policy."""

    BASELINE = "baseline"      # round 0: the starting policy
    PROMOTED = "promoted"      # the gate kept it: the next round starts from it
    REJECTED = "rejected"      # the gate did not: the next round starts from the incumbent


@dataclass(frozen=True, kw_only=True)
class RoundMetrics(Record):
    """A policy's figures on the held-out tasks (`codealign.trainer.evaluate.EvalReport`)."""

    pass_at_1: Annotated[float | None, Field(alias="pass@1")]
    """Mean over tasks of the unbiased pass@1 (None when the evaluation's k leaves 1 out)."""
    pass_at_k: Annotated[dict[str, float], Field(alias="pass@k")]
    """pass@k by k (``"1"``, ``"5"``, ...): the mean over tasks."""
    secure_rate: float | None
    """Share of passing samples with no medium/high bandit finding (None: nothing passed)."""
    secure_pass_rate: float
    """Secure passing samples over all samples."""
    mean_cost: float | None
    """Mean cost of the passing samples, in `cost_unit` (None: nothing passed or measured)."""
    cost_unit: str
    """``s``: seconds (`codealign.judges.efficiency.cost_s`); runs made before it: ``ops``."""
    mean_tokens: float
    """Mean completion length in tokens, over all samples."""
    samples: int
    """Samples scored (a sample whose sandbox was lost is not)."""

    @classmethod
    def from_evaluation(cls, summary: Mapping[str, Any]) -> RoundMetrics:
        """The figures of the evaluate stage's summary (`EvalReport.headline`)."""
        return cls(pass_at_1=summary["pass@1"], pass_at_k=summary["pass_at"],
                   secure_rate=summary["secure_rate"], secure_pass_rate=summary["secure_pass_rate"],
                   mean_cost=summary["mean_cost"], cost_unit=summary["cost_unit"],
                   mean_tokens=summary["mean_tokens"], samples=summary["samples"])


@dataclass(frozen=True, kw_only=True)
class TrainSummary(Record):
    """What the round's DPO training did (`codealign.trainer.dpo.TrainResult`, in brief)."""

    skipped: str | None = None
    """Why nothing was trained (no preference pairs), or None."""
    steps: int | None = None
    stopped_early: bool | None = None
    stop_reason: str | None = None
    """The collapse guard's reason when it stopped training early ("" when it did not)."""
    reference: str | None = None
    """The DPO reference: ``base`` (the adapter-disabled model) or ``previous`` (the policy's adapter)."""
    pairs: int | None = None
    train_tokens: int | None = None
    last: dict[str, float] = field(default_factory=dict)
    """The trainer's last logged figures (rewards/*, logps/*, loss, chosen_logp_change, drift)."""

    @classmethod
    def from_train(cls, result: Mapping[str, Any]) -> TrainSummary:
        """The summary of the train stage's result (its machine figures, speed and device, left out)."""
        return cls(**{k: v for k, v in result.items() if k not in ("tokens_per_s", "device", "training_set")})


@dataclass(frozen=True, kw_only=True)
class Lineage(Record):
    """Where round 0's policy came from, for a run that continues another."""

    parent_run: str | None
    """The parent run's directory (None: an ``initial_policy`` adapter)."""
    parent_round: int | None
    """The parent's last promoted round (0: the parent promoted nothing)."""
    adapter_hash: str | None
    """Content hash of the adapter copied into the run (None: the base model)."""


@dataclass(frozen=True, kw_only=True)
class RoundArtifacts(Record):
    """The round's files, relative to the run directory (None: the stage wrote none)."""

    samples: str | None = None
    executions: str | None = None
    verdicts: str | None = None
    pairs: str | None = None
    adapter: str | None = None
    train_metrics: str | None = None
    eval_report: str | None = None
    decision: str | None = None


@dataclass(frozen=True)
class RoundDecision:
    """The gate's decision on a round (``round-k/gate/decision.json``): the gate's own
    `codealign.trainer.gate.GateDecision` (which names the round it was compared with), an
    opaque typed sub-record here (its ``to_dict`` form, with at least ``status``, ``reason``
    and ``incumbent_round``). A decision of an older schema is written back as it was read
    (`legacy`): readers never rename or drop the keys of a published record."""

    decision: GateDecision
    legacy: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def promoted(self) -> bool:
        return self.decision.promoted

    @property
    def status(self) -> RoundStatus:
        return RoundStatus(self.decision.status)

    @property
    def reason(self) -> str:
        return self.decision.reason

    @property
    def incumbent_round(self) -> int:
        return self.decision.incumbent_round

    def to_dict(self) -> dict[str, Any]:
        return dict(self.legacy) if self.legacy is not None else self.decision.to_dict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoundDecision:
        from codealign.trainer.gate import GateDecision

        try:
            decision = GateDecision.from_dict(data)
            return cls(decision, None if data.get("schema") == GateDecision.SCHEMA else dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a gate decision: {exc}", field="gate") from None

    @classmethod
    def _validate(cls, value: Any) -> RoundDecision:
        if isinstance(value, RoundDecision):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a gate decision is an object, got {type(value).__name__}")
        try:
            return cls.from_dict(value)
        except InputError as exc:
            raise ValueError(exc.reason) from None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(cls.to_dict))

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "object", "title": "RoundDecision", "additionalProperties": True,
                "description": "The gate's decision (codealign.trainer.gate.GateDecision) and the "
                               "round it was compared with.",
                "properties": {"status": {"enum": [RoundStatus.PROMOTED.value, RoundStatus.REJECTED.value]},
                               "reason": {"type": "string"}, "incumbent_round": {"type": "integer"}},
                "required": ["status", "reason", "incumbent_round"]}


@dataclass(frozen=True, kw_only=True)
class RoundRecord(Record):
    """One decided round, as ``rounds.jsonl`` holds it."""

    schema_version: int = ROUNDS_SCHEMA
    round: int
    policy: str
    """The policy this round made (``round-k``; round 0: ``base`` or the lineage's policy)."""
    status: RoundStatus
    metrics: RoundMetrics | None
    """The policy's held-out figures (None: not evaluated, because nothing was trained)."""
    artifacts: RoundArtifacts
    started_from: str | None = None
    """The policy the round sampled from and trained on (round 0: None)."""
    reason: str = ""
    """The gate's reason in words (round 0: empty)."""
    gate: RoundDecision | None = None
    samples: int | None = None
    """Samples drawn on the train tasks."""
    pairs: int | None = None
    """Preference pairs built from them."""
    pairs_by_reason: dict[str, int] | None = None
    train: TrainSummary | None = None
    lineage: Lineage | None = None
    """Round 0 of a run that continues another: where its policy came from."""

    @property
    def incumbent_round(self) -> int | None:
        """The round this one was compared with (round 0: None)."""
        return None if self.gate is None else self.gate.incumbent_round

    @property
    def trained(self) -> bool:
        return bool(self.train is not None and self.train.steps)


def parse_round(data: Mapping[str, Any], *, path: str | None = None, line: int | None = None) -> RoundRecord:
    """A ``rounds.jsonl`` line as a `RoundRecord`: schema 1 and 2 read; any other version is
    refused (an `InputError` naming the file, line and version)."""
    version = data.get("schema_version", 1)
    if version not in _READS:
        raise InputError(f"written with round schema version {version!r}; this codealign reads versions "
                         f"{', '.join(map(str, _READS))} (a newer codealign wrote it?)",
                         path=path, line=line, field="schema_version")
    return RoundRecord.from_dict({**data, "schema_version": ROUNDS_SCHEMA}, path=path, line=line)


def last_promoted(rounds: Sequence[RoundRecord]) -> RoundRecord | None:
    """The last promoted round: the policy a run ended with (None: it promoted nothing, its
    policy is round 0's)."""
    return next((r for r in reversed(rounds) if r.status is RoundStatus.PROMOTED), None)


def format_cost(value: float, unit: str) -> str:
    """A cost as it reads for people: seconds as microseconds (costs are a few µs to ms);
    other units (runs made before the combined cost) as they are.

    >>> format_cost(0.0017615, "s"), format_cost(2.5e-06, "s"), format_cost(491194.0, "ops")
    ('1,761.5 µs', '2.5 µs', '491,194 ops')
    """
    if unit == "s":
        return f"{value * 1e6:,.1f} µs"
    return f"{value:.1f} {unit}" if abs(value) < 1e4 else f"{value:,.0f} {unit}"
