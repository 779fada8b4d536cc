"""codealign.rewards: the judges as TRL reward functions, through the real sandbox (bwrap).

Unit tests score literal completions of one task; the last test trains the seeded tiny policy
for a few GRPO steps with these rewards on the CPU. Skipped where bwrap cannot run.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

import codealign.rewards as rewards_module
from codealign.errors import ConfigError, InputError, SandboxFault, SandboxUnavailable
from codealign.judges import rules
from codealign.rewards import TAMPERED, RewardConfig, RewardKind, code_rewards, prompt_dataset
from codealign.sandbox import Execution, SandboxConfig, Status
from codealign.sandbox.execution import Flag

sys.path.insert(0, str(Path(__file__).parent / "judges"))
from judge_fixtures import PROGRAMS, TASK  # noqa: E402

TASK = dataclasses.replace(TASK, perf_inputs=("(list(range(400)) * 3,)",
                                              "([i % 37 for i in range(2000)],)"))
KINDS = list(RewardKind)
SANDBOX = SandboxConfig(backend="bwrap", workers=2, synthesise_perf_inputs=False, repeats=3)
# Completions of the task's continuation prompt: the fixture programs, and ways to tamper.
COMPLETIONS = {name: code[len(TASK.continuation_prompt):] for name, code in PROGRAMS.items()
               if code.startswith(TASK.prompt)}
TAMPERING = {
    "forger": COMPLETIONS["forger"],                        # an always-equal object
    "exiter": "\n    import os\n    os._exit(0)\n",          # exit 0 before the tests finish
    "tracer": "\n    import sys\n    sys.settrace(None)\n    return list(dict.fromkeys(xs))\n",
}
COMPLETIONS |= TAMPERING


def score(names, kinds=KINDS, config=RewardConfig(), sandbox=SANDBOX):
    """{kind: values} for the fixture programs `names`, and the reward functions."""
    functions = code_rewards([TASK], kinds, sandbox=sandbox, config=config)
    completions = [COMPLETIONS[n] for n in names]
    prompts = [TASK.continuation_prompt] * len(names)
    try:
        values = {f.kind: f(prompts=prompts, completions=completions,
                            task_id=[TASK.task_id] * len(names)) for f in functions}
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    return values, functions


@pytest.fixture(scope="module")
def scored():
    names = ["fast", "slow", "insecure", "wrong", "crash", "forger"]
    values, functions = score(names)
    return {kind: dict(zip(names, v)) for kind, v in values.items()}, functions[0].last


def test_honest_pass_is_one_failing_zero(scored):
    values, judged = scored
    assert values[RewardKind.HONEST_PASS] == {"fast": 1.0, "slow": 1.0, "insecure": 1.0,
                                              "wrong": 0.0, "crash": 0.0, "forger": TAMPERED}
    for j in judged:  # the reward says what the rules say
        assert j.passed == rules.passed_honestly(j.execution, rewards_module.judge_tamper(j.code, j.execution))


@pytest.mark.parametrize("kind", KINDS)
def test_every_reward_ranks_honest_over_failing_over_tampered(scored, kind):
    v = scored[0][kind]
    assert min(v["fast"], v["slow"], v["insecure"]) > max(v["wrong"], v["crash"]) > v["forger"]
    assert v["forger"] == TAMPERED == min(v.values())


def test_security_secure_above_insecure(scored):
    v = scored[0][RewardKind.SECURITY]
    assert v["fast"] == v["slow"] == 1.0
    assert 0 < v["insecure"] <= 0.25   # pickle: B403 LOW + B301 MEDIUM


def test_efficiency_relative_to_the_other_completions(scored):
    v, judged = scored
    eff = v[RewardKind.EFFICIENCY]
    # 1.0 is the cheapest of the group (fast and insecure run the same algorithm); the
    # quadratic list membership does far more work
    assert max(eff["fast"], eff["insecure"]) == 1.0
    assert min(eff["fast"], eff["insecure"]) > 2 * eff["slow"] > 0
    by_code = {j.code: j for j in judged}
    slow = by_code[PROGRAMS["slow"]].efficiency
    assert slow.details["baseline_source"] == "best-sample"
    assert eff["slow"] == pytest.approx(slow.value)


def test_combined_is_the_weighted_mean(scored):
    v = scored[0]
    config = RewardConfig()
    total = config.pass_weight + config.security_weight + config.efficiency_weight
    for name in ("fast", "slow", "insecure"):
        expected = (config.pass_weight + config.security_weight * v[RewardKind.SECURITY][name]
                    + config.efficiency_weight * v[RewardKind.EFFICIENCY][name]) / total
        assert v[RewardKind.COMBINED][name] == pytest.approx(expected)
    assert v[RewardKind.COMBINED]["slow"] > v[RewardKind.COMBINED]["insecure"]  # security a hard line


@pytest.mark.parametrize("name", TAMPERING)
def test_tampering_completion_gets_the_lowest_reward(name):
    values, functions = score(["fast", "wrong", "crash", name])
    assert functions[0].last[3].tampered
    for kind, v in values.items():
        assert v[3] == TAMPERED < min(v[:3]), kind


def faulting_run_many(monkeypatch, marker: str, how: str):
    """Replace run_many in codealign.rewards: jobs whose code contains `marker` make the
    sandbox fault (`how="fault"`: SandboxFault raised for the whole call, as run_many does)
    or come back as a lost worker (`how="lost"`); the others run for real."""
    real = rewards_module.run_many
    calls = []

    def run_many(jobs, config=SandboxConfig(), **kw):
        calls.append(len(jobs))
        if how == "fault" and any(marker in j.code for j in jobs):
            raise SandboxFault("bwrap zygote failed: desync")
        out = real(jobs, config, **kw)
        return [Execution(j.sample_id, j.task.task_id, Status.ERROR, 0, e.tests_total,
                          detail="worker lost", flags=(Flag.INFRASTRUCTURE.text(),))
                if marker in j.code else e for j, e in zip(jobs, out)]

    monkeypatch.setattr(rewards_module, "run_many", run_many)
    return calls


@pytest.mark.parametrize("how", ["fault", "lost"])
def test_sandbox_fault_gives_none_never_zero(monkeypatch, how):
    calls = faulting_run_many(monkeypatch, "FAULT-ME", how)
    names = ["fast", "wrong", "forger"]
    functions = code_rewards([TASK], KINDS, sandbox=SANDBOX)
    completions = [COMPLETIONS[n] for n in names] + ["\n    return xs  # FAULT-ME\n"]
    logged = {}
    try:
        values = [f([TASK.continuation_prompt] * 4, completions, task_id=[TASK.task_id] * 4,
                    log_metric=logged.__setitem__, log_extra=logged.__setitem__, trainer_state=None)
                  for f in functions]
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    for v in values:
        assert v[3] is None
        assert v[0] > v[1] == 0.0 > v[2] == TAMPERED   # the others are scored for real
    judged = functions[0].last
    assert judged[3].execution is None and judged[3].fault
    assert logged["codealign/sandbox_fault_rate"] == 0.25
    assert logged["codealign_status"] == ["passed", "failed", "tampered", "fault"]
    # one batch for all four functions; a fault is found by running one completion at a time
    assert calls == ([4] if how == "lost" else [4, 1, 1, 1, 1])


def test_one_sandbox_run_per_batch_for_all_rewards(monkeypatch):
    calls = faulting_run_many(monkeypatch, "never-there", "lost")
    values, _ = score(["fast", "wrong"])
    assert len(values) == len(KINDS) and calls == [2]


def test_quality_judge_failure_is_none_not_zero(monkeypatch):
    monkeypatch.setattr(rewards_module, "judge_security_batch",
                        lambda codes, skips: [rewards_module.JudgeScore.error("security", "bandit broke")
                                              for _ in codes])
    values, _ = score(["fast", "wrong"])
    assert values[RewardKind.SECURITY] == [None, 0.0]
    assert values[RewardKind.COMBINED] == [None, 0.0]
    assert values[RewardKind.HONEST_PASS] == [1.0, 0.0]


def test_chat_completions_are_extracted_like_the_generator():
    functions = code_rewards([TASK], ["honest_pass"], sandbox=SANDBOX)
    prompt = [{"role": "user", "content": TASK.prompt}]
    answer = ("Here you go:\n```python\ndef dedupe(xs):\n    return list(dict.fromkeys(xs))\n\n"
              "print(dedupe([1, 1]))\n```\n")
    wrong = "```python\ndef dedupe(xs):\n    return xs\n```"
    try:
        values = functions[0]([prompt, prompt], [[{"role": "assistant", "content": answer}],
                                                 [{"role": "assistant", "content": wrong}]],
                              task_id=[TASK.task_id] * 2)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    assert values == [1.0, 0.0]
    assert "print(" not in functions[0].last[0].code


def test_bad_rows_are_named():
    reward = code_rewards([TASK], ["honest_pass"], sandbox=SANDBOX)[0]
    assert reward([], [], task_id=[], log_metric=lambda *a: pytest.fail("logged nothing")) == []
    with pytest.raises(InputError, match="task_id column"):
        reward([TASK.continuation_prompt], ["\n    return xs\n"])
    with pytest.raises(InputError, match="'nope' is not among the 1 tasks"):
        reward([TASK.continuation_prompt], ["\n    return xs\n"], task_id=["nope"])
    with pytest.raises(InputError, match="does not end with the prompt of task 'demo/dedupe'"):
        reward(["def other(x):"], ["\n    return x\n"], task_id=[TASK.task_id])
    with pytest.raises(InputError, match="no assistant message"):
        reward([[{"role": "user", "content": TASK.prompt}]], [[{"role": "user", "content": "x"}]],
               task_id=[TASK.task_id])


@pytest.mark.parametrize("kwargs, field", [
    ({"pass_weight": -1.0}, "pass_weight"), ({"efficiency_weight": float("nan")}, "efficiency_weight"),
    ({"pass_weight": 0, "security_weight": 0, "efficiency_weight": 0}, "pass_weight"),
    ({"bandit_skips": "B101"}, "bandit_skips")])
def test_config_is_validated(kwargs, field):
    with pytest.raises(ConfigError) as info:
        RewardConfig(**kwargs)
    assert info.value.field == field


def test_kinds_are_validated():
    with pytest.raises(ConfigError, match="choose from"):
        code_rewards([TASK], ["pass"])
    with pytest.raises(ConfigError, match="twice"):
        code_rewards([TASK], ["security", "security"])
    with pytest.raises(ConfigError, match="appears twice"):
        code_rewards([TASK, TASK], ["security"])


def test_doctests():
    import doctest

    result = doctest.testmod(rewards_module)
    assert result.attempted > 0 and result.failed == 0


def test_prompt_dataset_has_the_generator_prompts():
    rows = prompt_dataset([TASK]).to_list()
    assert rows == [{"prompt": TASK.continuation_prompt, "task_id": TASK.task_id}]
    chat = prompt_dataset([TASK], chat=True).to_list()
    assert chat[0]["prompt"] == [{"role": "user", "content": TASK.prompt}]


# ---------------------------------------------------------------------------------------------
# GRPOTrainer with these rewards, a few steps on the CPU


@pytest.mark.slow
def test_grpo_trains_a_tiny_policy_with_the_rewards(tmp_path_factory, monkeypatch):
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from codealign.tasks import load_tasks
    from seeded_policy import seeded_policy, write_tasks

    threads = torch.get_num_threads()
    torch.set_num_threads(1)    # two threads on a busy 2-core machine spin against each other
    try:
        policy = seeded_policy(tmp_path_factory.getbasetemp())
        tasks = load_tasks(write_tasks(tmp_path_factory.mktemp("grpo") / "tasks.jsonl"))
        calls = faulting_run_many(monkeypatch, "never-there", "lost")
        functions = code_rewards(tasks, ["honest_pass", "security", "efficiency"], sandbox=SANDBOX)
        steps = 3
        args = GRPOConfig(output_dir=str(tmp_path_factory.mktemp("grpo-out")), use_cpu=True,
                          max_steps=steps, per_device_train_batch_size=8, num_generations=4,
                          max_completion_length=20, learning_rate=5e-3, beta=0.0, temperature=1.0,
                          reward_weights=[1.0, 0.5, 0.1], logging_steps=1, report_to=[],
                          save_strategy="no", seed=0)
        model = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32)
        trainer = GRPOTrainer(model=model, processing_class=AutoTokenizer.from_pretrained(policy),
                              reward_funcs=functions, args=args, train_dataset=prompt_dataset(tasks),
                              peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                     task_type="CAUSAL_LM"))
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        try:
            trainer.train()
        except SandboxUnavailable as exc:
            pytest.skip(f"bwrap sandbox unavailable: {exc}")
    finally:
        torch.set_num_threads(threads)

    logs = [h for h in trainer.state.log_history if "rewards/honest_pass/mean" in h]
    assert len(logs) == steps and calls == [8] * steps   # one sandbox batch per step, shared
    assert all(f"rewards/{f.__name__}/mean" in h for h in logs for f in functions)
    assert all(h["codealign/sandbox_fault_rate"] == 0 for h in logs)
    assert any(h["reward_std"] > 0 for h in logs)        # the group had something to learn from
    judged = functions[0].last
    assert len(judged) == 8 and all(j.execution is not None for j in judged)
    assert {j.status for j in judged} <= {"passed", "failed", "error"}
    moved = [n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])]
    assert moved and all("lora_" in n for n in moved)     # the adapter learned, the base did not
