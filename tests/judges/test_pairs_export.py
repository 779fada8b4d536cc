"""pairs.jsonl as written by `codealign judge` is TRL preference data as is."""

from __future__ import annotations

import pytest

from codealign.jsonl import write_jsonl
from codealign.judges import judge_executions
from codealign.judges.pairs import PairConfig
from judge_fixtures import PROGRAMS, REFERENCE, TASK, executions, samples


@pytest.fixture()
def pairs_file(tmp_path):
    _, pairs, _ = judge_executions([TASK], samples(tuple(PROGRAMS)), executions(tuple(PROGRAMS)),
                                   {TASK.task_id: REFERENCE},
                                   pair_config=PairConfig(max_pairs_per_task=50))
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, (p.to_dict() for p in pairs))
    return path, pairs


def test_pairs_jsonl_loads_with_datasets(pairs_file):
    from datasets import load_dataset

    path, pairs = pairs_file
    ds = load_dataset("json", data_files=str(path), split="train")
    assert len(ds) == len(pairs) >= 4
    assert {"prompt", "chosen", "rejected", "task_id", "reason", "margin", "chosen_verdict",
            "rejected_verdict"} <= set(ds.column_names)
    assert ds[0]["prompt"] == TASK.continuation_prompt and ds[0]["chosen"] == pairs[0].chosen
    assert set(ds["reason"]) == {"correctness", "efficiency", "security", "maintainability"}


@pytest.mark.slow
def test_dpo_trainer_takes_one_step_on_pairs_jsonl(pairs_file, tiny_model_dir, tmp_path):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    path, _ = pairs_file
    ds = load_dataset("json", data_files=str(path), split="train")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = DPOConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2,
                     gradient_accumulation_steps=1, learning_rate=1e-3, report_to=[],
                     logging_steps=1, save_strategy="no", use_cpu=True, bf16=False,
                     max_length=256)
    trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 1
    assert any(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters())
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses and all(loss == loss for loss in losses)  # logged and not NaN
