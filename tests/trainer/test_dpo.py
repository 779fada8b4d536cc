"""One DPO round on a tiny local policy: what moves, what the reference is, NLL vs plain DPO,
the collapse guard, and the saved adapter."""

from __future__ import annotations

import json

import pytest

from codealign.errors import ConfigError, TrainerError
from codealign.trainer.dpo import Reference, TrainConfig, build_trainer, read_metrics, train_round
from seeded_policy import seeded_policy, write_pairs


@pytest.fixture(scope="module")
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)     # two threads on a busy 2-core machine spin against each other
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def policy(tmp_path_factory, one_thread):
    return seeded_policy(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.jsonl")


@pytest.fixture(scope="module")
def round_one(policy, pairs, tmp_path_factory):
    """A trained round-1 adapter (the 'previous adapter' of round 2)."""
    config = TrainConfig(learning_rate=5e-3, epochs=2, batch_size=4, lora_r=8, lora_alpha=16)
    return train_round(policy, pairs, tmp_path_factory.mktemp("round-1"), config, chat=False)


def sequence_logps(model, batch):
    """Sum of the completion tokens' log-probs per sequence, computed here by hand."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    token = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (token * batch["completion_mask"][:, 1:]).sum(1)


def full_batch(trainer):
    import torch

    loader = torch.utils.data.DataLoader(trainer.train_dataset, batch_size=len(trainer.train_dataset),
                                         collate_fn=trainer.data_collator)
    return next(iter(loader))


def ref_logps(trainer, batch):
    import torch

    with torch.no_grad():
        chosen, rejected = trainer.compute_ref_log_probs(trainer.model, batch)
    return torch.cat([chosen, rejected])


@pytest.mark.slow
def test_lora_weights_move_and_base_weights_do_not(policy, pairs, tmp_path):
    trainer, _ = build_trainer(policy, pairs, tmp_path, TrainConfig(learning_rate=5e-3, max_steps=3,
                                                                    batch_size=4, lora_r=8), chat=False)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    base = [n for n in before if "lora_" not in n]
    assert lora and base
    assert all(not after[n].requires_grad for n in base)
    assert all(after[n].requires_grad for n in lora)
    moved = [n for n in lora if not (before[n] == after[n]).all()]
    assert len(moved) == len(lora), set(lora) - set(moved)
    assert all((before[n] == after[n]).all() for n in base)
    assert trainer.ref_model is None          # no second copy of the model


@pytest.mark.slow
def test_reference_is_the_adapter_disabled_base(policy, pairs, round_one, tmp_path):
    import torch

    trainer, _ = build_trainer(policy, pairs, tmp_path, TrainConfig(reference="base", lora_r=8),
                               previous_adapter=round_one.adapter_dir, chat=False)
    assert trainer.ref_model is None and set(trainer.model.peft_config) == {"default"}
    batch = full_batch(trainer)
    with torch.no_grad():
        with trainer.model.disable_adapter():
            base = sequence_logps(trainer.model, batch)
        policy_now = sequence_logps(trainer.model, batch)
    assert torch.allclose(ref_logps(trainer, batch), base, atol=1e-4)
    # The policy starts from the previous adapter, which really differs from the base.
    assert (policy_now - base).abs().max() > 1e-2


@pytest.mark.slow
def test_reference_is_the_previous_adapter(policy, pairs, round_one, tmp_path):
    import torch

    trainer, _ = build_trainer(policy, pairs, tmp_path, TrainConfig(reference="previous", lora_r=8),
                               previous_adapter=round_one.adapter_dir, chat=False)
    assert trainer.ref_model is None and set(trainer.model.peft_config) == {"default", "ref"}
    batch = full_batch(trainer)
    with torch.no_grad():
        previous = sequence_logps(trainer.model, batch)          # policy = previous adapter, untrained
        with trainer.model.disable_adapter():
            base = sequence_logps(trainer.model, batch)
    reference = ref_logps(trainer, batch)
    assert torch.allclose(reference, previous, atol=1e-4)
    assert (reference - base).abs().max() > 1e-2
    # Training moves the policy, not the frozen copy: the reference stays the previous adapter.
    trainer.train()
    assert torch.allclose(ref_logps(trainer, batch), previous, atol=1e-4)


@pytest.mark.slow
def test_precomputed_reference_with_previous_adapter_is_the_base(policy, pairs, round_one, tmp_path):
    import torch

    trainer, _ = build_trainer(policy, pairs, tmp_path,
                               TrainConfig(reference="base", precompute_ref_log_probs=True, lora_r=8),
                               previous_adapter=round_one.adapter_dir, chat=False)
    batch = full_batch(trainer)
    assert "ref_chosen_logps" in batch
    with torch.no_grad(), trainer.model.disable_adapter():
        base = sequence_logps(trainer.model, batch)
    precomputed = torch.cat([batch["ref_chosen_logps"], batch["ref_rejected_logps"]])
    assert torch.allclose(precomputed, base, atol=1e-4)


@pytest.fixture(scope="module")
def round_two(policy, pairs, round_one, tmp_path_factory):
    """Round one's adapter trained one more round (the policy of round 3, whose π₀ is round one's)."""
    config = TrainConfig(learning_rate=5e-3, epochs=2, batch_size=4, lora_r=8, lora_alpha=16, seed=1)
    return train_round(policy, pairs, tmp_path_factory.mktemp("round-2"), config,
                       previous_adapter=round_one.adapter_dir, chat=False)


def adapter_logps(policy, adapter, batch):
    """Sequence log-probs of `policy` + `adapter`, loaded on their own."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(policy), adapter)
    with torch.no_grad():
        return sequence_logps(model.eval(), batch)


