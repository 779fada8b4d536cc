"""Preference pairs from judged samples: a deterministic pure function.

`build_pairs(task, verdicts, config)` returns chosen/rejected pairs for one task:

* **correctness** — an honest passing sample (one the best-ranked sample does not clearly
  beat on any quality criterion) over one that failed, drawn round robin across failure
  modes (failed, error, timeout, memory, tampered), so the rejected side is not all the
  same kind of wrong;
* **security** — whenever a task has both a secure and an insecure passing sample (a
  MEDIUM/HIGH bandit finding, `codealign.judges.rules`): secure chosen, insecure rejected,
  whatever the margin or the other criteria (security is a hard line);
* **efficiency / security / maintainability** — between two passing samples, only when the
  margin clears `PairConfig`'s threshold for that reason (a negligible difference teaches
  noise), the chosen side is not clearly worse on another quality criterion, and for
  efficiency the measured CPU time does not contradict the operation count.

Rules that always hold:

* a tampered sample (sandbox status, tamper judge, or a tamper judge that could not look)
  is never chosen;
* an insecure sample (a bandit finding of medium or high severity) is never chosen, for any
  reason: when a task's only passing samples are insecure, it gets no correctness pair
  rather than one that teaches the insecure answer;
* a sample whose needed judge errored is left out of that reason's pairs;
* identical and AST-equivalent programs (same ``ast.dump`` once docstrings are removed;
  comments and whitespace never reach the AST) count once: the best-ranked copy stays;
* at most `max_pairs_per_task` pairs, taken round robin across reasons, largest margins first.

Margins are in each reason's natural unit: correctness = difference in the fraction of tests
passed (a tampered sample counts 0); efficiency = ``rejected_cost / chosen_cost - 1`` (the
efficiency judge's combined cost; when the rejected side's profiling ran past its budget, its
cost is a lower bound and so is the margin; a lower bound is never the chosen side of an
efficiency comparison);
security = bandit risk difference; maintainability = maintainability-index difference.

The pair text is what the model should produce after the prompt: for code prompts the
continuation of `Task.continuation_prompt` (the prompt without its trailing whitespace, so
that TRL's tokenization of prompt + completion keeps the prompt's tokens as a prefix, as the
sampler saw them), for text prompts the whole program.
"""

from __future__ import annotations

import ast
import enum
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codealign.errors import ConfigError
from codealign.judges.verdict import Verdict
from codealign.tasks.task import Task

__all__ = ["PairReason", "PairConfig", "Pair", "build_pairs", "completion_text", "code_key", "pair_id"]


class PairReason(str, enum.Enum):
    """Why the chosen side beat the rejected one; names the judge each reason needs."""

    CORRECTNESS = "correctness"
    EFFICIENCY = "efficiency"
    SECURITY = "security"
    MAINTAINABILITY = "maintainability"

    @property
    def judge(self) -> str | None:
        """The quality judge whose score decides this reason (None: the tests decide)."""
        return None if self is PairReason.CORRECTNESS else self.value


