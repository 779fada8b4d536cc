"""``GET /v1/schedule`` and ``PUT /v1/schedule``: the nightly job's cron (UTC), pause, recipe
and its overrides, with the next fire time and the last night.

The recipe is named like ``POST /v1/runs``'s: ``NAME`` is ``<configs_dir>/NAME.yaml``, and the
overrides are the same typed, bounded experiment knobs (`codealign.service.recipes.Overrides`):
an admin key chooses the schedule, never the infrastructure. A PUT changes only the fields it
gives and is checked whole (cron parsed, recipe loaded with its overrides) before anything is
stored: a bad edit is a 422 naming the field and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from codealign.service.api.deps import AdminCaller, ReadCaller, SettingsDep, StateDep
from codealign.service.api.errors import PROBLEM_RESPONSES, Problem
from codealign.service.errors import NotFound
from codealign.service.recipes import NAME, Overrides, recipe_path

NOT_FOUND = {"model": Problem, "description": "No schedule yet, or no such recipe"}
router = APIRouter(tags=["schedule"])


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, description="Five-field cron expression, in UTC.",
                             examples=["0 2 * * *"])
    paused: bool | None = None
    recipe: str | None = Field(default=None, pattern=NAME,
                               description="Recipe name: <configs_dir>/NAME.yaml.")
    overrides: Overrides | None = Field(default=None, description=(
        "The experiment knobs of each night, e.g. {\"rounds\": 1}; replaces the previous ones."))


class LastNight(BaseModel):
    night: int
    run: str | None
    status: str | None
    started_at: str | None
    finished_at: str | None


class SchedulePublic(BaseModel):
    cron: str
    paused: bool
    recipe: str
    overrides: Overrides
    lineage: str
    next_run: datetime | None
    last_run: LastNight | None
    runs_here: bool = Field(description="Whether this service process runs the jobs (one worker does).")


def _public(scheduler) -> SchedulePublic:
    from codealign.runs.nightly import list_nights, night_record

    current = scheduler.get()
    if current is None:
        raise NotFound("no nightly schedule yet: PUT /v1/schedule with a recipe")
    lineage = scheduler.lineage()
    nights = list_nights(scheduler.runtime.run_dir, lineage)
    last = None
    if nights:
        rec = night_record(nights[-1])
        last = LastNight(night=rec.night, run=rec.run, status=rec.status, started_at=rec.started_at,
                         finished_at=rec.finished_at)
    return SchedulePublic(cron=current.cron, paused=current.paused, recipe=Path(current.recipe).stem,
                          overrides=current.overrides, lineage=lineage, next_run=current.next_run,
                          last_run=last, runs_here=scheduler.owner)


@router.get("/v1/schedule", response_model=SchedulePublic,
            responses={401: PROBLEM_RESPONSES[401], 404: NOT_FOUND})
def get_schedule(_: ReadCaller, state: StateDep) -> SchedulePublic:
    """The nightly schedule, its next fire time (null when paused) and the last night."""
    return _public(state.scheduler)


@router.put("/v1/schedule", response_model=SchedulePublic,
            responses={401: PROBLEM_RESPONSES[401], 403: PROBLEM_RESPONSES[403], 404: NOT_FOUND,
                       422: PROBLEM_RESPONSES[422]})
def put_schedule(body: ScheduleUpdate, _: AdminCaller, state: StateDep,
                 settings: SettingsDep) -> SchedulePublic:
    """Create or change the schedule (admin). Fields left out keep their value; creating it
    needs a recipe (404 without one, or for a recipe that is not there)."""
    recipe = str(recipe_path(settings, body.recipe)) if body.recipe is not None else None
    if recipe is None and state.scheduler.get() is None:
        raise NotFound("no nightly schedule yet: PUT /v1/schedule with a recipe")
    overrides = body.overrides.model_dump(exclude_none=True) if body.overrides is not None else None
    state.scheduler.configure(cron=body.cron, recipe=recipe, overrides=overrides, paused=body.paused)
    return _public(state.scheduler)
