"""One DPO round: TRL's `DPOTrainer` on a PEFT LoRA adapter, guarded against collapse.

The policy is the base model plus a LoRA adapter. Round 1 starts a fresh adapter; later
rounds continue training the previous round's adapter. The reference is never a second copy
of the model:

- ``reference: base`` — the base model with the adapter disabled (the fixed reference that
  RLHFlow found more stable);
- ``reference: previous`` — the previous round's adapter, frozen (iterative DPO with a moving
  reference); round 1 has no previous adapter, so its reference is the base;
- ``reference: initial`` — the run's first policy π₀, frozen for every round, as Online-RLHF's
  recipe keeps it: the adapter a run (or the first run of its lineage) started from, or the
  base when it started from the base (then the same as ``base``).

How, with TRL's public API only: the trainer is built on the *reference*: a fresh LoRA on the
base when the reference is the base (TRL then disables the adapter for reference passes), else
the reference adapter as a trainable `PeftModel`, which TRL copies into a frozen ``ref``
adapter. TRL takes (or precomputes) the reference log-probs from that while the policy adapter
(``default``) still holds the reference's weights; then the policy's own start, the previous
adapter, is loaded into ``default`` (`peft.set_peft_model_state_dict`). An adapter loaded over
another must have the same LoRA shape (rank, alpha, target modules).

``loss_type: [sigmoid, sft]`` is DPO plus an NLL term on the chosen completions (Pang et al.
2024, "Iterative Reasoning Preference Optimization"), weighted by ``loss_weights``.

Collapse guard (`CollapseGuard`): every logging step writes the rewards, margins, accuracies
and the policy's log-probability of the chosen completions to ``metrics.jsonl``, and stops
the round early, recording why, when

- the chosen completions' log-probability has fallen below the reference's by more than
  ``max_chosen_logp_drop`` nats per sequence (``-rewards/chosen / beta``): the policy is
  un-learning the good answers, the "parrot" failure of plain DPO; or
- the drift from the reference, ``(|rewards/chosen| + |rewards/rejected|) / (2 beta)``
  (mean absolute log-ratio per sequence, a proxy for the KL), exceeds ``max_drift``.

bf16 and gradient checkpointing are used on CUDA, fp32 without checkpointing on the CPU,
chosen from `torch.cuda.is_available()`. On the CPU a round is deterministic
(`codealign.trainer.determinism`: deterministic algorithms; the seeds of `TrainConfig.seed`
for the LoRA init and the data order, no dataloader workers): the same pairs give the same
adapter whatever the thread count.

Several processes (multi-GPU): the same code runs under ``accelerate launch`` (configs in
``configs/accelerate/``: DDP, DeepSpeed ZeRO-2), e.g. ``accelerate launch --config_file
configs/accelerate/ddp.yaml -m codealign train ...``; or set ``accelerate_config`` and
`train_round` launches it itself (so the loop needs no change). The effective batch,
``batch_size * grad_accumulation`` pairs per optimizer step, stays the same whatever the
number of processes: each process takes ``batch_size / N`` pairs per micro-step (or, when
``batch_size`` does not divide, ``grad_accumulation / N`` micro-steps). Only the main process
(rank 0) writes: ``metrics.jsonl``, the adapter, ``train.json``. The collapse guard decides
on metrics that TRL has already averaged over the processes, so every rank stops together.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, Strict

from codealign.errors import ConfigError, TrainerError
from codealign.jsonl import append_jsonl, read_jsonl, write_json
from codealign.stage_config import LISTED, Boolean, Integer, Number, Text, one_message, stage_config
from codealign.trainer.determinism import deterministic

__all__ = ["Reference", "TrainConfig", "TrainResult", "train_round", "build_trainer", "dpo_args",
           "read_metrics", "ADAPTER_DIR"]

ADAPTER_DIR = "adapter"

LossType = Literal["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
                   "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm"]
"""The loss types of TRL 1.16's DPOTrainer (trl/trainer/dpo_config.py)."""


class Reference(str, Enum):
    """What the DPO log-ratios are measured against."""

    BASE = "base"            # base model, adapter disabled (fixed across rounds)
    PREVIOUS = "previous"    # the previous round's adapter, frozen (moves every round)
    INITIAL = "initial"      # the run's (or lineage's) first policy, frozen (fixed across rounds)


def _steps(value: int) -> int:
    if value == 0 or value < -1:
        raise ValueError("must be -1 (all epochs) or a positive integer")
    return value


