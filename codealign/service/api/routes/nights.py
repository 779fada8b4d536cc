"""``GET /v1/nights``: the nightly lineage's history, oldest first, for the dashboard.

Each night is a `codealign.records.nights.NightRecord`: started, finished, status (a run's, or
``nothing-new``), how many times it was resumed, rounds, whether a round was promoted, the
held-out pass@1 and secure-rate deltas of the promoted round against the previous promoted
policy (each an `Interval`: value, 95% paired bootstrap bounds over tasks, from
`codealign.trainer.stats`), and the tasks added since the previous night.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from codealign.records.nights import NightRecord
from codealign.service.api.deps import ReadCaller, StateDep
from codealign.service.api.errors import PROBLEM_RESPONSES, Problem
from codealign.service.errors import NotFound

NOT_FOUND = {"model": Problem, "description": "No schedule yet"}
router = APIRouter(tags=["nights"])


class NightList(BaseModel):
    lineage: str
    nights: list[NightRecord]


@router.get("/v1/nights", response_model=NightList,
            responses={401: PROBLEM_RESPONSES[401], 404: NOT_FOUND})
def list_nights(_: ReadCaller, state: StateDep,
                lineage: Annotated[str | None, Query(description=(
                    "The lineage (a recipe's name); default: the schedule's."))] = None) -> NightList:
    """Every night of the lineage, oldest first."""
    from codealign.runs.nightly import night_records

    scheduler = state.scheduler
    lineage = lineage or scheduler.lineage()
    if lineage is None:
        raise NotFound("no nightly schedule, and no lineage given (?lineage=NAME)")
    return NightList(lineage=lineage, nights=night_records(scheduler.runtime.run_dir, lineage))
