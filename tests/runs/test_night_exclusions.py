"""Excluded pairs reach each night as data (`run_night(excluded_pairs=...)`, what ``codealign
nightly --database-url`` passes from the service's reviews), with test_loop's stand-ins for the
model parts: the night's training set leaves them out though its judge made them again, and a
changed exclusion list is something new (no ``nothing-new`` night)."""

from __future__ import annotations

import json

from codealign.config import load_config
from codealign.runs.exclusions import read_exclusions
from codealign.runs.nightly import NightOutcome, run_night
from test_nightly import lineage_recipe, stand_ins  # noqa: F401 - the fixture


def _ids(path, task_id=None) -> list[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["pair_id"] for r in rows if task_id is None or r["task_id"] == task_id]


def test_a_night_trains_without_the_excluded_pairs(tmp_path, stand_ins):  # noqa: F811
    recipe, _ = lineage_recipe(tmp_path)
    config = load_config(recipe)
    runs = tmp_path / "runs"
    first = run_night(config, excluded_pairs=[])
    n1 = runs / "lin-night-0001"
    assert first.outcome is NightOutcome.STARTED and read_exclusions(n1) == frozenset()
    task = json.loads((n1 / "round-1/judge/pairs.jsonl").read_text().splitlines()[0])["task_id"]
    out = _ids(n1 / "round-1/judge/pairs.jsonl", task)
    assert out

    second = run_night(config, excluded_pairs=out)
    n2 = second.run_path
    assert read_exclusions(n2) == set(out)
    again = set(_ids(n2 / "round-1/judge/pairs.jsonl")) & set(out)
    assert again                                                  # the judge made them again ...
    trained = set(_ids(n2 / "round-1/train/pairs.jsonl"))
    assert trained and not trained & set(out)                     # ... and they were not trained on
    manifest = json.loads((n2 / "round-1/train/manifest.json").read_text())
    assert manifest["inputs"]["excluded"] == sorted(again)

    # Night 3 cannot improve on night 2; night 4 would repeat it: nothing new ...
    run_night(config, excluded_pairs=out)
    fourth = run_night(config, excluded_pairs=out)
    assert fourth.status == "nothing-new"
    # ... unless a reviewer changed the exclusions since
    fifth = run_night(config, excluded_pairs=[])
    assert fifth.status == "succeeded" and read_exclusions(fifth.run_path) == frozenset()