@dataclass(frozen=True)
class PairConfig:
    """How pairs are drawn from one task's verdicts.

    Attributes:
        min_correctness_margin: least difference in the fraction of tests passed (0-1].
        min_efficiency_margin: least relative cost saving: 0.5 = the rejected costs 1.5x as much.
        min_security_margin: least bandit risk difference (MEDIUM/HIGH finding = 3).
        min_maintainability_margin: least maintainability-index difference (0-100 scale).
        efficiency_cpu_veto: an efficiency pair is dropped when the chosen side's measured
            CPU time is more than this factor above the rejected side's: the operation count
            (Python line events) misses work done inside C builtins, and CPU time is the
            cross-check. Applies only when both CPU figures are at least `cpu_floor_s`.
        cpu_floor_s: CPU times below this (seconds) are too small to contradict anything.
        max_pairs_per_task: cap on pairs per task.
        seed: shuffles equal-ranked rejected samples within a failure mode, per task.
        reasons: which reasons produce pairs.
    """

    min_correctness_margin: float = 0.01
    min_efficiency_margin: float = 0.5
    min_security_margin: float = 2.0
    min_maintainability_margin: float = 10.0
    efficiency_cpu_veto: float = 1.25
    cpu_floor_s: float = 0.0005
    max_pairs_per_task: int = 8
    seed: int = 0
    reasons: tuple[PairReason, ...] = tuple(PairReason)

    def __post_init__(self) -> None:
        for reason in PairReason:
            name = f"min_{reason.value}_margin"
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"must be a positive number, got {value!r}", field=name)
        if not isinstance(self.efficiency_cpu_veto, (int, float)) or self.efficiency_cpu_veto < 1:
            raise ConfigError(f"must be a number >= 1, got {self.efficiency_cpu_veto!r}",
                              field="efficiency_cpu_veto")
        if not isinstance(self.cpu_floor_s, (int, float)) or self.cpu_floor_s < 0:
            raise ConfigError(f"must be a number >= 0, got {self.cpu_floor_s!r}",
                              field="cpu_floor_s")
        if self.min_correctness_margin > 1:
            raise ConfigError(f"must be in (0, 1], got {self.min_correctness_margin!r}",
                              field="min_correctness_margin")
        if not isinstance(self.max_pairs_per_task, int) or self.max_pairs_per_task < 1:
            raise ConfigError(f"must be a positive integer, got {self.max_pairs_per_task!r}",
                              field="max_pairs_per_task")
        if not isinstance(self.seed, int):
            raise ConfigError(f"must be an integer, got {self.seed!r}", field="seed")
        try:
            object.__setattr__(self, "reasons", tuple(PairReason(r) for r in self.reasons))
        except ValueError as exc:
            raise ConfigError(f"unknown reason in {self.reasons!r}", field="reasons") from exc

    def min_margin(self, reason: PairReason) -> float:
        return getattr(self, f"min_{reason.value}_margin")


def pair_id(prompt: str, chosen: str, rejected: str) -> str:
    """The stable id of a pair: a content hash of its three texts (24 hex digits). The same
    pair made in two rounds, runs or nights has the same id.

    >>> pair_id("p", "a", "b") == pair_id("p", "a", "b") != pair_id("p", "b", "a")
    True
    >>> pair_id("p", "ab", "c") == pair_id("p", "a", "bc")
    False
    """
    h = hashlib.sha256()
    for text in (prompt, chosen, rejected):
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class Pair:
    """One preference pair in TRL's format plus its provenance."""

    prompt: str
    chosen: str
    rejected: str
    task_id: str
    reason: PairReason
    margin: float
    chosen_verdict: Verdict
    rejected_verdict: Verdict

    @property
    def pair_id(self) -> str:
        """`pair_id` of the pair's texts."""
        return pair_id(self.prompt, self.chosen, self.rejected)

    def to_dict(self) -> dict[str, Any]:
        """A pairs.jsonl line: TRL's ``prompt``/``chosen``/``rejected`` plus provenance.

        The verdicts are summarised with a fixed set of keys (so that ``datasets`` infers one
        schema for the file); the full records are in verdicts.jsonl under the sample ids.
        ``provenance`` (what made the pair: policy, sampling, sandbox, judges) is the run's to
        know: the judge stage fills it in (`codealign.runs.provenance`); here it is None.
        """
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "pair_id": self.pair_id, "task_id": self.task_id, "reason": self.reason.value,
                "margin": round(float(self.margin), 6),
                "chosen_id": self.chosen_verdict.sample_id,
                "rejected_id": self.rejected_verdict.sample_id,
                "chosen_verdict": _summary(self.chosen_verdict),
                "rejected_verdict": _summary(self.rejected_verdict), "provenance": None}


def _summary(v: Verdict) -> dict[str, Any]:
    def value(name: str) -> float | None:
        s = v.score(name)
        return None if s is None else float(s.value)

    e = v.execution
    return {"sample_id": v.sample_id, "status": e.status.value, "tests_passed": e.tests_passed,
            "tests_total": e.tests_total, "rank": v.rank, "tampered": v.tampered,
            "efficiency": value("efficiency"), "ops": e.cost.ops,
            "perf_cpu_s": e.cost.perf_cpu_s, "security": value("security"),
            "maintainability": value("maintainability"), "explanation": v.explanation}