def _config_file(value: str) -> str:
    if not Path(value).is_file():
        raise ValueError("must be an existing accelerate config file or null")
    return value


_Positive = Annotated[Number, Field(gt=0)]
_Count = Annotated[Integer, Field(ge=1)]


@stage_config
class TrainConfig:
    """DPO settings for one round. Every field is checked at construction."""

    beta: _Positive = 0.1
    """Strength of the pull towards the reference: low learns fast and unstably, high learns nothing."""
    loss_type: Annotated[list[LossType], LISTED, Field(min_length=1)] = \
        field(default_factory=lambda: ["sigmoid", "sft"])
    """TRL loss types; ``[sigmoid, sft]`` is DPO + NLL on the chosen completions."""
    loss_weights: list[Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]] | None = None
    """One weight per loss type (None: all 1.0)."""
    learning_rate: _Positive = 5e-5
    epochs: _Positive = 1.0
    batch_size: _Count = 4
    grad_accumulation: _Count = 1
    max_length: _Count = 1024
    """Prompt + completion tokens kept per example (longer ones are truncated at the end)."""
    max_steps: Annotated[Integer, AfterValidator(_steps)] = -1
    """Stop after this many optimizer steps (-1: run all epochs)."""
    precompute_ref_log_probs: Boolean = False
    """Compute the reference log-probs once before training instead of every step."""
    lora_r: _Count = 16
    lora_alpha: _Positive = 32
    lora_dropout: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    lora_target_modules: Annotated[Annotated[list[Text], Field(min_length=1)] | Text, one_message(
        "must be 'all-linear', a module name or a non-empty list of module names")] = "all-linear"
    reference: Reference = Reference.BASE
    max_chosen_logp_drop: _Positive | None = 20.0
    """Stop when the chosen log-prob is this many nats per sequence below the reference's."""
    max_drift: _Positive | None = 40.0
    """Stop when the mean |log-ratio| per sequence (KL proxy) exceeds this many nats."""
    guard_after_steps: _Count = 1
    """The guards start acting after this many logged steps."""
    seed: Integer = 0
    accelerate_config: Annotated[str, AfterValidator(_config_file)] | None = None
    """An ``accelerate`` config file (e.g. ``configs/accelerate/ddp.yaml``): `train_round` then
    trains in that many processes through ``accelerate launch``. None: this process only."""

    def __post_init__(self) -> None:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ConfigError(f"must be one weight per loss type ({len(self.loss_type)}), got "
                              f"{self.loss_weights!r}", field="loss_weights")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reference"] = self.reference.value
        return d


@dataclass
class TrainResult:
    """What one round of training produced."""

    adapter_dir: str
    steps: int
    stopped_early: bool
    stop_reason: str
    metrics_path: str
    last_metrics: dict[str, float]
    train_tokens: int
    seconds: float
    tokens_per_s: float
    reference: str
    device: str
    dtype: str
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainResult":
        return cls(**d)


