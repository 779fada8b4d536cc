"""The trainer: DPO rounds on a LoRA adapter (`dpo`), held-out evaluation (`evaluate`),
and the promotion gate (`gate`). Heavy libraries (torch, trl, peft) load inside functions."""

from codealign.trainer.dpo import Reference, TrainConfig, TrainResult, train_round
from codealign.trainer.evaluate import EvalConfig, EvalReport, Outcome, evaluate, pass_at_k, split_tasks
from codealign.trainer.gate import GateConfig, GateDecision, Objective, decide

__all__ = ["Reference", "TrainConfig", "TrainResult", "train_round", "EvalConfig", "EvalReport",
           "Outcome", "evaluate", "pass_at_k", "split_tasks", "GateConfig", "GateDecision",
           "Objective", "decide"]
