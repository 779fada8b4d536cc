"""The dashboard in real headless Chromium against the real service: every view loads with no
console error and draws its charts, the numbers on the pages (data-* attributes) equal the
API's and the run reader's, sorting and filters work, the static report shows the same
figures with the network blocked. Screenshots: tests/artifacts/dashboard/."""

from __future__ import annotations

import pytest

from codealign.runs import RunReader
from browser_helpers import Console, number, open_view

VIEWS = ["/", "/runs/syn", "/runs/syn/matrix", "/runs/syn/tasks/syn/t0003", "/runs/syn/flips",
         "/runs/syn/flips?a=2&b=6", "/runs/syn/quality", "/runs/syn/dpo", "/runs/syn/dpo?round=2",
         "/runs/syn/pairs", "/runs/syn/pairs?reason=correctness", "/runs/syn/live"]


def test_pages_need_a_read_key_and_the_key_never_reaches_a_url(browser, service):
    context = browser.new_context()
    page = context.new_page()
    console = Console(page)
    page.goto(service.url + "/runs/syn/matrix")
    assert page.url.startswith(service.url + "/login?next=/runs/syn/matrix")
    page.fill("input[name=key]", "ca_000000000000_not-a-key")
    page.click("#login-form button[type=submit]")
    assert page.locator("#login-error").is_visible()
    page.fill("input[name=key]", service.key)                       # the form kept where to go next
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    assert page.url == service.url + "/runs/syn/matrix"          # back where it was going
    assert service.key not in page.url
    cookie = next(c for c in context.cookies() if c["name"] == "codealign_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""                 # not readable by scripts
    page.click("header .logout button")
    page.goto(service.url + "/runs/syn")
    assert "/login" in page.url
    assert [e for e in console.errors if "401" not in e] == []    # the refused login answers 401
    context.close()


@pytest.mark.parametrize("path", VIEWS)
def test_every_view_loads_without_console_errors_and_draws(page, service, artifacts, path):
    open_view(page, service, path)
    charts = page.locator(".chart")
    assert charts.count() == page.locator(".chart[data-ready='1']").count()
    assert page.locator("main h1, main h2").count() > 0
    name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-").replace("&", "_") or "index"
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    assert page.console.errors == []


def test_overview_numbers_equal_the_api(page, service):
    open_view(page, service, "/runs/syn")
    rows = page.locator("#overview-table tbody tr")
    records = service.api("/v1/runs/syn/rounds")
    assert rows.count() == len(records)
    for i, record in enumerate(records):
        row = rows.nth(i)
        k = record["round"]
        assert int(row.get_attribute("data-round")) == k
        assert row.get_attribute("data-status") == record["status"]
        assert number(row.get_attribute("data-pass1")) == record["metrics"]["pass@1"]
        assert number(row.get_attribute("data-secure-rate")) == record["metrics"]["secure_rate"]
        assert number(row.get_attribute("data-mean-cost")) == record["metrics"]["mean_cost"]
        if k == 0:
            assert row.get_attribute("data-delta-base") == ""
            continue
        for attr, base in (("delta-base", 0), ("delta-prev", record["gate"]["incumbent_round"])):
            api = service.api("/v1/metrics/pass-rates", run="syn", round=k, base=base)["overall"]["delta_pass_at_1"]
            assert number(row.get_attribute(f"data-{attr}")) == api["value"]
            assert number(row.get_attribute(f"data-{attr}-low")) == api["low"]
            assert number(row.get_attribute(f"data-{attr}-high")) == api["high"]
    assert page.console.errors == []


def test_flips_equal_the_api(page, service):
    open_view(page, service, "/runs/syn/flips?a=0&b=6")
    api = service.api("/v1/metrics/pass-rates", run="syn", round=6, base=0)
    held = {t["task_id"]: t for t in api["tasks"]}
    regressions = page.locator("table.flips[data-group='pass→fail'] tbody tr")
    fixed = page.locator("table.flips[data-group='fail→pass'] tbody tr")
    held_out = lambda rows: {rows.nth(i).get_attribute("data-task") for i in range(rows.count())} & set(held)
    assert held_out(regressions) == {t for t, r in held.items() if r["flip"] == "broken"}
    assert held_out(fixed) == {t for t, r in held.items() if r["flip"] == "fixed"}
    # regressions come first on the page
    groups = page.locator("ul.counts li")
    assert groups.nth(0).get_attribute("data-group") == "pass→fail"


def test_matrix_sorts_by_delta_both_ways(page, service):
    open_view(page, service, "/runs/syn/matrix")
    reader = RunReader(service.runs_dir / "syn")
    split = reader.split()
    rows = page.locator("#matrix-table tbody tr")
    assert rows.count() == len(split["train"]) + len(split["heldout"])
    assert page.locator("#matrix-table tbody tr[data-heldout]").count() == len(split["heldout"])

    def deltas() -> list[float | None]:
        return [number(v) for v in page.eval_on_selector_all(
            "#matrix-table tbody tr", "rows => rows.map(r => r.dataset.delta)")]

    page.click("#matrix-table th[data-sort=delta]")
    assert page.get_attribute("#matrix-table", "data-sorted") == "delta:asc"
    shown = [d for d in deltas() if d is not None]
    assert shown == sorted(shown) and len(set(shown)) > 1
    page.click("#matrix-table th[data-sort=delta]")
    assert page.get_attribute("#matrix-table", "data-sorted") == "delta:desc"
    shown = [d for d in deltas() if d is not None]
    assert shown == sorted(shown, reverse=True)
    # the biggest gain's pass rates: the API's per-task figures for the first and last round
    top = rows.nth(0).get_attribute("data-task")
    side = "heldout" if top in split["heldout"] else "train"
    first = 0 if side == "heldout" else 1
    api = {t["task_id"]: t for t in service.api("/v1/metrics/pass-rates", run="syn", round=6, base=first,
                                                  side=side)["tasks"]}
    assert number(rows.nth(0).get_attribute("data-delta")) == pytest.approx(api[top]["delta_pass_at_1"])
    page.click(f"#matrix-table a:text-is('{top}')")
    page.wait_for_selector("body[data-ready]")
    assert page.inner_text("#task-prompt") == next(t.prompt for t in reader.tasks() if t.task_id == top)
    assert page.console.errors == []


def test_pairs_filters_by_reason_and_task(page, service):
    reader = RunReader(service.runs_dir / "syn")
    open_view(page, service, "/runs/syn/pairs?round=3")
    assert page.locator("article.pair").count() == len(reader.pairs(3))
    page.select_option("#pairs-form select[name=reason]", "correctness")
    page.click("#pairs-form button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    shown = page.locator("article.pair")
    assert shown.count() == len(reader.pairs(3, reason="correctness")) > 0
    assert {shown.nth(i).get_attribute("data-reason") for i in range(shown.count())} == {"correctness"}
    task = shown.nth(0).get_attribute("data-task")
    page.select_option("#pairs-form select[name=task]", task)
    page.click("#pairs-form button[type=submit]")
    page.wait_for_selector(".chart[data-ready]")
    assert page.locator("article.pair").count() == len(reader.pairs(3, reason="correctness", task_id=task))
    assert page.locator("article.pair pre.diff span.add").count() > 0
    api = service.api("/v1/runs/syn/rounds/3/pairs", reason="correctness", task_id=task)
    assert page.locator("article.pair").count() == len(api["items"])
    assert page.console.errors == []


def test_dpo_health_numbers_and_warning(page, service):
    open_view(page, service, "/runs/syn/dpo?round=4")
    last = service.api("/v1/runs/syn/rounds/4")["train_metrics"][-1]
    for name in ("loss", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        assert number(page.get_attribute(f"td[data-metric='{name}']", "data-value")) == last[name]
    assert page.locator("#both-falling").is_visible()
    assert page.locator(".dpo .chart[data-ready='1']").count() == 5
    # the round's allocation by state and its training set, as the API's round record has them
    detail = service.api("/v1/runs/syn/rounds/4")
    record = detail["record"]
    rows = page.locator("#allocation-table-4 tbody tr")
    shown = {rows.nth(i).get_attribute("data-state"): (int(rows.nth(i).get_attribute("data-tasks")),
                                                       int(rows.nth(i).get_attribute("data-samples")))
             for i in range(rows.count())}
    allocation = record["allocation"]
    assert shown == {state: (n, allocation["samples_by_state"][state])
                     for state, n in allocation["tasks_by_state"].items()}
    section = page.locator("#sampling-4")
    assert int(section.get_attribute("data-samples")) == record["samples"]
    assert number(section.get_attribute("data-pairs-per-100")) == pytest.approx(100 * record["pairs"] / record["samples"])
    tasks = page.locator("#allocation-tasks-4 tbody tr")
    assert tasks.count() == sum(allocation["tasks_by_state"].values())
    assert sum(int(tasks.nth(i).get_attribute("data-samples")) for i in range(tasks.count())) == record["samples"]
    table = page.locator("#training-set-4")
    assert int(table.get_attribute("data-new")) == record["training_set"]["new"]
    assert int(table.get_attribute("data-replayed")) == record["training_set"]["replayed"]
    replayed = page.locator("#training-set-4 tr[data-part='replayed']")
    assert {replayed.nth(i).get_attribute("data-origin"): int(replayed.nth(i).get_attribute("data-count"))
            for i in range(replayed.count())} == record["training_set"]["replayed_by_origin"]
    page.click("#replay-dropped-4 summary")
    assert page.locator("#replay-dropped-4 tr[data-fault='chosen-fails']").first.is_visible()
    # the held-out Δ per tag with its interval, as the gate's decision in the API has it
    tags = page.locator("#tags-table-4 tbody tr")
    assert detail["tags"] == record["gate"]["tags"]                 # typed in RoundDetail
    decided = {t["tag"]: t for t in detail["tags"]}
    assert [t["task_id"] for t in detail["allocation"]["tasks"]] == \
        [tasks.nth(i).get_attribute("data-task") for i in range(tasks.count())]
    assert tags.count() == len(decided) > 0
    for i in range(tags.count()):
        row = tags.nth(i)
        t = decided[row.get_attribute("data-tag")]
        for name, key in (("pass", "pass_at_1"), ("secure", "secure_rate")):
            assert [number(row.get_attribute(f"data-{name}{part}")) for part in ("", "-low", "-high")] == \
                [t[key]["value"], t[key]["low"], t[key]["high"]]
        assert row.get_attribute("data-regressed") == ("1" if t["regressed"] else "0")
    assert int(page.get_attribute("#tags-4", "data-incumbent")) == record["gate"]["incumbent_round"]


def test_static_report_offline_shows_the_same_figures(browser, page, service, artifacts, tmp_path):
    from codealign.report import write_report

    report = write_report(service.runs_dir / "syn", tmp_path / "report.html")
    open_view(page, service, "/runs/syn")
    served = page.eval_on_selector_all("#overview-table tbody tr", "rows => rows.map(r => ({...r.dataset}))")
    context = browser.new_context(offline=True)
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file:") else route.continue_())
    offline = context.new_page()
    console = Console(offline)
    offline.goto(report.as_uri())
    offline.wait_for_selector("body[data-ready]")
    offline.wait_for_selector(".chart:not([data-ready])", state="detached")
    assert offline.locator(".chart").count() > 5
    static = offline.eval_on_selector_all("#overview-table tbody tr", "rows => rows.map(r => ({...r.dataset}))")
    assert static == served
    assert offline.locator("#matrix-table tbody tr").count() == len(RunReader(service.runs_dir / "syn").tasks())
    offline.screenshot(path=str(artifacts / "report.png"), full_page=True)
    assert requests == [] and console.errors == []
    context.close()


def test_runs_page_shows_state_duration_and_resumes(page, service):
    from codealign.runs import read_state

    open_view(page, service, "/")
    row = page.locator("#runs-table tbody tr[data-run='syn']")
    state = read_state(service.runs_dir / "syn")
    assert row.get_attribute("data-status") == state.status.value == "succeeded"
    assert int(row.get_attribute("data-resumed")) == state.resumed == 1
    assert number(row.get_attribute("data-duration")) == 6 * 5 * 60       # started → finished
    assert int(row.get_attribute("data-rounds")) == len(service.api("/v1/runs/syn/rounds"))
    assert page.get_attribute("#next-night", "data-next") == ""            # no scheduler in this app
    assert page.console.errors == []