def _world() -> tuple[int, bool]:
    """(number of processes, whether this is the main one), from what ``accelerate launch`` sets."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")) == 0


def per_device_batch(config: TrainConfig, processes: int) -> tuple[int, int]:
    """(pairs per process per micro-step, micro-steps per optimizer step) that keep the effective
    batch ``batch_size * grad_accumulation`` over `processes` processes.

    >>> per_device_batch(TrainConfig(batch_size=8, grad_accumulation=1), 2)
    (4, 1)
    >>> per_device_batch(TrainConfig(batch_size=3, grad_accumulation=4), 2)
    (3, 2)
    """
    if config.batch_size % processes == 0:
        return config.batch_size // processes, config.grad_accumulation
    if config.grad_accumulation % processes == 0:
        return config.batch_size, config.grad_accumulation // processes
    raise TrainerError(f"the effective batch (batch_size {config.batch_size} x grad_accumulation "
                       f"{config.grad_accumulation}) cannot be split over {processes} processes: "
                       f"make batch_size or grad_accumulation a multiple of {processes}")


def _guard_metrics(logs: dict[str, float], beta: float) -> dict[str, float]:
    """Chosen log-prob change against the reference and the drift (KL proxy), in nats per sequence."""
    chosen, rejected = logs["rewards/chosen"], logs["rewards/rejected"]
    return {"chosen_logp_change": chosen / beta,
            "drift": (abs(chosen) + abs(rejected)) / (2 * beta)}


def _make_guard(config: TrainConfig, metrics_path: Path):
    """A TrainerCallback that logs every step to `metrics_path` and stops on collapse."""
    from transformers import TrainerCallback

    class CollapseGuard(TrainerCallback):
        def __init__(self) -> None:
            self.stop_reason = ""
            self.logged = 0
            self.last: dict[str, float] = {}

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "rewards/chosen" not in logs:
                return control          # the end-of-training summary, not a step
            self.logged += 1
            record = {"step": state.global_step, "epoch": state.epoch,
                      **{k: float(v) for k, v in logs.items() if isinstance(v, (int, float))},
                      **_guard_metrics(logs, config.beta)}
            self.last = record
            if state.is_world_process_zero:
                append_jsonl(metrics_path, [record])
            if self.logged < config.guard_after_steps or self.stop_reason:
                return control
            drop = -record["chosen_logp_change"]
            if config.max_chosen_logp_drop is not None and drop > config.max_chosen_logp_drop:
                self.stop_reason = (f"chosen log-prob fell {drop:.2f} nats/sequence below the reference "
                                    f"at step {state.global_step} (bound {config.max_chosen_logp_drop})")
            elif config.max_drift is not None and record["drift"] > config.max_drift:
                self.stop_reason = (f"drift from the reference {record['drift']:.2f} nats/sequence "
                                    f"at step {state.global_step} (bound {config.max_drift})")
            if self.stop_reason:
                control.should_training_stop = True
            return control

    return CollapseGuard()


def _step_callback(on_step: Callable[[int, int], None]):
    """A TrainerCallback calling `on_step(0, max_steps)` when training begins and
    `on_step(step, max_steps)` after each optimizer step."""
    from transformers import TrainerCallback

    class StepCallback(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            on_step(0, state.max_steps)
            return control

        def on_step_end(self, args, state, control, **kwargs):
            on_step(state.global_step, state.max_steps)
            return control

    return StepCallback()


def _load_pairs(pairs_path: Path, chat: bool) -> list[dict[str, Any]]:
    """TRL rows from pairs.jsonl; with `chat`, as one user turn and one assistant turn, so
    training sees the chat-templated text the generator sampled from."""
    rows = []
    for line, obj in read_jsonl(pairs_path):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(obj.get(key), str):
                raise TrainerError(f"{pairs_path}:{line}: pair has no text field {key!r}")
        if chat:
            rows.append({"prompt": [{"role": "user", "content": obj["prompt"]}],
                         "chosen": [{"role": "assistant", "content": obj["chosen"]}],
                         "rejected": [{"role": "assistant", "content": obj["rejected"]}]})
        else:
            rows.append({"prompt": obj["prompt"], "chosen": obj["chosen"], "rejected": obj["rejected"]})
    return rows


def dpo_args(config: TrainConfig, output_dir: str | Path, *, cuda: bool, precompute: bool,
             progress: bool = False):
    """TRL's `DPOConfig` for `config`: bf16 + gradient checkpointing on CUDA, fp32 on the CPU."""
    from trl import DPOConfig

    batch, accumulation = per_device_batch(config, _world()[0])
    return DPOConfig(
        output_dir=str(output_dir), report_to="none", save_strategy="no", logging_steps=1,
        disable_tqdm=not progress, seed=config.seed, data_seed=config.seed,
        learning_rate=config.learning_rate, num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
        beta=config.beta, loss_type=list(config.loss_type), loss_weights=config.loss_weights,
        max_length=config.max_length, precompute_ref_log_probs=precompute,
        bf16=cuda, gradient_checkpointing=cuda, use_cpu=not cuda,
        dataloader_num_workers=0,
    )


def _reference_adapter(config: TrainConfig, previous_adapter: Path | None,
                       initial_adapter: Path | None) -> Path | None:
    """The adapter the reference is (None: the adapter-disabled base)."""
    if config.reference is Reference.PREVIOUS:
        return previous_adapter
    if config.reference is Reference.INITIAL:
        return initial_adapter
    return None


_SHAPE = ("r", "lora_alpha", "target_modules", "use_rslora", "use_dora", "bias")


def save_adapter(model, adapter_dir: Path) -> None:
    """Save the ``default`` LoRA adapter of the PEFT `model`, byte for byte the same for the
    same weights: PEFT keeps ``target_modules`` (``all-linear`` resolved) as a set and writes
    it in hash order, which differs from one process to the next; it is written sorted."""
    lora = model.peft_config["default"]
    if isinstance(lora.target_modules, set):
        lora.target_modules = sorted(lora.target_modules)
    model.save_pretrained(str(adapter_dir), selected_adapters=["default"])


