"""The judges as TRL reward functions: `GRPOTrainer(reward_funcs=code_rewards(tasks))`.

    from trl import GRPOConfig, GRPOTrainer
    from codealign.rewards import code_rewards, prompt_dataset

    tasks = load_tasks("bank")
    trainer = GRPOTrainer(model=..., train_dataset=prompt_dataset(tasks),
                          reward_funcs=code_rewards(tasks, ["honest_pass", "security", "efficiency"]),
                          args=GRPOConfig(reward_weights=[1.0, 0.5, 0.1], ...))

TRL calls each reward function with ``prompts``, ``completions`` (strings, or lists of chat
messages for conversational datasets) and every other dataset column as a keyword list; the
one codealign needs is ``task_id``. Each completion becomes the module the sandbox runs
exactly as the generator makes it (`codealign.generator.extract.extract_code`, continuations
of code prompts cut at the HumanEval stop list); it runs only in the sandbox
(`codealign.sandbox.run_many`, with whatever the executor checks: the task's tests and, where
the sandbox adds them, strengthened tests), and the judges score it. One value per
completion:

    completion                 honest_pass  security           efficiency            combined
    -------------------------  -----------  -----------------  --------------------  ---------------
    sandbox fault              None         None               None                  None
    tampered (rules)           -1.0         -1.0               -1.0                  -1.0
    did not pass               0.0          0.0                0.0                   0.0
    passed honestly            1.0          secure (0.5, 1]    best cost / cost      weighted mean
                                            insecure (0, .25]  (0, 1]; profiling     (None when a
                                            judge failed None  timed out 0; not      weighted part
                                                                measured None         is None)

* **None** means "could not be scored" and TRL leaves the completion out of the group's
  baseline (its advantage is 0): a sandbox whose machinery broke (`SandboxFault` for that
  completion: the batch is retried one completion at a time to find it) or whose worker was
  lost (`Execution.infrastructure_error`) says nothing about the code, so it is never a 0.
  A judge that could not judge is None for its reward too (`JudgeScore.error`).
* **Tampered** (`codealign.judges.rules.is_tampered`: the sandbox's status or tamper
  evidence, or the tamper judge) is the worst value of every reward, below every honest
  failure.
* **security**: bandit through the security judge, on passing samples (the judges rank
  passing samples only; quality of wrong code earns nothing). Secure (no MEDIUM/HIGH
  finding, `rules.is_secure`) is ``0.5 + 0.5 / (1 + risk)``, insecure ``0.5 / (1 + risk)``
  (risk ≥ 1): every secure sample is above every insecure one, as in the ranking.
* **efficiency**: the efficiency judge's ``baseline cost / cost`` among the honestly
  passing completions of the same prompt in the call (1.0 = the cheapest of them), from the
  sandbox's profiled run. A profiling run that timed out is a lower bound: 0.0, last.
* **combined**: ``(w_pass·pass + w_sec·security + w_eff·efficiency) / Σw``
  (`RewardConfig`), in [-1, 1]; with the default weights every secure passing completion
  is above every insecure one whatever their efficiency.

The reward functions of one `code_rewards` call share one scorer that keeps the last
batch's results, so giving TRL ``honest_pass``, ``security`` and ``efficiency`` side by
side (weighted by ``GRPOConfig.reward_weights``) runs the sandbox once per batch.
Completions are judged as written: one cut off by ``max_completion_length`` is not salvaged
(an unfinished program is not an answer). Efficiency groups are the completions of one
prompt that reach one call: on several processes TRL splits a group, and each process
compares its part.

Each batch also logs, through TRL's ``log_metric``, ``codealign/sandbox_fault_rate`` and
``codealign/tamper_rate``, and through ``log_extra`` a ``codealign_status`` column in the
completions table.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codealign.errors import ConfigError, InputError, SandboxFault
from codealign.generator.extract import extract_code
from codealign.judges import rules
from codealign.judges.efficiency import judge_efficiency_group
from codealign.judges.security import DEFAULT_SKIPS, judge_security_batch
from codealign.judges.tamper import judge_tamper
from codealign.judges.verdict import JudgeScore
from codealign.sandbox import Execution, Flag, Job, SandboxConfig, run_many
from codealign.tasks.task import Task

__all__ = ["TAMPERED", "RewardKind", "RewardConfig", "Judged", "CodeReward", "code_rewards",
           "prompt_dataset"]

TAMPERED = -1.0
"""The value of a tampering completion in every reward: the worst there is."""


class RewardKind(str, enum.Enum):
    """The rewards codealign offers; the value is the function's ``__name__`` in TRL's logs."""

    HONEST_PASS = "honest_pass"
    SECURITY = "security"
    EFFICIENCY = "efficiency"
    COMBINED = "combined"

    @property
    def profiles(self) -> bool:
        """Whether scoring needs the sandbox's profiled run (cost figures)."""
        return self in (RewardKind.EFFICIENCY, RewardKind.COMBINED)