def completion_text(task: Task, code: str) -> str:
    """What the model should write after `task.continuation_prompt` to produce `code`.

    >>> t = Task("t", "def f(x):\\n", "f", "assert f(1) == 1", prompt_style="code")
    >>> completion_text(t, "def f(x):\\n    return x\\n")
    '\\n    return x\\n'
    """
    prefix = task.continuation_prompt
    if task.prompt_style == "code" and code.startswith(prefix):
        return code[len(prefix):]
    return code


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _strip


def code_key(code: str) -> str:
    """Equal for programs that differ only in docstrings, comments and layout.

    >>> code_key("def f(x):\\n    '''doc'''\\n    return x  # c\\n") == code_key("def f(x): return x")
    True
    """
    try:
        tree = _StripDocstrings().visit(ast.parse(code))
        return ast.dump(tree, annotate_fields=False, include_attributes=False)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "\0unparsed\0" + "\n".join(line.rstrip() for line in code.strip().splitlines())


def _margin(reason: PairReason, chosen: Verdict, rejected: Verdict) -> float | None:
    """How much better `chosen` is than `rejected` for `reason` (None: cannot say)."""
    if reason is PairReason.CORRECTNESS:
        lost = 0.0 if rejected.tampered else rejected.execution.fraction_passed
        return 1.0 - lost
    a, b = chosen.score(reason.judge), rejected.score(reason.judge)
    if a is None or b is None:
        return None
    if reason is PairReason.EFFICIENCY:
        # A lower bound on the rejected side's cost gives a lower bound on the margin; on
        # the chosen side it says nothing about which is cheaper.
        if a.details.get("lower_bound") is True:
            return None
        return b.details["cost_s"] / a.details["cost_s"] - 1.0
    if reason is PairReason.SECURITY:
        return b.value - a.value
    return a.value - b.value


def _cpu_contradicts(chosen: Verdict, rejected: Verdict, config: PairConfig) -> bool:
    """True when measured CPU time says the "more efficient" side is clearly slower."""
    a, b = chosen.execution.cost.perf_cpu_s, rejected.execution.cost.perf_cpu_s
    if a is None or b is None or min(a, b) < config.cpu_floor_s:
        return False
    return a > b * config.efficiency_cpu_veto


def _no_regression(reason: PairReason, chosen: Verdict, rejected: Verdict,
                   config: PairConfig) -> bool:
    """The chosen side must not be clearly worse on another quality criterion."""
    if reason is PairReason.EFFICIENCY and _cpu_contradicts(chosen, rejected, config):
        return False
    for other in (PairReason.EFFICIENCY, PairReason.SECURITY, PairReason.MAINTAINABILITY):
        if other is reason:
            continue
        reverse = _margin(other, rejected, chosen)
        if reverse is not None and reverse >= config.min_margin(other):
            return False
    return True