def _lora_config(adapter: Path):
    """The LoRA config of a saved adapter, trainable (`TrainerError` if it is not LoRA)."""
    from peft import LoraConfig, PeftConfig

    config = PeftConfig.from_pretrained(str(adapter))
    if not isinstance(config, LoraConfig):
        raise TrainerError(f"{adapter}: a {type(config).__name__} adapter; only LoRA adapters are trained")
    config.inference_mode = False
    return config


def _load_policy_start(model, adapter: Path, shape) -> None:
    """Load `adapter`'s weights into the trainable ``default`` adapter of `model` (whose LoRA
    config is `shape`)."""
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    theirs = _lora_config(adapter)
    differ = [f for f in _SHAPE if getattr(theirs, f) != getattr(shape, f)]
    if differ:
        raise TrainerError(f"{adapter} cannot be trained against this reference: its LoRA "
                           + ", ".join(f"{f} is {getattr(theirs, f)!r}, not {getattr(shape, f)!r}" for f in differ))
    loaded = set_peft_model_state_dict(model, load_peft_weights(str(adapter)), adapter_name="default")
    if loaded.unexpected_keys:
        raise TrainerError(f"{adapter}: weights the model has no place for: {loaded.unexpected_keys[:3]}")


def build_trainer(model: str | Path, pairs_path: str | Path, out_dir: str | Path,
                  config: TrainConfig, previous_adapter: str | Path | None = None,
                  chat: bool | None = None, progress: bool = False,
                  on_step: Callable[[int, int], None] | None = None,
                  initial_adapter: str | Path | None = None):
    """The `DPOTrainer` of one round (not yet trained) and its `CollapseGuard`.

    Arguments as for `train_round`. The trainer's model is a `PeftModel` whose ``default``
    adapter is the policy (starting from `previous_adapter`, or fresh); the reference is the
    adapter-disabled base, or TRL's frozen ``ref`` adapter holding the reference adapter (see
    the module docstring).
    """
    import datasets
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import DPOTrainer

    pairs_path, out = Path(pairs_path), Path(out_dir)
    previous = None if previous_adapter is None else Path(previous_adapter)
    initial = None if initial_adapter is None else Path(initial_adapter)
    if not read_jsonl(pairs_path):
        raise TrainerError(f"{pairs_path}: no preference pairs to train on")
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    if _world()[1]:
        metrics_path.unlink(missing_ok=True)    # a rerun after a crash starts the round over

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(config.seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model))
        base = AutoModelForCausalLM.from_pretrained(str(model), dtype=dtype)
    except OSError as exc:
        raise TrainerError(f"cannot load model {model}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = _load_pairs(pairs_path, bool(tokenizer.chat_template) if chat is None else chat)

    reference = _reference_adapter(config, previous, initial)
    if reference is not None and previous is None:
        raise TrainerError(f"reference: {config.reference.value} is the adapter {reference}, but the policy "
                           "has no adapter to start from (a run that starts from an adapter trains it)")
    peft_config = None
    if reference is None:            # a fresh LoRA (of the previous adapter's shape), base reference
        policy = base
        peft_config = _lora_config(previous) if previous is not None else LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha,  # type: ignore[arg-type]  # PEFT scales by a float alpha too
            lora_dropout=config.lora_dropout, target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
    else:                            # TRL copies this adapter into its frozen "ref"
        policy = PeftModel.from_pretrained(base, str(reference), is_trainable=True)
    args = dpo_args(config, out / "trainer", cuda=cuda, progress=progress,
                    precompute=config.precompute_ref_log_probs)
    guard = _make_guard(config, metrics_path)
    callbacks = [guard] if on_step is None else [guard, _step_callback(on_step)]
    if not progress:
        datasets.disable_progress_bars()
    trainer = DPOTrainer(model=policy, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)    # the per-step dicts go to metrics.jsonl instead
    if previous is not None and previous != reference:
        _load_policy_start(trainer.model, previous, trainer.model.peft_config["default"])
    return trainer, guard


def train_round(model: str | Path, pairs_path: str | Path, out_dir: str | Path,
                config: TrainConfig, previous_adapter: str | Path | None = None,
                chat: bool | None = None, progress: bool = False,
                on_step: Callable[[int, int], None] | None = None,
                initial_adapter: str | Path | None = None) -> TrainResult | None:
    """Train one DPO round on the TRL-format pairs in `pairs_path`; save the adapter to `out_dir/adapter`.

    `model` is the base model (local path or hub id). `previous_adapter` is the adapter of the
    last promoted policy, or None to start from the base. `initial_adapter` is the run's
    first policy (None: the base), the reference of ``reference: initial``. `chat` says whether the generator
    wrapped prompts in the chat template (None: iff the tokenizer has one, the generator's own
    rule), so the pairs are trained in the same form. Writes ``metrics.jsonl`` (one line
    per step) and ``train.json`` (the `TrainResult`) into `out_dir`. `on_step(step, max_steps)`
    is called when training begins (step 0) and after each optimizer step; an exception it raises
    (e.g. a cancel) stops training and propagates, and nothing is saved (it is not called when
    `accelerate_config` launches the processes). Under ``accelerate launch`` only the main
    process writes and returns the result; the others return None.
    """
    import torch

    out = Path(out_dir)
    processes, main = _world()
    if config.accelerate_config and processes == 1:
        return _launch(model, pairs_path, out, config, previous_adapter, chat, initial_adapter)
    adapter_dir = out / ADAPTER_DIR
    if adapter_dir.exists() and main:
        shutil.rmtree(adapter_dir)
    with deterministic(threads=None):
        trainer, guard = build_trainer(model, pairs_path, out, config, previous_adapter, chat, progress,
                                       on_step, initial_adapter)
        started = time.perf_counter()
        try:
            output = trainer.train()
        except torch.OutOfMemoryError as exc:
            raise TrainerError(f"out of memory while training: {exc}") from exc
        seconds = time.perf_counter() - started
    trainer.accelerator.wait_for_everyone()
    if not main:
        return None     # the main process reports

    save_adapter(trainer.model, adapter_dir)
    tokens = int(guard.last.get("num_tokens", 0))
    cuda = trainer.args.bf16
    result = TrainResult(
        adapter_dir=str(adapter_dir), steps=int(output.global_step),
        stopped_early=bool(guard.stop_reason), stop_reason=guard.stop_reason,
        metrics_path=str(out / "metrics.jsonl"),
        last_metrics={k: v for k, v in guard.last.items() if isinstance(v, float) and math.isfinite(v)},
        train_tokens=tokens, seconds=round(seconds, 3),
        tokens_per_s=round(tokens / seconds, 1) if seconds > 0 else 0.0,
        reference=(Reference.BASE.value if _reference_adapter(config, previous_adapter, initial_adapter) is None
                   else config.reference.value),
        device="cuda" if cuda else "cpu", dtype="bfloat16" if cuda else "float32",
        pairs=len(trainer.train_dataset))
    write_json(out / "train.json", result.to_dict())
    shutil.rmtree(out / "trainer", ignore_errors=True)
    return result


def _launch(model, pairs_path, out: Path, config: TrainConfig, previous_adapter, chat,
            initial_adapter) -> TrainResult:
    """`train_round` in the processes of `config.accelerate_config` (``accelerate launch``)."""
    out.mkdir(parents=True, exist_ok=True)
    settings = out / "dpo.json"
    write_json(settings, dataclasses.replace(config, accelerate_config=None).to_dict())
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(config.accelerate_config), "-m", "codealign", "train", "--model", str(model),
           "--pairs", str(pairs_path), "--out", str(out), "--dpo", str(settings)]
    if previous_adapter is not None:
        cmd += ["--previous-adapter", str(previous_adapter)]
    if initial_adapter is not None:
        cmd += ["--initial-adapter", str(initial_adapter)]
    if chat is not None:
        cmd += ["--chat" if chat else "--no-chat"]
    log = out / "launch.log"
    with open(log, "wb") as sink:
        done = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not (out / "train.json").is_file():
        tail = log.read_text(errors="replace")[-2000:]
        raise TrainerError(f"accelerate launch ({config.accelerate_config}) exited with "
                           f"{done.returncode}; the end of {log}:\n{tail}")
    settings.unlink()
    return TrainResult.from_dict(json.loads((out / "train.json").read_text()))


def read_metrics(metrics_path: str | Path) -> list[dict[str, Any]]:
    """The per-step records `train_round` wrote."""
    return [obj for _, obj in read_jsonl(metrics_path)]