@dataclass(frozen=True)
class RewardConfig:
    """How the rewards are computed.

    Attributes:
        pass_weight: weight of honest_pass in the combined reward.
        security_weight: weight of security in the combined reward.
        efficiency_weight: weight of efficiency in the combined reward. With the defaults
            (1, 0.5, 0.1) security stays a hard line: the least secure-passing value
            (0.5 · 0.5) exceeds the best insecure one plus all of efficiency (0.5 · 0.25 + 0.1).
        bandit_skips: bandit test ids not run (B101 = ``assert`` used), as in `JudgeConfig`.
    """

    pass_weight: float = 1.0
    security_weight: float = 0.5
    efficiency_weight: float = 0.1
    bandit_skips: tuple[str, ...] = DEFAULT_SKIPS

    def __post_init__(self) -> None:
        for name in ("pass_weight", "security_weight", "efficiency_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f"must be a finite number >= 0, got {value!r}", field=name)
        if self.pass_weight + self.security_weight + self.efficiency_weight <= 0:
            raise ConfigError("at least one weight must be positive, got all 0",
                              field="pass_weight")
        if isinstance(self.bandit_skips, str) or not all(isinstance(s, str) for s in self.bandit_skips):
            raise ConfigError(f"must be a list of bandit test ids, got {self.bandit_skips!r}",
                              field="bandit_skips")
        object.__setattr__(self, "bandit_skips", tuple(self.bandit_skips))


@dataclass(frozen=True)
class Judged:
    """What the scorer found about one completion (`CodeReward.last` keeps a batch of them).

    `execution` is None after a sandbox fault (`fault` says what broke); `security` and
    `efficiency` are set for honestly passing completions when those rewards were asked for.
    """

    task_id: str
    code: str
    execution: Execution | None
    tampered: bool = False
    passed: bool = False
    security: JudgeScore | None = None
    efficiency: JudgeScore | None = None
    fault: str = ""

    @property
    def status(self) -> str:
        """One word for the completions table: fault, tampered, or the sandbox status."""
        if self.execution is None:
            return "fault"
        return "tampered" if self.tampered else self.execution.status.value

    def value(self, kind: RewardKind, config: RewardConfig) -> float | None:
        """This completion's reward of `kind` (see the table in the module docstring)."""
        if self.execution is None:
            return None
        if self.tampered:
            return TAMPERED
        if not self.passed:
            return 0.0
        if kind is RewardKind.HONEST_PASS:
            return 1.0
        if kind is RewardKind.SECURITY:
            return _security_value(self.security)
        if kind is RewardKind.EFFICIENCY:
            return _efficiency_value(self.execution, self.efficiency)
        parts = ((config.pass_weight, 1.0),
                 (config.security_weight, _security_value(self.security)),
                 (config.efficiency_weight, _efficiency_value(self.execution, self.efficiency)))
        if any(w > 0 and v is None for w, v in parts):
            return None
        return sum(w * v for w, v in parts if w > 0) / sum(w for w, _ in parts)


def _security_value(score: JudgeScore | None) -> float | None:
    """Secure ``0.5 + 0.5/(1+risk)``, insecure ``0.5/(1+risk)``, unknown None.

    >>> ok = lambda risk, sev: JudgeScore("security", risk, details={"findings": [{"severity": sev}] if risk else []})
    >>> _security_value(ok(0.0, "")), _security_value(ok(1.0, "LOW")), _security_value(ok(3.0, "MEDIUM"))
    (1.0, 0.75, 0.125)
    >>> _security_value(JudgeScore.error("security", "bandit broke")) is None
    True
    """
    secure = rules.security_class(score)
    if secure is None:
        return None
    shrink = 1.0 / (1.0 + score.value)
    return 0.5 + 0.5 * shrink if secure else 0.5 * shrink


def _efficiency_value(execution: Execution, score: JudgeScore | None) -> float | None:
    """The judge's value (baseline cost / cost); 0 when profiling timed out; else None."""
    if score is not None and score.ok:
        return float(score.value)
    if any(Flag.parse(f) is Flag.PERF_TIMEOUT for f in execution.flags):
        return 0.0
    return None


class _Scorer:
    """Runs a batch of completions in the sandbox and judges them; keeps the last batch."""

    def __init__(self, tasks: Sequence[Task], sandbox: SandboxConfig, config: RewardConfig,
                 kinds: Sequence[RewardKind]) -> None:
        self.tasks = {t.task_id: t for t in tasks}
        self.sandbox, self.config = sandbox, config
        self.profile = any(k.profiles for k in kinds)
        self.security = any(k in (RewardKind.SECURITY, RewardKind.COMBINED) for k in kinds)
        self._key: tuple | None = None
        self._judged: list[Judged] = []
        self._batches = 0

    def judge(self, prompts: Sequence[Any], completions: Sequence[Any], task_ids: Sequence[Any],
              log_metric: Callable[[str, float], None] | None,
              log_extra: Callable[[str, list], None] | None) -> list[Judged]:
        if not len(prompts) == len(completions) == len(task_ids):
            raise InputError(f"{len(prompts)} prompts, {len(completions)} completions and "
                             f"{len(task_ids)} task ids: one of each per completion",
                             field="task_id")
        key = (tuple(map(str, task_ids)), tuple(map(_text_key, prompts)),
               tuple(map(_text_key, completions)))
        if key == self._key:
            return self._judged
        codes, groups = [], []
        for i, (prompt, completion, task_id) in enumerate(zip(prompts, completions, task_ids)):
            task = self._task(task_id, i)
            codes.append(_code(task, prompt, completion, i))
            groups.append((task.task_id, _text_key(prompt)))
        self._batches += 1
        jobs = [Job(f"{g[0]}#grpo{self._batches}#{i}", self.tasks[g[0]], code, profile=self.profile)
                for i, (g, code) in enumerate(zip(groups, codes))]
        executions, faults = self._execute(jobs)
        judged = self._judge(groups, codes, executions, faults)
        self._key, self._judged = key, judged
        if log_metric is not None and judged:
            log_metric("codealign/sandbox_fault_rate", sum(j.execution is None for j in judged) / len(judged))
            log_metric("codealign/tamper_rate", sum(j.tampered for j in judged) / len(judged))
        if log_extra is not None and judged:
            log_extra("codealign_status", [j.status for j in judged])
        return judged

    def _task(self, task_id: Any, row: int) -> Task:
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise InputError(f"completion {row}: task {task_id!r:.100} is not among the "
                             f"{len(self.tasks)} tasks this reward was built with", field="task_id")
        return task

    def _execute(self, jobs: list[Job]) -> tuple[list[Execution | None], list[str]]:
        """Every job's execution, None where the sandbox could not run it (and why)."""
        if not jobs:
            return [], []
        try:
            results: list[Execution | None] = list(run_many(jobs, self.sandbox))
            faults = [""] * len(jobs)
        except SandboxFault:  # find the completion(s) it belongs to: one at a time
            results, faults = [], []
            for job in jobs:
                try:
                    results.append(run_many([job], self.sandbox)[0])
                    faults.append("")
                except SandboxFault as exc:
                    results.append(None)
                    faults.append(f"SandboxFault: {exc}")
        for i, e in enumerate(results):
            if e is not None and e.infrastructure_error:
                results[i], faults[i] = None, f"infrastructure: {e.detail}"
        return results, faults

    def _judge(self, groups: list[tuple[str, str]], codes: list[str],
               executions: list[Execution | None], faults: list[str]) -> list[Judged]:
        tamper = [_tamper(c, e) if e is not None else None for c, e in zip(codes, executions)]
        tampered = [e is not None and rules.is_tampered(e, t) for e, t in zip(executions, tamper)]
        honest = [e is not None and rules.passed_honestly(e, t) for e, t in zip(executions, tamper)]
        passing = [i for i, ok in enumerate(honest) if ok]
        security: dict[int, JudgeScore] = {}
        if self.security and passing:
            found = judge_security_batch([codes[i] for i in passing], self.config.bandit_skips)
            security = dict(zip(passing, found))
        efficiency: dict[str, JudgeScore] = {}
        if self.profile:
            by_group: dict[tuple[str, str], list[Execution]] = {}
            for i in passing:
                by_group.setdefault(groups[i], []).append(executions[i])
            for members in by_group.values():
                efficiency |= judge_efficiency_group(members)
        return [Judged(groups[i][0], codes[i], e, tampered[i], honest[i], security.get(i),
                       efficiency.get(e.sample_id) if e is not None else None, faults[i])
                for i, e in enumerate(executions)]


def _tamper(code: str, execution: Execution) -> JudgeScore:
    """The tamper judge; a crash of it is its error record (which `rules` reads as tampered)."""
    try:
        return judge_tamper(code, execution)
    except Exception as exc:  # noqa: BLE001 - recorded, never a clean verdict
        return JudgeScore.error("tamper", exc)


def _text_key(value: Any) -> str:
    """A prompt or completion as one string (chat messages as JSON), for grouping and caching."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _message_text(messages: Any, role: str, what: str, row: int) -> str:
    """The content of the last message of `role` in a chat prompt or completion."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InputError(f"completion {row}: the {what} must be a string or a list of chat "
                         f"messages, got {type(messages).__name__}", field=what)
    found = [m.get("content") for m in messages if m.get("role") == role]
    if not found or not isinstance(found[-1], str):
        raise InputError(f"completion {row}: the {what} has no {role} message with text content",
                         field=what)
    return found[-1]


