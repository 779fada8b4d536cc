"""Nights in a lineage, with the model parts replaced by test_loop's stand-ins (no torch): a
generator whose share of correct answers is the adapter's "quality", a trainer that adds a
scripted quality change. Run engine, sandbox, judges, evaluation, gate, split: real.

Each night runs one round; the stand-in trainer adds +0.5 quality per round 1 (capped at 1.0),
so night 1 promotes (0.25 -> 0.75), night 2 promotes (0.75 -> 1.0) only if it started from
night 1's adapter, and night 3 cannot improve on 1.0 and is rejected.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from codealign.config import load_config
from codealign.runs import RunReader, RunStatus, read_state
from codealign.runs.nightly import NIGHT_FILE, NightOutcome, night_records, run_night
from codealign.tasks import Task
from seeded_policy import comparable_rounds, write_recipe, write_tasks
from test_loop import QualityGenerator, scripted_train_round

SUBMITTED = "square"          # held back from the recipe's tasks, submitted "over the API"


@pytest.fixture
def stand_ins(monkeypatch):
    import codealign.generator
    import codealign.trainer.dpo

    generator, calls = QualityGenerator(), []
    monkeypatch.setattr(codealign.generator, "make_generator", lambda backend, model, **kw: generator)
    monkeypatch.setattr(codealign.trainer.dpo, "train_round", scripted_train_round(calls))
    return calls


TRIPLE = {"task_id": "triple", "prompt": 'def triple(x):\n    """Three times x."""', "entry_point": "triple",
          "tests": "assert triple(2) == 6\nassert triple(-1) == -3\n", "prompt_style": "code",
          "reference": 'def triple(x):\n    """Three times x."""\n    return 3 * x\n'}


def task_records(tmp_path: Path) -> dict[str, dict]:
    """The seeded policy's four tasks and `TRIPLE`, by id, as task records."""
    lines = write_tasks(tmp_path / "all.jsonl").read_text().splitlines()
    return {**{json.loads(line)["task_id"]: json.loads(line) for line in lines}, "triple": TRIPLE}


