"""``GET /v1/metrics/pass-rates``: per-task and overall pass@1 / pass@k of two rounds of a run,
with deltas (paired bootstrap over tasks, `codealign.trainer.stats`) and flips
(`codealign.records.Flip`: fixed = fail→pass, broken = pass→fail) — the dashboard's data source. JSON, or CSV (one row per task) with ``format=csv`` or
``Accept: text/csv``."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from codealign.records import Flip, TaskResult
from codealign.service.api.deps import ReadCaller, SettingsDep
from codealign.service.api.errors import PROBLEM_RESPONSES
from codealign.service.api.routes.runs import NAME, _reader, _round_record
from codealign.trainer.stats import Interval

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])


class TaskRates(BaseModel):
    task_id: str
    side: str
    base_samples: int | None
    base_pass_at_1: float | None
    base_pass_at_k: float | None
    round_samples: int | None
    round_pass_at_1: float | None
    round_pass_at_k: float | None
    delta_pass_at_1: float | None
    flip: Flip | None


class Overall(BaseModel):
    base_pass_at_1: float | None
    round_pass_at_1: float | None
    base_pass_at_k: float | None
    round_pass_at_k: float | None
    delta_pass_at_1: Interval
    delta_pass_at_k: Interval
    fixed: int
    broken: int


class PassRates(BaseModel):
    run: str
    base: int
    round: int
    side: str
    k: int
    tasks: list[TaskRates]
    overall: Overall


def _rates(results: list[TaskResult], side: str, k: int) -> dict[str, tuple[int, float, float]]:
    from codealign.trainer.evaluate import pass_at_k

    return {r.task_id: (r.samples, r.passed / r.samples, pass_at_k(r.samples, r.passed, min(k, r.samples)))
            for r in results if r.side == side and r.samples}


@router.get("/pass-rates", response_model=PassRates,
            responses={200: {"content": {"text/csv": {}}}, 404: PROBLEM_RESPONSES[404]})
def pass_rates(request: Request, settings: SettingsDep, _: ReadCaller,
               run: Annotated[str, Query(pattern=NAME)],
               round: Annotated[int, Query(ge=0, le=100_000)],
               base: Annotated[int, Query(ge=0, le=100_000)] = 0,
               side: Literal["heldout", "train"] = "heldout",
               k: Annotated[int | None, Query(ge=1, le=1000, description="Default: the run's largest k.")] = None,
               format: Literal["json", "csv"] | None = None):
    """Per-task pass@1/pass@k of rounds `base` and `round`, Δ with 95% bootstrap intervals over
    tasks, and flips (fixed: no pass -> some pass; broken: the reverse)."""
    from codealign.trainer.evaluate import mean
    from codealign.trainer.stats import delta_mean

    reader = _reader(settings, run)
    for r in (base, round):
        _round_record(reader, run, r)
    if k is None:
        k = max(reader.config().get("evaluation", {}).get("k", [1]) or [1])
    a = _rates(reader.task_results(base), side, k)
    b = _rates(reader.task_results(round), side, k)
    rows = []
    for task_id in sorted(set(a) | set(b)):
        ra, rb = a.get(task_id), b.get(task_id)
        rows.append(TaskRates(task_id=task_id, side=side,
                              base_samples=ra[0] if ra else None, base_pass_at_1=ra[1] if ra else None,
                              base_pass_at_k=ra[2] if ra else None,
                              round_samples=rb[0] if rb else None, round_pass_at_1=rb[1] if rb else None,
                              round_pass_at_k=rb[2] if rb else None,
                              delta_pass_at_1=rb[1] - ra[1] if ra and rb else None,
                              flip=Flip.between(ra[1], rb[1]) if ra and rb else None))
    overall = Overall(
        base_pass_at_1=mean([v[1] for v in a.values()]), round_pass_at_1=mean([v[1] for v in b.values()]),
        base_pass_at_k=mean([v[2] for v in a.values()]), round_pass_at_k=mean([v[2] for v in b.values()]),
        delta_pass_at_1=delta_mean({t: v[1] for t, v in a.items()},
                                                 {t: v[1] for t, v in b.items()}),
        delta_pass_at_k=delta_mean({t: v[2] for t, v in a.items()},
                                                 {t: v[2] for t, v in b.items()}),
        fixed=sum(r.flip is Flip.FIXED for r in rows), broken=sum(r.flip is Flip.BROKEN for r in rows))
    result = PassRates(run=run, base=base, round=round, side=side, k=k, tasks=rows, overall=overall)
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if not wants_csv:
        return result
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(TaskRates.model_fields))
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump(mode="json"))
    return Response(buffer.getvalue(), media_type="text/csv")