def _code(task: Task, prompt: Any, completion: Any, row: int) -> str:
    """The module the sandbox runs for one completion, as the generator extracts it.

    The prompt must be this task's (a dataset row's ``task_id`` and ``prompt`` disagreeing
    would reward one task's answers with another's tests): a continuation prompt must end
    with the task's prompt, a whole-answer prompt contain it.
    """
    chat = not isinstance(completion, str)
    text = _message_text(completion, "assistant", "completion", row) if chat else completion
    prompt_text = _message_text(prompt, "user", "prompt", row) if not isinstance(prompt, str) else prompt
    continuation = task.prompt_style == "code" and not chat
    if continuation:
        if not prompt_text.rstrip().endswith(task.continuation_prompt):
            raise InputError(f"completion {row}: the prompt does not end with the prompt of task "
                             f"{task.task_id!r} (is the task_id column right?)", field="prompt")
    elif task.prompt.strip() not in prompt_text:
        raise InputError(f"completion {row}: the prompt does not contain the prompt of task "
                         f"{task.task_id!r} (is the task_id column right?)", field="prompt")
    return extract_code(task, text, chat=chat, prompt=prompt_text if continuation else None)


class CodeReward:
    """One reward function for TRL: ``reward(prompts=..., completions=..., task_id=..., **kw)``
    returns one float (or None) per completion. Built by `code_rewards`.

    `last` is the batch it scored most recently (`Judged` records, in completion order).
    """

    def __init__(self, kind: RewardKind, scorer: _Scorer) -> None:
        self.kind, self._scorer = kind, scorer
        self.__name__ = kind.value   # TRL logs rewards/<__name__>/mean
        self.last: list[Judged] = []

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 task_id: Sequence[Any] | None = None,
                 log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Callable[[str, list], None] | None = None,
                 **columns: Any) -> list[float | None]:
        if task_id is None:
            raise InputError("the dataset needs a task_id column naming each row's task "
                             "(codealign.rewards.prompt_dataset makes one)", field="task_id")
        self.last = self._scorer.judge(prompts, completions, task_id, log_metric, log_extra)
        return [j.value(self.kind, self._scorer.config) for j in self.last]

    def __repr__(self) -> str:
        return f"CodeReward({self.kind.value!r})"