def write_task_file(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def lineage_recipe(tmp_path: Path, model: Path | None = None) -> tuple[Path, Task]:
    """A one-round recipe named ``lin`` on three of the four tasks; the fourth (`SUBMITTED`)
    is returned as a Task to submit. `model` default: a stand-in directory."""
    if model is None:
        model = tmp_path / "model"
        model.mkdir(exist_ok=True)
        (model / "config.json").write_text("{}")
    records = task_records(tmp_path)
    configured = write_task_file(tmp_path / "configured.jsonl",
                                 [r for tid, r in records.items() if tid not in (SUBMITTED, "triple")])
    recipe = write_recipe(tmp_path, model, rounds=1, name="lin", tasks=str(configured))
    return recipe, Task.from_dict(records[SUBMITTED])


def rounds_of(run: Path) -> list:
    return RunReader(run).rounds()


def test_nights_continue_from_the_previous_promoted_adapter(tmp_path, stand_ins):
    recipe, square = lineage_recipe(tmp_path)
    config = load_config(recipe)
    runs = tmp_path / "runs"
    slot = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)

    first = run_night(config, slot=slot)
    assert (first.outcome, first.night, first.status) == (NightOutcome.STARTED, 1, "succeeded")
    n1 = runs / "lin-night-0001"
    assert first.run_path == n1 and not (n1 / "lineage.json").exists()       # the base model
    assert [r.status for r in rounds_of(n1)] == ["baseline", "promoted"]
    # The same slot again (a second scheduler, a retried CronJob): nothing new is started.
    again = run_night(config, slot=slot)
    assert again.outcome is NightOutcome.SKIPPED and again.night == 1
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == ["lin-night-0001"]

    # Between nights 1 and 2 a task is submitted: night 2 snapshots it.
    second = run_night(config, extra_tasks=[square])
    n2 = runs / "lin-night-0002"
    assert second.outcome is NightOutcome.STARTED and second.run_path == n2
    lineage = json.loads((n2 / "lineage.json").read_text())
    assert lineage["parent_run"] == str(n1.resolve()) and lineage["policy"] == "lin-night-0001/round-1"
    assert stand_ins[-1] == (1, str(n2 / "lineage/adapter"))                 # trained on from it
    assert [r.status for r in rounds_of(n2)] == ["baseline", "promoted"]
    assert rounds_of(n2)[0].metrics.pass_at_1 == rounds_of(n1)[1].metrics.pass_at_1 == 0.75
    assert SUBMITTED in {t.task_id for t in RunReader(n2).tasks()}
    split2 = RunReader(n2).split()
    side = "train" if SUBMITTED in split2["train"] else "heldout"

    run_night(config, extra_tasks=[square])
    n3 = runs / "lin-night-0003"
    assert json.loads((n3 / "lineage.json").read_text())["policy"] == "lin-night-0002/round-1"
    assert [r.status for r in rounds_of(n3)] == ["baseline", "rejected"]     # 1.0 cannot improve
    split3 = RunReader(n3).split()
    assert SUBMITTED in split3[side]                                          # the same side
    assert (split3["train"], split3["heldout"]) == (split2["train"], split2["heldout"])

    # Nothing new (same tasks, same recipe, night 3 promoted nothing): recorded, no run.
    fourth = run_night(config, extra_tasks=[square])
    n4 = runs / "lin-night-0004"
    assert (fourth.outcome, fourth.status, fourth.run_path) == (NightOutcome.STARTED, "nothing-new", None)
    assert (n4 / NIGHT_FILE).exists() and not (n4 / "state.json").exists()

    # The task retired: a change, so night 5 runs, from night 3 (which kept night 2's policy).
    fifth = run_night(config, extra_tasks=[])
    n5 = runs / "lin-night-0005"
    assert fifth.outcome is NightOutcome.STARTED
    lineage5 = json.loads((n5 / "lineage.json").read_text())
    assert lineage5["parent_run"] == str(n3.resolve()) and lineage5["policy"] == "lin-night-0002/round-1"

    records = [r.to_dict() for r in night_records(runs, "lin")]           # as GET /v1/nights has them
    assert [r["night"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["status"] for r in records] == ["succeeded"] * 3 + ["nothing-new", "succeeded"]
    assert [r["promoted"] for r in records] == [True, True, False, False, False]
    assert [r["tasks_added"] for r in records] == [["add", "double", "neg"], [SUBMITTED], [], [], []]
    assert records[4]["tasks_removed"] == [SUBMITTED] and records[0]["slot"] == slot.isoformat()
    assert [r["rounds"] for r in records] == [1, 1, 1, 0, 1]
    d1 = records[0]["pass_at_1_delta"]
    heldout = RunReader(n1).split()["heldout"]
    assert d1["value"] == pytest.approx(0.5) and d1["tasks"] == len(heldout)
    assert d1["low"] <= d1["value"] <= d1["high"]
    assert records[2]["pass_at_1_delta"] is None and records[3]["secure_rate_delta"] is None
    assert json.loads((n1 / NIGHT_FILE).read_text())["schema_version"] == 1


def test_an_interrupted_night_is_resumed_with_the_same_rounds(tmp_path, stand_ins, monkeypatch):
    import codealign.trainer.dpo

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    clean = load_config(lineage_recipe(tmp_path / "a")[0])
    assert run_night(clean).outcome is NightOutcome.STARTED

    recipe, _ = lineage_recipe(tmp_path / "b")
    config = load_config(recipe)
    train = codealign.trainer.dpo.train_round

    def dies(*args, **kwargs):          # the process is stopped mid-training (Ctrl-C, SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(codealign.trainer.dpo, "train_round", dies)
    with pytest.raises(KeyboardInterrupt):
        run_night(config)
    night = tmp_path / "b" / "runs" / "lin-night-0001"
    assert read_state(night).status is RunStatus.INTERRUPTED
    monkeypatch.setattr(codealign.trainer.dpo, "train_round", train)
    resumed = run_night(config)
    assert (resumed.outcome, resumed.night, resumed.run_path) == (NightOutcome.RESUMED, 1, night)
    assert sorted(p.name for p in night.parent.iterdir() if p.is_dir()) == ["lin-night-0001"]
    assert comparable_rounds(night) == comparable_rounds(tmp_path / "a" / "runs" / "lin-night-0001")
    record = night_records(night.parent, "lin")[0]
    assert record.resumed == 1 and record.status == "succeeded"


def test_a_night_leaves_a_flagged_task_out_of_its_train_side(tmp_path, stand_ins):
    """The service flags a submitted near duplicate of a held-out task (`keep_out`, from the
    store via `codealign nightly --database-url`): the night snapshots it but never trains on it."""
    from codealign.config import check_tasks

    recipe, square = lineage_recipe(tmp_path)
    config = load_config(recipe)
    train, _ = config.evaluation.split(list(check_tasks(config)) + [square])
    flagged = train[0]
    why = "near duplicate of held-out task lin/x (run r, similarity 0.90)"
    night = run_night(config, extra_tasks=[square], keep_out={flagged: why})
    assert night.status == "succeeded", night
    split = RunReader(night.run_path).split()
    assert split["kept_out"] == {flagged: why} and flagged not in split["train"] + split["heldout"]
    assert flagged in {t.task_id for t in RunReader(night.run_path).tasks()}
    sampled = {json.loads(line)["task_id"] for line in
               (night.run_path / "round-1" / "sample" / "samples.jsonl").read_text().splitlines()}
    assert sampled and flagged not in sampled
