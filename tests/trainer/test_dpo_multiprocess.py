"""DPO in two CPU processes (``accelerate launch``, gloo): the same adapter format as one
process, the same number of optimizer steps (the effective batch does not change), a finite
and sane loss, and only the main process writing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codealign.errors import TrainerError
from codealign.trainer.dpo import TrainConfig, per_device_batch, read_metrics, train_round
from seeded_policy import seeded_policy, write_pairs

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = dict(learning_rate=5e-3, epochs=1, batch_size=4, lora_r=8, lora_alpha=16,
                lora_target_modules=["q_proj", "v_proj"], max_length=64)


def test_effective_batch_is_split_over_processes_or_refused():
    assert per_device_batch(TrainConfig(batch_size=4), 1) == (4, 1)
    assert per_device_batch(TrainConfig(batch_size=4), 2) == (2, 1)
    assert per_device_batch(TrainConfig(batch_size=1, grad_accumulation=8), 4) == (1, 2)
    with pytest.raises(TrainerError, match="cannot be split over 3 processes"):
        per_device_batch(TrainConfig(batch_size=4, grad_accumulation=1), 3)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    return seeded_policy(base), write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.jsonl")


@pytest.fixture(scope="module")
def single(inputs, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("one-process")
        return out, train_round(inputs[0], inputs[1], out, TrainConfig(**SETTINGS), chat=False)
    finally:
        torch.set_num_threads(threads)


def _adapter_shapes(adapter: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(adapter / "adapter_model.safetensors", framework="pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def _check_like_single(out: Path, single) -> None:
    one_dir, one = single
    result = json.loads((out / "train.json").read_text())
    assert result["steps"] == one.steps == 2           # 8 pairs, effective batch 4, one epoch
    assert result["pairs"] == one.pairs == 8
    assert sorted(p.name for p in (out / "adapter").iterdir()) == \
        sorted(p.name for p in (one_dir / "adapter").iterdir())
    assert _adapter_shapes(out / "adapter") == _adapter_shapes(one_dir / "adapter")
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 8 and sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    metrics = read_metrics(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2]     # one line per step: rank 0 alone wrote
    for m in metrics:
        assert math.isfinite(m["loss"]) and 0 < m["loss"] < 5, m
    assert not (out / "trainer").exists()


@pytest.mark.slow
def test_two_cpu_processes_via_accelerate_launch(inputs, single, tmp_path):
    policy, pairs = inputs
    dpo = tmp_path / "dpo.json"
    dpo.write_text(json.dumps(SETTINGS))
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "codealign", "train", "--model", str(policy), "--pairs", str(pairs),
         "--out", str(out), "--dpo", str(dpo), "--no-chat"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.count(" steps on 8 pairs (cpu)") == 1   # one report, from rank 0
    _check_like_single(out, single)


@pytest.mark.slow
def test_train_round_launches_itself_from_an_accelerate_config(inputs, single, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    config = TrainConfig(**SETTINGS, accelerate_config=str(ROOT / "configs/accelerate/cpu-2proc.yaml"))
    result = train_round(inputs[0], inputs[1], tmp_path, config, chat=False)
    assert result is not None and result.device == "cpu"
    _check_like_single(tmp_path, single)