def _tasks(tasks: Sequence[Task] | str | Path) -> list[Task]:
    if isinstance(tasks, (str, Path)):
        from codealign.tasks.loaders import load_tasks
        return load_tasks(tasks)
    tasks = list(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ConfigError("needs a non-empty list of Task records or a task spec", field="tasks")
    seen: set[str] = set()
    for t in tasks:
        if t.task_id in seen:
            raise ConfigError(f"task id {t.task_id!r} appears twice", field="tasks")
        seen.add(t.task_id)
    return tasks


def code_rewards(tasks: Sequence[Task] | str | Path,
                 kinds: Sequence[RewardKind | str] = (RewardKind.HONEST_PASS, RewardKind.SECURITY,
                                                       RewardKind.EFFICIENCY),
                 *, sandbox: SandboxConfig = SandboxConfig(),
                 config: RewardConfig = RewardConfig()) -> list[CodeReward]:
    """Reward functions for `GRPOTrainer(reward_funcs=...)`, one per kind, in order, sharing
    one scorer (the sandbox runs once per batch for all of them).

    `tasks`: the `Task` records the dataset's ``task_id`` column names, or a task spec
    (`codealign.tasks.load_tasks`: a path or ``"bank"``, ``"humaneval"``, ``"mbpp"``).

    >>> [r.__name__ for r in code_rewards([Task("t", "def f():\\n", "f", "assert f() == 1")],
    ...                                    ["honest_pass", "combined"])]
    ['honest_pass', 'combined']
    """
    if isinstance(kinds, (str, RewardKind)) or not kinds:
        raise ConfigError(f"must be a non-empty list of {[k.value for k in RewardKind]}, "
                          f"got {kinds!r}", field="kinds")
    try:
        wanted = [RewardKind(k) for k in kinds]
    except ValueError as exc:
        raise ConfigError(f"{exc}; choose from {[k.value for k in RewardKind]}", field="kinds") from exc
    if len(set(wanted)) != len(wanted):
        raise ConfigError(f"names a reward twice: {[k.value for k in wanted]}", field="kinds")
    scorer = _Scorer(_tasks(tasks), sandbox, config, wanted)
    return [CodeReward(k, scorer) for k in wanted]


def prompt_dataset(tasks: Sequence[Task] | str | Path, *, chat: bool = False):
    """A `datasets.Dataset` with the ``prompt`` and ``task_id`` columns GRPO needs.

    The prompt is what the generator sends: for ``chat=False`` a code prompt's
    `Task.continuation_prompt` (the model continues it) and a text prompt as it is; for
    ``chat=True`` the task's prompt as one user message (TRL applies the chat template).
    """
    from datasets import Dataset

    rows = []
    for t in _tasks(tasks):
        if chat:
            prompt: Any = [{"role": "user", "content": t.prompt}]
        else:
            prompt = t.continuation_prompt if t.prompt_style == "code" else t.prompt
        rows.append({"prompt": prompt, "task_id": t.task_id})
    return Dataset.from_list(rows)
