"""Adaptive sampling and pair replay through the loop, with the model parts replaced by
stand-ins (no torch): sandbox, judges, pairs, evaluation, gate and the run engine are real.

The stand-in policy answers each task by cycling through its variants (`VARIANTS`: the
correct program, wrong ones, an insecure one that passes); a trained adapter answers the tasks
it lists with their first (clean) variant only, so those tasks become *settled*.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codealign.records import AllocationMode, TaskState
from seeded_policy import TASKS, comparable_rounds, write_recipe, write_tasks

SETTLES = {1: ["add", "double"], 2: ["add", "double"], 3: ["add", "double", "neg"]}
"""What the adapter trained in round k answers cleanly (rounds 2 and 3 change nothing held out:
the gate rejects them)."""


# One correct program per task (and for `add` an insecure one that passes too), and no
# efficiency pairs: these programs cost tens of nanoseconds, where which of two correct ones is
# "faster" is the machine's noise, and it would pick the pairs (the rules checked here read no
# measured figure; a re-checked efficiency pair measures CPU time again: codealign.runs.trainset).
VARIANTS = {"add": ["\n    return a + b\n", "\n    return a - b\n", "\n    return eval(str(a) + '+' + str(b))\n"],
            "double": ["\n    return x * 2\n", "\n    return x ** 2\n", "\n    return x - 1\n"],
            "neg": ["\n    return -x\n", "\n    return x\n", "\n    return x + 1\n"],
            "square": ["\n    return x * x\n", "\n    return x + x\n", "\n    return x - 1\n"]}
PAIRS = {"max_pairs_per_task": 4, "reasons": ["correctness", "security", "maintainability"]}


class CyclingGenerator:
    def __init__(self) -> None:
        self.requests: list[tuple[str | None, list[str], object]] = []

    def uses_chat(self, params) -> bool:
        return False

    def generate(self, prompts, n, params, adapter=None):
        from codealign.generator import Completion, per_prompt

        self.requests.append((adapter, prompts, n))
        settled = [] if adapter is None else json.loads((Path(adapter) / "settles.json").read_text())
        by_prompt = {prompt: (tid, VARIANTS[tid]) for tid, (prompt, _, _) in TASKS.items()}
        out = []
        for prompt, count in zip(prompts, per_prompt(n, len(prompts))):
            tid, variants = by_prompt[prompt]
            out.append([Completion(variants[0] if tid in settled else variants[i % len(variants)], 3)
                        for i in range(count)])
        return out

    def close(self) -> None:
        pass


def scripted_train_round(trained: dict):
    def train_round(model, pairs_path, out_dir, config, previous_adapter=None, chat=None, progress=False,
                    on_step=None, initial_adapter=None):
        from codealign.trainer.dpo import TrainResult

        out = Path(out_dir)
        round_no = int(out.parent.name.removeprefix("round-"))
        trained[round_no] = [json.loads(line) for line in Path(pairs_path).read_text().splitlines()]
        (out / "adapter").mkdir(parents=True)
        (out / "adapter" / "settles.json").write_text(json.dumps(SETTLES[round_no]))
        (out / "metrics.jsonl").write_text("")
        return TrainResult(str(out / "adapter"), 1, False, "", str(out / "metrics.jsonl"), {}, 10, 0.1,
                           100.0, config.reference.value, "cpu", "float32", len(trained[round_no]))
    return train_round


@pytest.fixture()
def stand_ins(monkeypatch):
    import codealign.generator
    import codealign.trainer.dpo

    generator, trained = CyclingGenerator(), {}
    monkeypatch.setattr(codealign.generator, "make_generator", lambda backend, model, **kw: generator)
    monkeypatch.setattr(codealign.trainer.dpo, "train_round", scripted_train_round(trained))
    return generator, trained


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    return model


def _run(tmp_path: Path, name: str, rounds: int = 3, **overrides):
    from codealign.config import load_config
    from codealign.runs import run_loop

    recipe = write_recipe(tmp_path, _model(tmp_path), rounds=rounds, name=name,
                          replay={"share": 0.5}, pairs=PAIRS, **overrides)
    return run_loop(load_config(recipe), progress=False)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _pair_keys(path: Path) -> list[tuple]:
    return [(p["pair_id"], p["reason"], p["origin"]["round"], p["replayed"]) for p in _lines(path)]


def test_settled_tasks_get_fewer_samples_and_earlier_pairs_are_replayed(tmp_path, stand_ins):
    from codealign.judges import JudgeConfig
    from codealign.judges.pairs import PairConfig
    from codealign.runs.trainset import Candidate, revalidate
    from codealign.records import PairOrigin, PairRow

    generator, trained = stand_ins
    result = _run(tmp_path, "t")
    run, rounds = result.run_path, result.rounds
    assert [r.status.value for r in rounds] == ["baseline", "promoted", "rejected", "rejected"]
    train = json.loads((run / "split.json").read_text())["train"]
    assert train == ["add", "neg", "square"]

    # Round 1 and 2 are even (round 2's history is the base's samples: every task mixed); round 3
    # sees that round 2's policy (round 1's) answers `add` one way only: 1 sample there, the
    # rest of the 18 to the others.
    allocations = [json.loads((run / f"round-{k}/sample/allocation.json").read_text()) for k in (1, 2, 3)]
    assert [{t["task_id"]: t["samples"] for t in a["tasks"]} for a in allocations] == [
        {"add": 6, "neg": 6, "square": 6}, {"add": 6, "neg": 6, "square": 6}, {"add": 1, "neg": 9, "square": 8}]
    third = {t["task_id"]: t for t in allocations[2]["tasks"]}
    assert third["add"]["state"] == "settled" and third["add"]["history_round"] == 2
    assert third["add"]["reason"] == "settled: 6/6 passed in round 2, clean, 1 distinct program -> 1 sample"
    assert third["neg"]["state"] == "mixed" and third["square"]["state"] == "mixed"
    assert rounds[3].samples == 18 and rounds[3].allocation.mode is AllocationMode.ADAPTIVE
    assert rounds[3].allocation.samples_by_state == {"mixed": 17, "settled": 1}
    assert rounds[1].allocation.tasks_by_state == {TaskState.NEW.value: 3}
    assert rounds[3].artifacts.allocation == "round-3/sample/allocation.json"
    samples = _lines(run / "round-3/sample/samples.jsonl")
    assert sum(s["task_id"] == "add" for s in samples) == 1
    manifest = json.loads((run / "round-3/sample/manifest.json").read_text())
    assert manifest["result"]["allocation"]["samples_by_state"] == {"mixed": 17, "settled": 1}
    assert manifest["inputs"]["counts"] == [1, 9, 8]

    # Replay: round 2 trains on its own pairs and as many of round 1's, round 3 on its own and
    # round 1's and 2's; each line says where its pair was made; what the trainer got is the file.
    for k in (2, 3):
        lines = _lines(run / f"round-{k}/train/pairs.jsonl")
        assert trained[k] == lines
        own = [p for p in lines if not p["replayed"]]
        replayed = [p for p in lines if p["replayed"]]
        assert {p["origin"]["round"] for p in own} == {k} and {p["origin"]["run"] for p in lines} == {"t"}
        assert replayed and {p["origin"]["round"] for p in replayed} <= set(range(1, k))
        assert len(replayed) <= len(own) and len({p["pair_id"] for p in lines}) == len(lines)
        assert rounds[k].training_set.new == len(own) and rounds[k].training_set.replayed == len(replayed)
        assert rounds[k].artifacts.training_set == f"round-{k}/train/pairs.jsonl"
    assert not [p for p in _lines(run / "round-3/judge/pairs.jsonl") if p["task_id"] == "add"]  # settled

    # Every replayed pair holds under the run's rules, checked again here from scratch.
    from codealign.runs.engine import read_task_snapshot
    from test_trainset import _execute

    tasks = {t.task_id: t for t in read_task_snapshot(run)}
    for k in (2, 3):
        for p in _lines(run / f"round-{k}/train/pairs.jsonl"):
            row = PairRow.from_dict({key: v for key, v in p.items() if key not in ("origin", "replayed")})
            prompt = tasks[row.task_id].continuation_prompt
            c = Candidate(row, PairOrigin.from_dict(p["origin"]), prompt + row.chosen, prompt + row.rejected)
            assert revalidate([c], tasks, set(train), _execute(tasks), JudgeConfig(), PairConfig(**PAIRS))[0][0] is None

    # The same seeds give the same rounds, allocations and training sets.
    (tmp_path / "again").mkdir()
    again = _run(tmp_path / "again", "t")
    assert comparable_rounds(again.run_path) == comparable_rounds(run)
    for k in (1, 2, 3):
        assert (again.run_path / f"round-{k}/sample/allocation.json").read_bytes() == \
            (run / f"round-{k}/sample/allocation.json").read_bytes()
        # (the verdict summaries in a pair line hold measured CPU times)
        assert _pair_keys(again.run_path / f"round-{k}/train/pairs.jsonl") == \
            _pair_keys(run / f"round-{k}/train/pairs.jsonl")


def test_a_night_replays_its_parents_pairs_and_drops_those_its_strengthened_tests_reject(tmp_path, stand_ins):
    from codealign.config import load_config
    from codealign.runs import run_loop

    parent = _run(tmp_path, "night-1", rounds=1)
    parent_pairs = _lines(parent.run_path / "round-1/judge/pairs.jsonl")
    minus = [p for p in parent_pairs if p["task_id"] == "neg" and p["chosen"] == "\n    return -x\n"]
    assert minus, parent_pairs                       # the parent chose `-x` over a wrong answer

    # The next night: neg's tests strengthened (the negation of 0.0 must be 0.0, not -0.0,
    # which `-x` gets wrong and `0 - x` right) and its reference with them.
    (tmp_path / "night-2").mkdir()
    tasks = write_tasks(tmp_path / "night-2" / "strengthened.jsonl")
    rows = _lines(tasks)
    for r in rows:
        if r["task_id"] == "neg":
            r["tests"] += 'assert str(neg(0.0)) == "0.0"\n'
            r["reference"] = r["prompt"] + "\n    return 0 - x\n"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = write_recipe(tmp_path / "night-2", _model(tmp_path), rounds=1, name="night-2",
                          tasks=str(tasks), parent_run=str(parent.run_path), replay={"share": 0.75},
                          run_dir=str(tmp_path / "runs"), pairs=PAIRS)
    child = run_loop(load_config(recipe), progress=False)
    lines = _lines(child.run_path / "round-1/train/pairs.jsonl")
    replayed = [p for p in lines if p["replayed"]]
    assert replayed and {p["origin"]["run"] for p in replayed} == {"night-1"}
    assert not [p for p in lines if p["task_id"] == "neg" and p["chosen"] == "\n    return -x\n"]
    checks = {c["pair_id"]: c for c in _lines(child.run_path / "round-1/train/replay.jsonl")}
    assert {checks[p["pair_id"]]["fault"] for p in minus} == {"chosen-fails"}
    # the inputs every re-check batch ran on are kept, and hashed in the train manifest
    manifest = json.loads((child.run_path / "round-1/train/manifest.json").read_text())
    assert manifest["outputs"]["replay_inputs"] == "replay-inputs" and manifest["output_hashes"]["replay_inputs"]
    batches = sorted((child.run_path / "round-1/train/replay-inputs").iterdir())
    assert batches and all((b / "inputs.json").is_file() for b in batches)
    assert not (child.run_path / "round-1/train/inputs.json").exists()
    assert all(not checks[p["pair_id"]]["kept"] for p in minus)
    summary = child.rounds[1].training_set
    assert summary.dropped_by_fault["chosen-fails"] >= 1 and summary.replayed == len(replayed)
    assert summary.replayed_by_origin == {"night-1/round-1": len(replayed)}