@pytest.mark.slow
@pytest.mark.parametrize("precompute", [False, True])
def test_reference_is_the_initial_adapter(policy, pairs, round_one, round_two, tmp_path, precompute):
    import torch

    config = TrainConfig(reference="initial", lora_r=8, lora_alpha=16, precompute_ref_log_probs=precompute,
                         max_steps=2, batch_size=4)
    trainer, _ = build_trainer(policy, pairs, tmp_path, config, previous_adapter=round_two.adapter_dir,
                               initial_adapter=round_one.adapter_dir, chat=False)
    assert trainer.ref_model is None and set(trainer.model.peft_config) == {"default", "ref"}
    batch = full_batch(trainer)
    initial = adapter_logps(policy, round_one.adapter_dir, batch)
    with torch.no_grad():
        start = sequence_logps(trainer.model, batch)
    # The policy starts from round two's adapter; the reference is round one's.
    assert torch.allclose(start, adapter_logps(policy, round_two.adapter_dir, batch), atol=1e-4)
    assert (start - initial).abs().max() > 1e-2
    if precompute:
        reference = torch.cat([batch["ref_chosen_logps"], batch["ref_rejected_logps"]])
    else:
        reference = ref_logps(trainer, batch)
    assert torch.allclose(reference, initial, atol=1e-4)
    trainer.train()
    assert torch.allclose(ref_logps(trainer, batch), initial, atol=1e-4)


@pytest.mark.slow
def test_reference_initial_from_the_base_is_the_base(policy, pairs, round_one, tmp_path):
    result = train_round(policy, pairs, tmp_path, TrainConfig(reference="initial", lora_r=8, max_steps=1),
                         previous_adapter=round_one.adapter_dir, chat=False)
    assert result.reference == "base"
    with pytest.raises(TrainerError, match="no adapter to start from"):
        build_trainer(policy, pairs, tmp_path, TrainConfig(reference="initial"),
                      initial_adapter=round_one.adapter_dir, chat=False)


@pytest.mark.slow
def test_an_adapter_of_another_shape_is_refused(policy, pairs, round_one, tmp_path):
    from codealign.demo.tinymodel import make_random_lora

    other = make_random_lora(policy, tmp_path / "rank-4", rank=4)
    with pytest.raises(TrainerError, match="r is 8, not 4"):
        build_trainer(policy, pairs, tmp_path / "t", TrainConfig(reference="initial"),
                      previous_adapter=round_one.adapter_dir, initial_adapter=other, chat=False)


@pytest.mark.slow
def test_a_round_gives_the_same_adapter_with_another_thread_count(policy, pairs, round_one, tmp_path):
    import hashlib

    import torch

    config = TrainConfig(learning_rate=5e-3, max_steps=3, batch_size=4, lora_r=8, lora_alpha=16)
    digests = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            result = train_round(policy, pairs, tmp_path / f"t{threads}", config,
                                 previous_adapter=round_one.adapter_dir, chat=False)
        finally:
            torch.set_num_threads(1)
        digests.append(hashlib.sha256((tmp_path / f"t{threads}/adapter/adapter_model.safetensors")
                                      .read_bytes()).hexdigest())
        assert result.steps == 3
    assert digests[0] == digests[1]
    assert not torch.are_deterministic_algorithms_enabled()      # restored after training


