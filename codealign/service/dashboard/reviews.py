"""The dashboard's review pages: the spot-check queue, one pair with its review form, and each
judge's agreement with the reviewers (`router`, mounted by the service app)::

    /reviews?run=&reason=&state=&after=   the queue (pending by default)
    /reviews/{item}                       chosen vs rejected, diff, each judge's explanation, the
                                          tests and strengthened inputs, provenance; the form
    POST /reviews/{item}                  agree | disagree | skip + comment (a write key)
    /reviews/agreement?run=               agreement rate per reason, with 95% intervals, per round

Pages need a read key (the login cookie, as every dashboard page); the form posts with the
cookie's key and needs scope write (open mode: the loopback client). The form is plain HTML
(no script: the CSP allows none inline); the cookie is SameSite=Strict, and a post whose
Origin header names another site is refused. The figures are the API's (`/v1/reviews`),
computed once in `codealign.service.reviews`.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Cookie, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from codealign.config import RUN_NAME
from codealign.service.api.routes.reviews import MAX_COMMENT, ReviewCreate, item_detail, queue_page, submit_review
from codealign.service.dashboard.pages import COOKIE, Authed
from codealign.service.dashboard.render import render
from codealign.service.dashboard.views import _diff as diff_rows
from codealign.service.reviews import REASONS, agreement
from codealign.service.store.models import ReviewVerdict

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


def _writer(request: Request, key: str | None):
    """The `Caller` the session's key is, when it may write (open mode: the loopback client); else None."""
    from codealign.service.api.deps import open_caller
    from codealign.service.errors import Unauthorized
    from codealign.service.store.models import Scope

    keys = request.app.state.keys
    try:
        with request.app.state.db.session() as session:
            if keys.is_open(session):
                return open_caller(request)
        caller = keys.check(request.app.state.db, key) if key else None
    except Unauthorized:
        return None
    return caller if caller is not None and caller.scope.allows(Scope.WRITE) else None


def _page(template: str, **context) -> HTMLResponse:
    return HTMLResponse(render(template, user=True, links=True, **context))


@router.get("/reviews", response_class=HTMLResponse)
def queue(request: Request, _: Authed, run: Annotated[str | None, Query(pattern=RUN_NAME)] = None,
          reason: Literal["correctness", "efficiency", "security", "maintainability"] | None = None,
          state: Literal["pending", "reviewed", "all"] = "pending",
          after: Annotated[int | None, Query(ge=0, le=2**62)] = None) -> HTMLResponse:
    with request.app.state.db.session() as session:
        page = queue_page(session, run=run, reason=reason, state=state, after=after, limit=PER_PAGE)
    filters = {"run": run or "", "reason": reason or "", "state": state}
    more = None if page.next is None else "?" + urlencode(filters | {"after": page.next})
    return _page("reviews.html", q=page, filters=filters, reasons=REASONS, more=more)


@router.get("/reviews/agreement", response_class=HTMLResponse)
def agreement_page(request: Request, _: Authed,
                   run: Annotated[str | None, Query(pattern=RUN_NAME)] = None) -> HTMLResponse:
    with request.app.state.db.session() as session:
        items = agreement(session, run)
    charts = {a.reason: {"x": list(range(1, len(a.rounds) + 1)), "xlabel": "reviewed round (oldest first)",
                         "series": [{"label": f"{a.reason}: agreement", "values": [r.votes.rate.value for r in a.rounds]},
                                    {"label": "95% low", "values": [r.votes.rate.low for r in a.rounds]},
                                    {"label": "95% high", "values": [r.votes.rate.high for r in a.rounds]}]}
              for a in items}
    return _page("agreement.html", items=items, charts=charts, run_filter=run or "")


@router.get("/reviews/{item_id}", response_class=HTMLResponse)
def item(request: Request, item_id: int, _: Authed, key: Annotated[str | None, Cookie(alias=COOKIE)] = None,
         saved: ReviewVerdict | None = None) -> HTMLResponse:
    from codealign.service.errors import NotFound

    with request.app.state.db.session() as session:
        try:
            detail = item_detail(session, request.app.state.settings, item_id)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        following = queue_page(session, run=None, reason=None, state="pending", after=item_id, limit=1)
    writer = _writer(request, key)
    mine = next((r for r in detail.reviews if writer is not None and r.owner == writer.owner), None)
    pair = detail.pair
    return _page("review.html", d=detail, pair=pair, diff=diff_rows(pair.rejected, pair.chosen),
                 can_review=writer is not None, mine=mine, saved=saved.value if saved else "",
                 next_item=following.items[0].id if following.items else None,
                 verdicts=[v.value for v in ReviewVerdict], max_comment=MAX_COMMENT)


def _same_origin(request: Request) -> bool:
    """Nothing the browser says names another site: its ``Sec-Fetch-Site`` (when sent) is
    same-origin, and its Origin (when it names one: under ``Referrer-Policy: no-referrer`` a
    form's is ``null``) is this host. Defence in depth: the SameSite=Strict cookie is not sent
    with another site's request at all."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


@router.post("/reviews/{item_id}")
def review(request: Request, item_id: int, _: Authed, verdict: Annotated[str, Form()],
           comment: Annotated[str, Form()] = "",
           key: Annotated[str | None, Cookie(alias=COOKIE)] = None) -> Response:
    from codealign.service.errors import NotFound

    if not _same_origin(request):
        raise HTTPException(403, "a review must be posted from this site's own page")
    writer = _writer(request, key)
    if writer is None:
        raise HTTPException(403, "reviewing needs a key of scope write: log in with one")
    try:
        body = ReviewCreate(verdict=verdict, comment=comment)
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    with request.app.state.db.session() as session:
        try:
            submit_review(session, request.app.state.settings, item_id, body, writer.owner)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
    return RedirectResponse(f"/reviews/{item_id}?saved={body.verdict.value}", status_code=303)