def build_pairs(task: Task, verdicts: Sequence[Verdict], config: PairConfig = PairConfig()) -> list[Pair]:
    """Chosen/rejected pairs for one task's ranked verdicts (see the module docstring).

    The result depends only on the arguments: same inputs, same pairs, same order.
    """
    if any(v.task_id != task.task_id for v in verdicts):
        raise ValueError(f"build_pairs got verdicts of other tasks than {task.task_id!r}")
    ordered = sorted(verdicts, key=lambda v: (v.rank if v.rank is not None else 1 << 30,
                                              v.sample_id))
    # Equal programs are one candidate, placed at the best rank among them and represented by
    # the lowest sample id among those that passed (if any did): their ranks differ only by
    # the noise of measured CPU time, which must not decide which sample a pair names.
    copies: dict[str, list[Verdict]] = {}
    for v in ordered:
        copies.setdefault(code_key(v.code), []).append(v)
    pool = [min(group, key=lambda v: (not v.passed, v.sample_id)) for group in copies.values()]
    good = [v for v in pool if v.passed]  # passed honestly: the only possible chosen side

    candidates: dict[PairReason, list[tuple[float, Verdict, Verdict]]] = {}
    if PairReason.CORRECTNESS in config.reasons:
        candidates[PairReason.CORRECTNESS] = _correctness_candidates(task, pool, good, config)
    for reason in config.reasons:
        if reason is PairReason.CORRECTNESS:
            continue
        found = []
        for i, a in enumerate(good):
            for b in good[i + 1:]:
                for chosen, rejected in ((a, b), (b, a)):
                    if chosen.secure is False:
                        continue
                    m = _margin(reason, chosen, rejected)
                    if reason is PairReason.SECURITY and chosen.secure is True \
                            and rejected.secure is False:
                        # the hard line: secure over insecure, whatever the margin or the
                        # other criteria say
                        found.append((max(m, 0.0), chosen, rejected))
                    elif m is not None and m >= config.min_margin(reason) \
                            and _no_regression(reason, chosen, rejected, config):
                        found.append((m, chosen, rejected))
        found.sort(key=lambda t: (-t[0], t[1].sample_id, t[2].sample_id))
        candidates[reason] = found

    # Round robin across reasons (in PairReason order), each list best first, under the cap;
    # each unordered pair of samples is used once.
    pairs: list[Pair] = []
    seen: set[frozenset[str]] = set()
    queues = [list(candidates[r]) for r in PairReason if r in candidates]
    reasons = [r for r in PairReason if r in candidates]
    while len(pairs) < config.max_pairs_per_task and any(queues):
        for reason, queue in zip(reasons, queues):
            while queue:
                margin, chosen, rejected = queue.pop(0)
                ids = frozenset((chosen.sample_id, rejected.sample_id))
                if ids in seen:
                    continue
                seen.add(ids)
                pairs.append(Pair(task.continuation_prompt, completion_text(task, chosen.code),
                                  completion_text(task, rejected.code), task.task_id, reason,
                                  margin, chosen, rejected))
                break
            if len(pairs) >= config.max_pairs_per_task:
                break
    return pairs




def _failure_mode(v: Verdict) -> str:
    return "tampered" if v.tampered else v.execution.status.value


def _correctness_candidates(task: Task, pool: Sequence[Verdict], good: Sequence[Verdict],
                            config: PairConfig) -> list[tuple[float, Verdict, Verdict]]:
    """Passing (best first, cycled) vs failing drawn round robin across failure modes."""
    if not good:
        return []
    rng = random.Random(int.from_bytes(
        hashlib.sha256(f"{config.seed}\0{task.task_id}".encode()).digest()[:8], "big"))
    modes: dict[str, list[Verdict]] = {}
    for v in pool:
        if not v.passed:
            modes.setdefault(_failure_mode(v), []).append(v)
    order = ["failed", "error", "timeout", "memory", "tampered"]
    queues = []
    for mode in sorted(modes, key=lambda m: (order.index(m) if m in order else len(order), m)):
        group = sorted(modes[mode], key=lambda v: v.sample_id)
        rng.shuffle(group)
        queues.append(group)
    rejected_order = []
    while any(queues):
        for q in queues:
            if q:
                rejected_order.append(q.pop(0))
    # The chosen side is cycled among the passing samples that the best one does not
    # clearly beat on any quality criterion: a correctness pair must not teach slow or
    # insecure code as "chosen".
    best = good[0]
    top = [v for v in good if _no_regression(PairReason.CORRECTNESS, v, best, config) and v.secure is not False]
    if not top:
        return []
    out = []
    for i, rejected in enumerate(rejected_order):
        chosen = top[i % len(top)]
        margin = _margin(PairReason.CORRECTNESS, chosen, rejected)
        if margin >= config.min_correctness_margin:
            out.append((margin, chosen, rejected))
    return out  # already in round-robin order; not re-sorted by margin
