"""A shortened `codealign demo`: a tiny seed on a few bank tasks, one round, end to end.

Real pipeline (seed training, vLLM sampling, bwrap sandbox, judges, TRL DPO, evaluation,
gate); only the sizes are cut so that it runs in a few minutes on two cores.
"""

from __future__ import annotations

import json
import shutil

import pytest

from codealign.jsonl import write_jsonl
from codealign.demo.seed import SeedConfig, build_seed, seed_corpus
from codealign.tasks import load_tasks
from codealign.tasks.bank import VariantKind, load_variants

# Two insecure habits, two slow ones and two wrong ones, so that every pair reason can occur.
TASKS = ("bank/dedupe_keep_order", "bank/fib", "bank/parse_int_list", "bank/password_digest",
         "bank/mean_value", "bank/sum_to")

SMALL_CONFIG = """\
name: ignored
model: ignored-by-the-demo/made-on-the-spot
backend: vllm
generator: {{max_model_len: 512}}
tasks: {tasks}
rounds: 1
seed: 0
sampling: {{n: 4, temperature: 1.0, top_p: 1.0, max_tokens: 128, seed: 0, chat: false}}
sandbox: {{backend: bwrap, workers: 0}}
judges: {{order: [security, efficiency, maintainability]}}
pairs: {{max_pairs_per_task: 3}}
dpo: {{beta: 0.1, loss_type: [sigmoid, sft], learning_rate: 1.0e-3, epochs: 1, batch_size: 4,
       max_length: 384, lora_r: 8, lora_alpha: 16}}
evaluation: {{heldout_fraction: 0.3, split_seed: 0, n_samples: 4, k: [1, 4], temperature: 1.0}}
gate: {{objective: composite, pass_at_1_tolerance: 0.05}}
"""

TINY_SEED = SeedConfig(hidden_size=64, layers=2, vocab_size=512, steps=250, batch_size=8)


def _bank_subset(tmp_path):
    tasks = [t for t in load_tasks("bank") if t.task_id in TASKS]
    assert len(tasks) == len(TASKS)
    path = tmp_path / "tasks.jsonl"
    write_jsonl(path, (t.to_dict() for t in tasks))
    return tasks, path


def test_seed_corpus_weights_each_kind():
    tasks = load_tasks("bank")
    variants = load_variants()
    weights = {"clean": 1, "slow": 2, "insecure": 3, "wrong": 0}
    corpus = seed_corpus(tasks, variants, weights)
    expected = sum(weights[v.kind.value] for v in variants)
    assert len(corpus) == expected
    insecure = [v.completion for v in variants if v.kind is VariantKind.INSECURE]
    assert sum(1 for _, _, c in corpus if c == insecure[0]) >= 3
    wrong = {(v.task_id, v.completion) for v in variants if v.kind is VariantKind.WRONG}
    assert not wrong & {(t, c) for t, _, c in corpus}


def test_every_bank_variant_is_classified_as_itself():
    from codealign.demo.habits import CLEAN, COUNTER_FIX, OTHER, HabitClassifier

    tasks = load_tasks("bank")
    variants = load_variants()
    classifier = HabitClassifier(tasks, variants)
    by_id = {t.task_id: t for t in tasks}
    for v in variants:
        code = by_id[v.task_id].program(v.completion)
        expected = CLEAN if v.kind is VariantKind.CLEAN else (v.habit or COUNTER_FIX)
        assert classifier.label(v.task_id, code) == expected, (v.task_id, v.kind)
        # reformatted code (comments, blank lines, quotes) is still the same variant
        noisy = code.replace("\n    return", "  # note\n\n    # done\n    return")
        if "'" not in code:
            noisy = noisy.replace('"', "'")
        assert classifier.label(v.task_id, noisy) == expected, (v.task_id, v.kind)
    assert classifier.label("bank/fib", "def fib(n):\n    return 0\n") == OTHER
    assert classifier.label("bank/fib", "def fib(n) return") == OTHER
    rates = classifier.rates([("bank/fib", by_id["bank/fib"].program(v.completion))
                              for v in variants if v.task_id == "bank/fib"] + [("bank/fib", "x")])
    assert rates["exp-recursion"] == {"samples": 3, "tasks": 1, "habit_rate": round(1 / 3, 4),
                                      "clean_rate": round(1 / 3, 4), "other_rate": round(1 / 3, 4)}


