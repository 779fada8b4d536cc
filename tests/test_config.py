"""The run config: one YAML file, every complaint before any work, naming the field path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from codealign.config import load_config, parse_config
from codealign.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _task_file(path: Path, n: int = 3) -> Path:
    lines = [json.dumps({"task_id": f"t{i}", "prompt": f"Return {i}.", "entry_point": "f",
                         "tests": f"assert f() == {i}\n"}) for i in range(n)]
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    return path


@pytest.fixture
def recipe(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    data.update(model=str(model), tasks=str(_task_file(tmp_path / "tasks.jsonl")),
                run_dir=str(tmp_path / "runs"))
    return data


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_committed_recipes_parse():
    for name in ("demo.yaml", "gpu-example.yaml"):
        config = load_config(ROOT / "configs" / name, check=False)
        assert config.rounds >= 1 and config.dpo.beta > 0


def test_valid_recipe_loads_with_overrides(tmp_path, recipe):
    config = load_config(_write(tmp_path, recipe), {"rounds": 1})
    assert config.rounds == 1 and config.dpo.loss_type == ["sigmoid", "sft"]
    assert config.section_dicts()["dpo"]["reference"] == "base"


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["dpo"].update(betta=0.2), "dpo.betta"),
    (lambda d: d.update(modle="x"), "modle"),
    (lambda d: d["sampling"].update(temprature=1.0), "sampling.temprature"),
    (lambda d: d["gate"].update(objective="speed"), "gate.objective"),
    (lambda d: d["sandbox"].update(backend="chroot"), "sandbox.backend"),
    (lambda d: d["dpo"].update(reference="grandparent"), "dpo.reference"),
    (lambda d: d["evaluation"].update(k=[1, 99]), "evaluation.k"),
    (lambda d: d["generator"].update(tensor_parallel=2), "generator.tensor_parallel"),
    (lambda d: d.update(backend="tgi"), "backend"),
    (lambda d: d.update(rounds=0), "rounds"),
    (lambda d: d.update(dpo=[1, 2]), "dpo"),
    (lambda d: d.pop("tasks"), "tasks"),
    (lambda d: d.update(allocation={"mode": "greedy"}), "allocation.mode"),
    (lambda d: d.update(allocation={"weights": {"settled": 2}}), "allocation.weights.settled"),
    (lambda d: d.update(replay={"share": 1.5}), "replay.share"),
    (lambda d: d.update(replay={"sahre": 0.5}), "replay.sahre"),
])
def test_bad_field_is_named_by_its_path(tmp_path, recipe, mutate, field):
    mutate(recipe)
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, recipe))
    assert err.value.field == field
    assert str(tmp_path / "run.yaml") in str(err.value)


@pytest.mark.parametrize("model", ["./no/such/model", "/abs/missing", "not a model"])
def test_missing_model_is_refused(tmp_path, recipe, model):
    recipe["model"] = model
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_config(_write(tmp_path, recipe))
    assert err.value.field == "model"


def test_hub_id_is_accepted_without_looking_it_up(tmp_path, recipe):
    recipe["model"] = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert load_config(_write(tmp_path, recipe)).model == recipe["model"]


def test_empty_task_set_is_refused(tmp_path, recipe):
    recipe["tasks"] = str(_task_file(tmp_path / "empty.jsonl", n=0))
    with pytest.raises(ConfigError, match="no tasks|is empty") as err:
        load_config(_write(tmp_path, recipe))
    assert err.value.field == "tasks"


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: x\ndpo:\n  beta: [1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line is not None


def test_parse_requires_a_mapping():
    with pytest.raises(ConfigError):
        parse_config([1, 2], "x.yaml")


def test_cli_prints_one_line_and_does_no_work(tmp_path, recipe):
    recipe["dpo"]["betta"] = 0.3
    path = _write(tmp_path, recipe)
    proc = subprocess.run([sys.executable, "-m", "codealign", "loop", "--config", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "dpo.betta" in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("rank, limit", [(8, 16), (16, 16), (24, 32), (64, 64)])
def test_vllm_lora_rank_limit_holds_the_trained_rank(tmp_path, recipe, rank, limit):
    recipe["dpo"]["lora_r"] = rank
    assert load_config(_write(tmp_path, recipe)).generator_kwargs()["max_lora_rank"] == limit
    recipe["generator"]["max_lora_rank"] = rank // 2
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, recipe))
    assert err.value.field == "generator.max_lora_rank"
