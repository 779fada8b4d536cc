"""``GET /v1/metrics/pass-rates``: per-task and overall pass@1 / pass@k of two rounds of a run,
with deltas (paired bootstrap over tasks, `codealign.trainer.stats`) and flips — the
dashboard's data source. JSON, or CSV (one row per task) with ``format=csv`` or
``Accept: text/csv``."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

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
    flip: Literal["fixed", "broken", "none"] | None


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


def _rates(results: list[dict[str, Any]], side: str, k: int) -> dict[str, tuple[int, float, float]]:
    from codealign.trainer.evaluate import pass_at_k

    out = {}
    for r in results:
        if r.get("side") != side or not r.get("samples"):
            continue
        n, c = int(r["samples"]), int(r["passed"])
        out[r["task_id"]] = (n, c / n, pass_at_k(n, c, min(k, n)))
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _flip(a: tuple | None, b: tuple | None) -> str | None:
    if a is None or b is None:
        return None
    if a[1] == 0 and b[1] > 0:
        return "fixed"
    if a[1] > 0 and b[1] == 0:
        return "broken"
    return "none"


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
                              delta_pass_at_1=rb[1] - ra[1] if ra and rb else None, flip=_flip(ra, rb)))
    overall = Overall(
        base_pass_at_1=_mean([v[1] for v in a.values()]), round_pass_at_1=_mean([v[1] for v in b.values()]),
        base_pass_at_k=_mean([v[2] for v in a.values()]), round_pass_at_k=_mean([v[2] for v in b.values()]),
        delta_pass_at_1=delta_mean({t: v[1] for t, v in a.items()},
                                                 {t: v[1] for t, v in b.items()}),
        delta_pass_at_k=delta_mean({t: v[2] for t, v in a.items()},
                                                 {t: v[2] for t, v in b.items()}),
        fixed=sum(r.flip == "fixed" for r in rows), broken=sum(r.flip == "broken" for r in rows))
    result = PassRates(run=run, base=base, round=round, side=side, k=k, tasks=rows, overall=overall)
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if not wants_csv:
        return result
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(TaskRates.model_fields))
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump())
    return Response(buffer.getvalue(), media_type="text/csv")
