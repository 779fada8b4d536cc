"""The run config: one YAML file, every complaint before any work, naming the field path."""

from __future__ import annotations

import dataclasses
import doctest
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


@pytest.mark.parametrize("section, value, field, message", [
    ("sampling", {"n": 0}, "sampling.n", "must be ≥ 1, got 0"),                                 # a constraint
    ("sampling", {"n": "8"}, "sampling.n", "must be an integer, got '8'"),                      # a wrong type
    ("gate", {"reject_tag_regressions": "yes"}, "gate.reject_tag_regressions", "must be true or false, got 'yes'"),
    ("sampling", {"foo": 1}, "sampling.foo",                                                    # an unknown key
     "unknown field (known: chat, max_tokens, n, seed, stop, temperature, top_p)"),
    ("judges", {"order": ["security", "speed"]}, "judges.order[1]",                             # a list item
     "must be 'efficiency', 'security' or 'maintainability', got 'speed'"),
    ("allocation", {"weights": {"mixed": -1}}, "allocation.weights.mixed", "must be ≥ 0, got -1"),  # a mapping's
    ("allocation", {"weights": {"settled": 1}}, "allocation.weights.settled",
     "unknown state (known: new, unsolved, mixed, flagged, varied), got 'settled'"),
    ("pairs", {"efficiency_cpu_band": 1.2}, "pairs.efficiency_cpu_band",                        # a cross-field check
     "must be a number above 1 + min_efficiency_margin (1.5), got 1.2"),
    ("dpo", {"max_steps": 0}, "dpo.max_steps", "must be -1 (all epochs) or a positive integer, got 0"),
    ("dpo", {"lora_target_modules": 3}, "dpo.lora_target_modules",
     "must be 'all-linear', a module name or a non-empty list of module names, got 3"),
    ("evaluation", {"k": [1, 4, 99]}, "evaluation.k", "each k must be at most n_samples (16), got [1, 4, 99]"),
    ("sandbox", {"timeout_s": float("inf")}, "sandbox.timeout_s", "must be a finite number, got inf"),
])
def test_a_bad_section_value_reads_as_its_dotted_path(tmp_path, recipe, section, value, field, message):
    recipe[section] = {**(recipe.get(section) or {}), **value}
    path = _write(tmp_path, recipe)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.field == field
    assert str(err.value) == f"{path}: field {field}: {message}"


def test_a_section_key_that_is_no_string_is_an_unknown_field(tmp_path, recipe):
    recipe["replay"] = {1: 0.5}
    with pytest.raises(ConfigError, match=r"field replay\.1: unknown field \(known: lineage, seed, share\)"):
        load_config(_write(tmp_path, recipe))


def test_plain_data_holds_the_values_as_written(tmp_path, recipe):
    """Integers stay integers in float fields, lists come back as lists, enums as their values:
    the plain data hashed into the manifests is what it was before the configs were pydantic."""
    recipe["sampling"].update(temperature=1, stop=["\ndef"])
    recipe["dpo"].update(loss_type="sigmoid", loss_weights=[2])
    recipe["evaluation"].update(k=4)
    recipe["allocation"]["weights"] = {"mixed": 2}
    config = load_config(_write(tmp_path, recipe))
    assert isinstance(config.sampling.stop, tuple) and config.dpo.loss_type == ["sigmoid"]
    plain = config.section_dicts()
    assert json.dumps(plain["sampling"]["temperature"]) == "1" and plain["sampling"]["stop"] == ["\ndef"]
    assert plain["dpo"]["epochs"] == 7 and json.dumps(plain["dpo"]["epochs"]) == "7"       # demo.yaml's
    assert plain["dpo"]["loss_weights"] == [2.0] and json.dumps(plain["dpo"]["loss_weights"]) == "[2.0]"
    assert plain["evaluation"]["k"] == [4] and plain["allocation"]["weights"] == {"mixed": 2}
    assert plain["gate"]["objective"] == "composite" and plain["dpo"]["reference"] == "base"


def test_stage_configs_are_frozen_and_revalidated_on_replace():
    from codealign.generator import SamplingConfig

    config = SamplingConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n = 3  # type: ignore[misc]
    with pytest.raises(ConfigError, match="field n: must be ≥ 1, got 0"):
        dataclasses.replace(config, n=0)
    with pytest.raises(ConfigError, match="field temprature: unknown field"):
        SamplingConfig(temprature=1.0)  # type: ignore[call-arg]


def test_stage_config_doctests():
    import codealign.stage_config

    result = doctest.testmod(codealign.stage_config)
    assert result.attempted and not result.failed