def test_versus_seed_pairs_tasks_and_uses_the_bootstrap():
    from codealign.demo.run import versus_seed
    from codealign.trainer.stats import delta_mean

    seed = {"a": {"pass": 0.25, "passes": 4, "insecure": 2, "cost": 100.0},
            "b": {"pass": 0.5, "passes": 8, "insecure": 4, "cost": None},
            "c": {"pass": 0.0, "passes": 0, "insecure": 0, "cost": None}}
    policy = {"a": {"pass": 0.75, "passes": 12, "insecure": 0, "cost": 50.0},
              "b": {"pass": 0.5, "passes": 8, "insecure": 2, "cost": 10.0},
              "c": {"pass": 0.25, "passes": 4, "insecure": 0, "cost": 5.0}}
    f = versus_seed(seed, policy, ["a", "b", "c"])
    assert f["pass@1"] == [0.25, 0.5]
    assert f["delta_pass@1"] == delta_mean({"a": 0.25, "b": 0.5, "c": 0.0},
                                           {"a": 0.75, "b": 0.5, "c": 0.25}).to_dict()
    assert f["insecure_share"] == [0.5, 0.0833]
    assert f["insecure_ratio"]["value"] == pytest.approx((2 / 24) / (6 / 12), abs=1e-6)
    assert f["mean_cost"] == [100.0, 50.0] and f["delta_mean_cost"]["tasks"] == 1


def test_seed_config_rejects_bad_values():
    from codealign.errors import ConfigError

    with pytest.raises(ConfigError, match="multiple of 64"):
        SeedConfig(hidden_size=100)
    with pytest.raises(ConfigError, match="unknown variant kind"):
        SeedConfig(kind_weights={"sloppy": 1})
    with pytest.raises(ConfigError, match="positive weight"):
        SeedConfig(kind_weights={"clean": 0})


@pytest.mark.slow
def test_seed_is_cached_by_content(tmp_path):
    tasks, _ = _bank_subset(tmp_path)
    config = SeedConfig(hidden_size=64, layers=1, vocab_size=300, steps=3, batch_size=4)
    first = build_seed(config, tasks=tasks, cache=tmp_path / "cache")
    assert not first.cached and (first.path / "manifest.json").exists()
    again = build_seed(config, tasks=tasks, cache=tmp_path / "cache")
    assert again.cached and again.path == first.path
    other = build_seed(config, tasks=tasks[:-1], cache=tmp_path / "cache")
    assert other.path != first.path                  # a different corpus is a different seed
    # A build killed before its manifest is rebuilt, not trusted.
    (first.path / "manifest.json").unlink()
    rebuilt = build_seed(config, tasks=tasks, cache=tmp_path / "cache")
    assert not rebuilt.cached and rebuilt.path == first.path


@pytest.mark.slow
def test_short_demo_round_completes(tmp_path):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (make system)")
    pytest.importorskip("vllm")
    from codealign.demo import run_demo

    _, tasks_path = _bank_subset(tmp_path)
    config = tmp_path / "demo.yaml"
    config.write_text(SMALL_CONFIG.format(tasks=tasks_path), encoding="utf-8")
    lines: list[str] = []
    result = run_demo(config, rounds=1, run_dir=tmp_path / "runs", name="short", seed=TINY_SEED,
                      cache=tmp_path / "cache", out=lines.append, progress=False)

    assert [r["round"] for r in result.rows] == [0, 1]
    baseline, round1 = result.rows
    assert baseline["status"] == "baseline"
    assert round1["status"] in ("promoted", "rejected") and round1["gate"]
    for row in result.rows:
        assert 0.0 <= row["pass@1"] <= 1.0
        assert set(row["pass@k"]) == {"1", "4"}
        assert row["samples"] == 4 * len(json.loads((result.run_path / "split.json").read_text())["heldout"])
    assert round1["delta_pass@1"] == pytest.approx(round1["pass@1"] - baseline["pass@1"], abs=1e-4)
    assert (result.run_path / "rounds.jsonl").exists()
    assert result.times["seed"] > 0 and result.times["evaluate"] > 0

    vs = round1["vs_seed"]["heldout"]                  # paired bootstrap against the seed
    assert vs["delta_pass@1"]["value"] == pytest.approx(round1["pass@1"] - baseline["pass@1"], abs=1e-3)
    assert vs["delta_pass@1"]["low"] <= vs["delta_pass@1"]["value"] <= vs["delta_pass@1"]["high"]
    assert vs["tasks"] == len(json.loads((result.run_path / "split.json").read_text())["heldout"])

    summary = json.loads(lines[-1])                    # the last line is the JSON summary
    assert summary["rounds"] == json.loads(json.dumps(result.rows))
    sampled = {r["habit"] for r in summary["habits"] if r["heldout"]}
    assert sampled and all(0 <= r["heldout"]["seed"] <= 1 for r in summary["habits"] if r["heldout"])
    assert any(line.startswith("habits: ") for line in lines)
    assert any("95% CI" in line for line in lines)
    assert summary["total_s"] > 0
    assert any(line.startswith("time: ") for line in lines)
    assert any("knows only these" in line for line in lines)
