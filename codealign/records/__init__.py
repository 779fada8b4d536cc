"""The published records after the judge stage: typed, frozen, versioned, one serializer.

Written by the stages, returned by `codealign.runs.RunReader`, served by the API as its
response models (so the OpenAPI schema documents them), read by the dashboard, the static
report and the demo under their own names::

    rounds.jsonl                    RoundRecord  (RoundMetrics, RoundDecision, TrainSummary,
                                                  RoundArtifacts, Lineage)     records.rounds
    round-k/evaluate/outcomes.jsonl OutcomeRow (Failure)                       records.results
    RunReader.task_results(k)       TaskResult (Disagreement); Flip            records.results
    round-k/judge/pairs.jsonl       PairRow (PairVerdict, PairProvenance)      records.results,
                                                                               records.provenance
    round-k/sample/allocation.json  Allocation (TaskAllocation, TaskState)     records.allocation
    round-k/train/pairs.jsonl       TrainingPair (PairRow, PairOrigin)         records.training
    round-k/train/replay.jsonl      ReplayCheck                                records.training
    round-k/rejudge-*/report.json   RejudgeReport (PairChange, SampleChange)   records.rejudge
    night.json, GET /v1/nights      Night, NightRecord                         records.nights

`RoundRecord.to_dict()` is a line of the file and the API's JSON; `from_dict` (or
`parse_round`, which also reads schema version 1) validates one. `codealign.records.nights`
is imported on its own (it loads numpy through `codealign.trainer.stats`).
"""

from codealign.records.allocation import (Allocation, AllocationMode, AllocationSummary, TaskAllocation,
                                          TaskState)
from codealign.records.codec import Record, load_list
from codealign.records.results import (Disagreement, Failure, Flip, OutcomeRow, PairRow, PairVerdict, Side,
                                       TaskResult)
from codealign.records.training import PairOrigin, ReplayCheck, TrainingPair, TrainingSetSummary
from codealign.records.rounds import (ROUNDS_SCHEMA, Lineage, RoundArtifacts, RoundDecision, RoundMetrics,
                                      RoundRecord, RoundStatus, TrainSummary, format_cost, last_promoted,
                                      parse_round)

__all__ = ["Record", "load_list", "ROUNDS_SCHEMA", "RoundStatus", "RoundMetrics", "TrainSummary", "Lineage",
           "RoundArtifacts", "RoundDecision", "RoundRecord", "parse_round", "last_promoted", "format_cost",
           "Side", "Failure", "Disagreement", "OutcomeRow", "TaskResult", "Flip", "PairVerdict", "PairRow",
           "AllocationMode", "TaskState", "TaskAllocation", "Allocation", "AllocationSummary",
           "PairOrigin", "TrainingPair", "ReplayCheck", "TrainingSetSummary"]
