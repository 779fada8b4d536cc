"""Real tiny-model runs in the browser. The live view follows a real run of the loop on the tiny seeded policy while it progresses.

The page is opened while the run is still `queued` (no event yet); everything it shows after
that arrived through its live updates: the run is started only once the page is up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pathlib import Path

from codealign.runs import RunReader
from browser_helpers import number, open_view

ROOT = Path(__file__).resolve().parents[2]

# Record every change of the live section's data-* marks (status, last event seq, progress).
WATCH = """() => {
  window.__seen = [];
  const live = document.getElementById('live'), bar = document.getElementById('live-progress');
  const note = () => window.__seen.push({status: live.dataset.status, seq: +live.dataset.lastSeq,
                                         done: bar.dataset.done, total: bar.dataset.total});
  new MutationObserver(note).observe(live, {attributes: true, subtree: true});
  note();
}"""


@pytest.mark.slow
def test_live_view_updates_while_a_tiny_model_run_progresses(page, service, tmp_path_factory, artifacts):
    from codealign.config import load_config
    from codealign.runs import create_run
    from seeded_policy import seeded_policy, write_recipe

    work = tmp_path_factory.mktemp("live-run")
    recipe = write_recipe(work, seeded_policy(tmp_path_factory.getbasetemp()), rounds=1, name="live",
                          run_dir=str(service.runs_dir))
    run = create_run(load_config(recipe))

    open_view(page, service, "/runs/live/live")
    assert page.get_attribute("#live", "data-status") == "queued"
    assert page.get_attribute("#live", "data-last-seq") == "0"
    page.evaluate(WATCH)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "codealign", "runs", "resume", str(run)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # selectors, not wait_for_function: the page's CSP forbids the eval that polling uses
        page.wait_for_selector("#live[data-status=running]", state="attached", timeout=300_000)
        page.screenshot(path=str(artifacts / "live-running.png"), full_page=True)
        page.wait_for_selector("#live[data-status=succeeded], #live[data-status=failed], #live[data-status=canceled]",
                               state="attached",
                               timeout=600_000)
        _, stderr = worker.communicate(timeout=600)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr[-3000:]
    page.screenshot(path=str(artifacts / "live-finished.png"), full_page=True)

    seen = page.evaluate("window.__seen")
    statuses = [s["status"] for s in seen]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded"
    seqs = sorted({s["seq"] for s in seen})
    assert len(seqs) >= 3                       # the events came in several updates, not at once
    assert any(s["total"] not in (None, "") for s in seen)         # a progress bar was shown
    events = RunReader(run).events()
    assert seqs[-1] == events[-1]["seq"]
    rows = page.eval_on_selector_all("#live-events tbody tr", "rows => rows.map(r => +r.dataset.seq)")
    assert rows == [e["seq"] for e in reversed(events)][:200]
    assert page.console.errors == []


@pytest.mark.slow
def test_a_real_tiny_model_run_matches_the_reader(page, service, tiny_run, artifacts):
    reader = RunReader(tiny_run)
    name = tiny_run.name
    open_view(page, service, f"/runs/{name}")
    page.screenshot(path=str(artifacts / "overview-tiny-run.png"), full_page=True)
    rows = page.locator("#overview-table tbody tr")
    assert [number(rows.nth(i).get_attribute("data-pass1")) for i in range(rows.count())] == \
        [r.metrics.pass_at_1 for r in reader.rounds()]
    for path in ("matrix", "quality", "dpo", "pairs", "flips", "live"):
        open_view(page, service, f"/runs/{name}/{path}")
    open_view(page, service, f"/runs/{name}/dpo")
    k = max(r.round for r in reader.rounds() if r.trained)
    last = reader.train_metrics(k)[-1]
    assert number(page.get_attribute("td[data-metric='loss']", "data-value")) == last["loss"]
    assert page.console.errors == []
