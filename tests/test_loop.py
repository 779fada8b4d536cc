"""The loop end to end on a tiny seeded policy: records, gate, and resume after kill -9.

The policy is a tiny Llama trained for a few seconds on solution variants of four small
tasks (correct, wrong, correct but insecure), so its samples are a mix and the judges find
pairs. Sampling uses the hf backend (fast to load) and plain continuations of code prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codealign.runs import STAGES, read_rounds, stage_timings
from seeded_policy import TASKS, comparable_rounds, run_cli, seeded_policy, write_recipe


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return seeded_policy(tmp_path_factory.getbasetemp())


def stage_dirs(run: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(run)) for p in run.glob("round-*/*/manifest.json"))


def _pair_keys(run: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run / "round-1/judge/pairs.jsonl").read_text().splitlines()]
    # An efficiency margin is a ratio of measured CPU times: the pair is the same, the figure not.
    return [(r["prompt"], r["chosen"], r["rejected"], r["reason"], r["chosen_id"], r["rejected_id"],
             None if r["reason"] == "efficiency" else r["margin"]) for r in rows]


@pytest.mark.slow
def test_loop_records_and_resume_after_kill_in_every_stage(tmp_path, policy):
    (tmp_path / "clean").mkdir()
    clean = write_recipe(tmp_path / "clean", policy)
    done = run_cli(clean)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "clean" / "runs" / "t"
    rounds = read_rounds(run)
    assert [r.round for r in rounds] == [0, 1]
    base, first = rounds
    assert base.status == "baseline" and first.status in ("promoted", "rejected")
    assert first.reason and first.gate.incumbent_round == 0
    assert first.samples == 3 * 6 and first.pairs > 0, first
    assert first.train.steps >= 1 and first.artifacts.adapter == "round-1/train/adapter"
    assert (run / first.artifacts.adapter / "adapter_config.json").exists()
    line = json.loads((run / "rounds.jsonl").read_text().splitlines()[1])
    assert line["schema_version"] == 3
    for figure in ("pass@1", "pass@k", "secure_rate", "mean_cost", "mean_tokens"):
        assert figure in line["metrics"]
    split = json.loads((run / "split.json").read_text())
    assert len(split["heldout"]) == 1 and len(split["train"]) == 3
    timings = stage_timings(run)
    assert set(timings["round-1"]) == set(STAGES) and set(timings["round-0"]) == {"evaluate"}
    # Every pair is in the file once, and pairs.jsonl is TRL's format.
    pairs = [json.loads(line) for line in (run / "round-1/judge/pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == first.pairs
    assert len({(p["chosen_id"], p["rejected_id"]) for p in pairs}) == len(pairs)
    assert all({"prompt", "chosen", "rejected"} <= set(p) for p in pairs)

    # Same seeds, killed (SIGKILL, after the stage's outputs and before its done mark) once in
    # every stage, resumed each time: the same rounds.jsonl, and no finished stage redone.
    (tmp_path / "killed").mkdir()
    recipe = write_recipe(tmp_path / "killed", policy)
    killed_run = tmp_path / "killed" / "runs" / "t"
    finished_before: dict[str, float] = {}
    for stage in ["round-0/evaluate"] + [f"round-1/{s}" for s in STAGES[:-1]]:
        proc = run_cli(recipe, kill_at=stage)
        assert proc.returncode == -9, (stage, proc.returncode, proc.stderr[-3000:])
        assert not (killed_run / stage / "manifest.json").exists()
        assert (killed_run / stage).exists()            # the killed stage had written outputs
        for name, mtime in finished_before.items():     # nothing finished was redone
            assert (killed_run / name / "manifest.json").stat().st_mtime == mtime, name
        finished_before = {d: (killed_run / d / "manifest.json").stat().st_mtime
                           for d in stage_dirs(killed_run)}
    proc = run_cli(recipe)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name, mtime in finished_before.items():
        assert (killed_run / name / "manifest.json").stat().st_mtime == mtime, name
    assert comparable_rounds(killed_run) == comparable_rounds(run)
    assert (killed_run / "round-1/sample/samples.jsonl").read_bytes() == \
        (run / "round-1/sample/samples.jsonl").read_bytes()
    assert _pair_keys(killed_run) == _pair_keys(run)       # (CPU seconds in the verdicts vary)

    # A finished run rerun does nothing and keeps its records.
    again = run_cli(recipe)
    assert again.returncode == 0 and "done already" in again.stderr
    assert comparable_rounds(killed_run) == comparable_rounds(run)

    # --rounds 2 continues the finished run: round 2 starts from the last promoted policy.
    more = run_cli(clean, rounds=2)
    assert more.returncode == 0, more.stderr[-3000:]
    rounds = read_rounds(run)
    assert [r.round for r in rounds] == [0, 1, 2]
    expected = "round-1" if rounds[1].status == "promoted" else "base"
    assert rounds[2].started_from == expected
    assert rounds[2].gate.incumbent_round == (1 if expected == "round-1" else 0)
    assert comparable_rounds(run)[:2] == comparable_rounds(killed_run)   # mean_cost is measured


# ------------------------------------------------------------------------------------------
# Promotion and rollback, with the model parts replaced by stand-ins (no torch): a generator
# whose share of correct answers is the policy's "quality", and a trainer that writes an
# adapter with a scripted quality change per round. Sandbox, judges, evaluation, gate: real.

QUALITY_CHANGE = {1: +0.5, 2: -0.5, 3: +0.25}      # round 2 is worse and must be rolled back


class QualityGenerator:
    def __init__(self) -> None:
        self.adapters: list[str | None] = []

    def uses_chat(self, params) -> bool:
        return False

    def generate(self, prompts, n, params, adapter=None):
        from codealign.generator import Completion

        self.adapters.append(adapter)
        quality = 0.25 if adapter is None else float((Path(adapter) / "quality").read_text())
        by_prompt = {prompt: variants for prompt, _, variants in TASKS.values()}
        good = round(quality * n)
        return [[Completion(by_prompt[p][0] if i < good else "\n    return None\n", 3) for i in range(n)]
                for p in prompts]

    def close(self) -> None:
        pass


def scripted_train_round(calls, initials=None):
    """A stand-in `train_round` appending (round, previous adapter) to `calls` and the
    `initial_adapter` it was given to `initials`."""
    def train_round(model, pairs_path, out_dir, config, previous_adapter=None, chat=None, progress=False,
                    on_step=None, initial_adapter=None):
        from codealign.trainer.dpo import TrainResult

        out = Path(out_dir)
        round_no = int(out.parent.name.removeprefix("round-"))
        calls.append((round_no, previous_adapter))
        if initials is not None:
            initials.append(initial_adapter)
        start = 0.25 if previous_adapter is None else float((Path(previous_adapter) / "quality").read_text())
        (out / "adapter").mkdir(parents=True)
        (out / "adapter" / "quality").write_text(str(min(1.0, start + QUALITY_CHANGE[round_no])))
        (out / "metrics.jsonl").write_text("")
        (out / "train.json").write_text("{}")
        return TrainResult(str(out / "adapter"), 1, False, "", str(out / "metrics.jsonl"), {}, 10, 0.1,
                           100.0, config.reference.value, "cpu", "float32", 1)
    return train_round


def test_rejected_round_rolls_back_to_the_last_promoted_policy(tmp_path, monkeypatch):
    import codealign.generator
    import codealign.trainer.dpo
    from codealign.config import load_config
    from codealign.runs import run_loop

    generator, calls = QualityGenerator(), []
    monkeypatch.setattr(codealign.generator, "make_generator", lambda backend, model, **kw: generator)
    monkeypatch.setattr(codealign.trainer.dpo, "train_round", scripted_train_round(calls))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    recipe = write_recipe(tmp_path, model, rounds=3)
    result = run_loop(load_config(recipe), progress=False)

    rounds = result.rounds
    assert [r.status for r in rounds] == ["baseline", "promoted", "rejected", "promoted"]
    assert [r.started_from for r in rounds] == [None, "base", "round-1", "round-1"]
    assert [r.metrics.pass_at_1 for r in rounds] == [0.25, 0.75, 0.25, 1.0]
    assert rounds[2].reason.startswith("pass@1 fell")
    assert [r.incumbent_round for r in rounds[1:]] == [0, 1, 1]
    run = result.run_path
    assert calls == [(1, None), (2, str(run / "round-1/train/adapter")),
                     (3, str(run / "round-1/train/adapter"))]
    # Round 3 sampled its training data from round 1's adapter, not from the rejected round 2's.
    samples = [json.loads(line) for line in (run / "round-3/sample/samples.jsonl").read_text().splitlines()]
    assert {s["policy"] for s in samples} == {"round-1"}
    assert str(run / "round-2/train/adapter") not in generator.adapters[-2:]
    assert json.loads((run / "round-2/gate/decision.json").read_text())["status"] == "rejected"
    # rounds.jsonl embeds the gate's record as decision.json holds it; it reads back whole.

    decision = rounds[2].gate.decision
    assert decision.to_dict() == json.loads((run / "round-2/gate/decision.json").read_text())
    assert decision.incumbent_round == 1 and decision.pass_at_1.value == pytest.approx(-0.5)


def test_reference_initial_is_the_lineages_first_policy(tmp_path, monkeypatch):
    """``dpo.reference: initial``: every round of a run, and of its child runs, is given the
    adapter the first run started from (copied into each child), whatever was promoted since."""
    import hashlib

    import codealign.generator
    import codealign.trainer.dpo
    from codealign.config import load_config
    from codealign.runs import run_loop

    generator, calls, initials = QualityGenerator(), [], []
    monkeypatch.setattr(codealign.generator, "make_generator", lambda backend, model, **kw: generator)
    monkeypatch.setattr(codealign.trainer.dpo, "train_round", scripted_train_round(calls, initials))
    monkeypatch.setitem(QUALITY_CHANGE, 1, +0.25)        # each run's one round is promoted: 0.5, 0.75, 1
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    start = tmp_path / "pi0"
    start.mkdir()
    (start / "adapter_config.json").write_text("{}")
    (start / "quality").write_text("0.25")

    def digest(path: Path) -> str:
        return hashlib.sha256(b"".join(f.read_bytes() for f in sorted(path.iterdir()))).hexdigest()

    runs, given = [], []
    for name, lineage in (("first", {"initial_policy": str(start)}), ("second", {"parent_run": "first"}),
                          ("third", {"parent_run": "second"})):
        recipe = write_recipe(tmp_path, model, rounds=1, name=name, dpo={"reference": "initial"}, **lineage)
        runs.append(run_loop(load_config(recipe), progress=False).run_path)
        given.append(set(initials))
        initials.clear()
    first, second, third = runs
    assert given == [{str(first / "lineage/adapter")}, {str(second / "lineage/initial")},
                     {str(third / "lineage/initial")}]
    assert digest(second / "lineage/initial") == digest(third / "lineage/initial") == digest(start)
    record = json.loads((third / "lineage.json").read_text())
    assert record["initial"]["policy"] == "adapter:pi0" and record["initial"]["adapter"] == "lineage/initial"
    # The child starts from what its parent promoted, not from π₀.
    assert record["adapter"] == "lineage/adapter" and record["policy"].startswith("second/round-")