@pytest.mark.slow
def test_nll_term_keeps_the_chosen_log_prob_from_falling(policy, pairs, tmp_path):
    """Same pairs, same steps: plain DPO (sigmoid) lowers the policy's log-prob of the chosen
    completions, DPO + NLL (sigmoid + sft) raises it (Pang et al. 2024)."""
    import torch

    change = {}
    for name, loss in (("dpo", ["sigmoid"]), ("dpo+nll", ["sigmoid", "sft"])):
        config = TrainConfig(loss_type=loss, beta=0.1, learning_rate=5e-3, epochs=5, batch_size=8,
                             lora_r=8, max_chosen_logp_drop=None, max_drift=None)
        trainer, _ = build_trainer(policy, pairs, tmp_path / name, config, chat=False)
        batch = full_batch(trainer)
        n = len(batch["input_ids"]) // 2
        with torch.no_grad(), trainer.model.disable_adapter():
            before = sequence_logps(trainer.model, batch)[:n]
        trainer.train()
        with torch.no_grad():
            after = sequence_logps(trainer.model, batch)[:n]
        change[name] = float((after - before).mean())
    assert change["dpo"] < 0 < change["dpo+nll"], change


@pytest.mark.slow
def test_collapse_guard_stops_the_round_and_says_why(policy, pairs, tmp_path):
    config = TrainConfig(loss_type=["sigmoid"], learning_rate=2e-2, epochs=10, batch_size=4, lora_r=8,
                         max_chosen_logp_drop=0.5, max_drift=None)
    result = train_round(policy, pairs, tmp_path, config, chat=False)
    assert result.stopped_early and "chosen log-prob fell" in result.stop_reason
    assert result.steps < 20
    steps = read_metrics(result.metrics_path)
    assert len(steps) == result.steps
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                "logps/chosen", "chosen_logp_change", "drift"):
        assert key in steps[-1]
    assert -steps[-1]["chosen_logp_change"] > 0.5
    assert json.loads((tmp_path / "train.json").read_text())["stop_reason"] == result.stop_reason


@pytest.mark.slow
def test_drift_guard(policy, pairs, tmp_path):
    config = TrainConfig(loss_type=["sigmoid", "sft"], learning_rate=2e-2, epochs=10, batch_size=4,
                         lora_r=8, max_chosen_logp_drop=None, max_drift=0.5)
    result = train_round(policy, pairs, tmp_path, config, chat=False)
    assert result.stopped_early and "drift from the reference" in result.stop_reason


@pytest.mark.slow
def test_round_adapter_is_saved_for_the_generator(policy, round_one):
    from pathlib import Path

    from codealign.generator.adapter import check_adapter

    adapter = Path(round_one.adapter_dir)
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    assert not (adapter / "ref").exists()
    check_adapter(adapter, str(policy), max_rank=16)
    assert round_one.device == "cpu" and round_one.dtype == "float32" and round_one.pairs == 8
    assert round_one.train_tokens > 0 and round_one.steps == 4


def test_no_pairs_is_an_error(tmp_path):
    empty = tmp_path / "pairs.jsonl"
    empty.write_text("")
    with pytest.raises(TrainerError, match="no preference pairs"):
        train_round("unused", empty, tmp_path / "out", TrainConfig())


@pytest.mark.parametrize("kwargs, field", [
    ({"beta": 0}, "beta"), ({"loss_type": ["sigmoid", "dpo"]}, "loss_type[1]"),
    ({"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]}, "loss_weights"),
    ({"learning_rate": -1}, "learning_rate"), ({"batch_size": 0}, "batch_size"),
    ({"reference": "parent"}, "reference"), ({"lora_dropout": 1.0}, "lora_dropout"),
    ({"max_chosen_logp_drop": -1}, "max_chosen_logp_drop"), ({"max_steps": 0}, "max_steps"),
    ({"lora_target_modules": []}, "lora_target_modules"),
])
def test_train_config_rejects(kwargs, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**kwargs)
    assert err.value.field == field


def test_train_config_defaults_are_dpo_plus_nll_against_the_base():
    config = TrainConfig()
    assert config.loss_type == ["sigmoid", "sft"] and config.reference is Reference.BASE
    assert TrainConfig(loss_type="sigmoid").loss_type == ["sigmoid"]


def test_a_saved_adapter_lists_its_target_modules_sorted(tiny_model_dir, tmp_path):
    """PEFT resolves ``all-linear`` to a set and writes it in hash order, which differs between
    processes (PYTHONHASHSEED): the same weights must make the same adapter files."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from codealign.trainer.dpo import save_adapter

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                           LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    modules = model.peft_config["default"].target_modules
    assert isinstance(modules, set) and len(modules) > 2
    save_adapter(model, tmp_path / "adapter")
    written = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["target_modules"]
    assert written == sorted(modules)
