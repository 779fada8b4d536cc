"""Preference pairs from judged samples: a deterministic pure function.

`build_pairs(task, verdicts, config)` returns chosen/rejected pairs for one task:

* **correctness** — an honest passing sample that no other passing sample beats (that is,
  would be chosen over in a quality pair; in a cycle of trade-offs, those beaten by the
  fewest), cycled in sample-id order, over one that failed, drawn round robin across failure
  modes (failed, error, timeout, memory, tampered), so the rejected side is not all the same
  kind of wrong;
* **security** — whenever a task has both a secure and an insecure passing sample (a
  MEDIUM/HIGH bandit finding, `codealign.judges.rules`): secure chosen, insecure rejected,
  whatever the margin or the other criteria (security is a hard line);
* **efficiency / security / maintainability** — between two passing samples, only when the
  difference is clear by that reason's rule (a negligible difference teaches noise) and the
  chosen side is not clearly worse on another quality criterion.

**Pairs do not move with the machine's speed or its noise.** Measured CPU time moves from run
to run (on a busy 2-core machine the same program's reading differed by up to 2.6× between two
runs of the demo, syscall-heavy code the most), so a threshold on it flips whichever pairs sit
near it, and with them training and everything after. The efficiency rule is therefore
`clearly_cheaper`, which decides on the deterministic operation count wherever that sees the
difference and lets measured cost decide alone only beyond a wide band:

* ``ops`` basis — the rejected side executes at least ``1 + min_efficiency_margin`` times the
  chosen side's line events, and at least `MIN_OPS_DIFFERENCE` more, and the combined cost
  (`codealign.judges.efficiency.cost_s`) does not point the other way (the chosen side's is at
  most ``efficiency_cpu_veto`` times the rejected's, by default 1): the op count misses work
  inside C builtins, and measured cost is the cross-check;
* ``cpu`` basis — otherwise, the combined cost alone, when the rejected side's is at least
  ``efficiency_cpu_band`` times the chosen side's (default 4×: wider than the noise, so it
  sees ``x in some_list`` against a set, 90–230× in the demo, and never a 1.5× wobble) and
  dearer by at least the time of `MIN_OPS_DIFFERENCE` plain line events at the run's own
  speed (`Calibration.op_s`, timed in each job): readings of a fraction of a microsecond
  (``x * x`` against ``x ** 2``) move tenfold between runs and say nothing;
* anything else — no efficiency decision either way: the two readings disagree, or the
  difference sits inside the noise.

Measured cost thus meets a threshold only at 1 on the ``ops`` basis (the readings agree on the
direction or they do not) and at the band on its own, far from where comparisons between a
task's samples sit; two samples that a static judge pairs are that judge's pair (security,
then maintainability; efficiency names only the pairs no static judge makes, and a secure
sample over an insecure one is always a security pair), so that measured cost never decides a
pair's reason. Margins that order the pairs are deterministic too: the op-count ratio on the ``ops`` basis,
the band on the ``cpu`` basis ("at least"); ties go to sample ids. Which samples are
candidates and which copy of equal programs is named never depends on the ranks (which
follow measured cost at a 10% tolerance, `codealign.judges.ranking`). Measured figures still
travel with each pair in its verdict summaries (the rank, the efficiency value, the CPU time).

**Regressions.** The chosen side must not be clearly worse on another criterion: clearly
dearer (`clearly_cheaper` the other way), ``min_security_margin`` more bandit risk, or
``min_maintainability_margin`` fewer maintainability-index points. For an **efficiency** pair
the last one counts only when the faster code is hard to maintain by radon's own scale — an
MI of rank C (below 10) or a block of cyclomatic complexity rank D or worse (above 20) that
the slower side does not have: radon's index falls with Halstead volume, so a closed form
(HumanEval/147) scores as less maintainable than the triple loop it replaces, and a clear
speed-up in code radon still ranks A is what the loop exists to teach.

Rules that always hold:

* a tampered sample (sandbox status, tamper judge, or a tamper judge that could not look)
  is never chosen;
* an insecure sample (a bandit finding of medium or high severity) is never chosen, for any
  reason: when a task's only passing samples are insecure, it gets no correctness pair
  rather than one that teaches the insecure answer;
* a sample whose needed judge errored is left out of that reason's pairs;
* identical and AST-equivalent programs (same ``ast.dump`` once docstrings are removed;
  comments and whitespace never reach the AST) count once: the lowest sample id among those
  that passed stays;
* at most `max_pairs_per_task` pairs, taken round robin across reasons, largest margins first.

Margins are in each reason's natural unit: correctness = difference in the fraction of tests
passed (a tampered sample counts 0); efficiency = the ratio on its basis minus 1 (``ops``:
rejected ops / chosen ops; ``cpu``: ``efficiency_cpu_band`` − 1, the least it can be; when the
rejected side's profiling ran past its budget, its figures are lower bounds and so is the
margin; a lower bound is never the chosen side of an efficiency comparison); security =
bandit risk difference; maintainability = maintainability-index difference.

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
from typing import Annotated, Any

from pydantic import Field

from codealign.errors import ConfigError
from codealign.judges.verdict import Verdict
from codealign.stage_config import Integer, Number, stage_config
from codealign.tasks.task import Task

__all__ = ["PairReason", "PairConfig", "Pair", "PairFault", "Basis", "Cheaper", "NoPair",
           "build_pairs", "check_pair", "clearly_cheaper", "why_no_pair", "pair_id",
           "completion_text", "code_key"]

# The op count decides only a difference of at least this many line events: in programs of a
# few lines the work is call overhead and C calls, which the count does not see.
MIN_OPS_DIFFERENCE = 100
# radon's own scale of "hard to maintain": maintainability-index rank C, cyclomatic rank D-F
HARD_MI = 10.0     # radon.metrics.mi_rank: C below 10
HARD_CC = 20       # radon.complexity.cc_rank: D and worse above 20


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


class Basis(str, enum.Enum):
    """What decided that one sample is clearly cheaper than another (`clearly_cheaper`)."""

    OPS = "ops"    # the deterministic op count, measured cost not pointing the other way
    CPU = "cpu"    # measured cost alone, beyond `PairConfig.efficiency_cpu_band`


class NoPair(str, enum.Enum):
    """The rule that stops a quality pair (`why_no_pair`)."""

    INSECURE_CHOSEN = "insecure-chosen"      # the chosen side has a medium/high bandit finding
    UNJUDGED = "unjudged"                    # a judge the reason needs gave no score
    MARGIN = "margin"                        # no clear difference (small, or inside the noise)
    CPU_DISAGREES = "cpu-disagrees"          # the op count sees it, measured cost points the other way
    LOWER_BOUND = "lower-bound"              # the chosen side's cost is only a lower bound
    EFFICIENCY_REGRESSION = "efficiency-regression"            # the chosen side is clearly dearer
    SECURITY_REGRESSION = "security-regression"                # ... clearly less secure
    MAINTAINABILITY_REGRESSION = "maintainability-regression"  # ... clearly less maintainable

    @classmethod
    def regression(cls, criterion: PairReason) -> "NoPair":
        return cls(f"{criterion.value}-regression")


@dataclass(frozen=True)
class Cheaper:
    """One sample is clearly cheaper than another: on what basis, by what margin (the ratio
    on that basis minus 1; ``cpu``: the band minus 1, the least it is). Deterministic: no
    measured figure enters the margin."""

    basis: Basis
    margin: float


@stage_config
class PairConfig:
    """How pairs are drawn from one task's verdicts.

    Attributes:
        min_correctness_margin: least difference in the fraction of tests passed (0-1].
        min_efficiency_margin: least relative saving the op count decides on: 0.5 = the
            rejected side executes 1.5x the chosen side's line events.
        min_security_margin: least bandit risk difference (MEDIUM/HIGH finding = 3).
        min_maintainability_margin: least maintainability-index difference (0-100 scale).
        efficiency_cpu_veto: an efficiency decision on the op count (``ops`` basis) is not
            made when the chosen side's combined cost is more than this factor above the
            rejected side's: the op count (Python line events) misses work done inside C
            builtins, and measured cost is the cross-check (1.0: it must not point the other
            way at all).
        efficiency_cpu_band: least factor of combined cost for measured cost alone to decide
            an efficiency comparison (``cpu`` basis), the op count not seeing it; wider than
            run-to-run CPU noise, so that no decision flips with it (module docstring).
        cpu_floor_s: no longer read (measured cost cross-checks the op count at every
            magnitude); kept so that the configs stored in earlier runs still load.
        max_pairs_per_task: cap on pairs per task.
        seed: shuffles equal-ranked rejected samples within a failure mode, per task.
        reasons: which reasons produce pairs.
    """

    min_correctness_margin: Annotated[Number, Field(gt=0, le=1)] = 0.01
    min_efficiency_margin: Annotated[Number, Field(gt=0)] = 0.5
    min_security_margin: Annotated[Number, Field(gt=0)] = 2.0
    min_maintainability_margin: Annotated[Number, Field(gt=0)] = 10.0
    efficiency_cpu_veto: Annotated[Number, Field(ge=1)] = 1.0
    efficiency_cpu_band: Number = 4.0
    cpu_floor_s: Annotated[Number, Field(ge=0)] = 0.0005
    max_pairs_per_task: Annotated[Integer, Field(ge=1)] = 8
    seed: Integer = 0
    reasons: tuple[PairReason, ...] = tuple(PairReason)

    def __post_init__(self) -> None:
        if not self.efficiency_cpu_band > 1 + self.min_efficiency_margin:
            raise ConfigError(f"must be a number above 1 + min_efficiency_margin "
                              f"({1 + self.min_efficiency_margin:g}), got {self.efficiency_cpu_band!r}",
                              field="efficiency_cpu_band")

    def min_margin(self, reason: PairReason) -> float:
        margin: float = getattr(self, f"min_{reason.value}_margin")
        return margin


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
    basis: Basis | None = None
    """Efficiency pairs: what decided (`clearly_cheaper`), and so the unit of `margin`; not a
    key of pairs.jsonl (`codealign.records.results.PairRow` has none)."""

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
        return None if s is None else float(s.number)

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


_Scoped = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node: _Scoped) -> ast.AST:
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


def clearly_cheaper(a: Verdict, b: Verdict, config: PairConfig) -> Cheaper | None:
    """Whether `a` is clearly cheaper than `b` (see the module docstring), else None.

    Needs both efficiency scores; a lower bound (profiling past its budget) on `a` says
    nothing, on `b` it can only understate the difference. Stable under CPU-time noise
    wherever the measured cost ratio is neither within noise of 1 (when the op count
    decides) nor within noise of the band (when it alone decides).

    >>> from codealign.judges.verdict import JudgeScore
    >>> from codealign.sandbox.execution import Cost, Execution, Status
    >>> def v(sid, ops, cpu):
    ...     e = Execution(sid, "t", Status.PASSED, 1, 1, cost=Cost(ops=ops, perf_cpu_s=cpu))
    ...     return Verdict(sid, "t", "", e, {"efficiency": JudgeScore("efficiency", 1.0,
    ...                    details={"ops": ops, "cost_s": cpu, "lower_bound": False})})
    >>> c = PairConfig()
    >>> clearly_cheaper(v("loop", 300, 2e-3), v("nested", 900, 2.4e-3), c)    # ops decides
    Cheaper(basis=<Basis.OPS: 'ops'>, margin=2.0)
    >>> clearly_cheaper(v("set", 900, 1e-4), v("list", 300, 2e-2), c)      # C-level work: cost
    Cheaper(basis=<Basis.CPU: 'cpu'>, margin=3.0)
    >>> clearly_cheaper(v("a", 300, 2e-3), v("b", 900, 1.5e-3), c) is None   # they disagree
    True
    >>> clearly_cheaper(v("a", 2, 2e-6), v("b", 2, 3.5e-6), c) is None        # inside the noise
    True
    >>> def w(sid, cpu):    # in a run whose jobs timed a line event at 30 ns
    ...     out = v(sid, 2, cpu)
    ...     out.scores["efficiency"].details["op_s"] = 3e-8
    ...     return out
    >>> clearly_cheaper(w("a", 1e-7), w("b", 1.1e-6), c) is None   # 11x, but 1 us: below 100 ops
    True
    >>> clearly_cheaper(w("a", 1e-7), w("b", 4e-5), c)
    Cheaper(basis=<Basis.CPU: 'cpu'>, margin=3.0)
    """
    found = _compare_cost(a, b, config)
    return found if isinstance(found, Cheaper) else None


def _compare_cost(a: Verdict, b: Verdict, config: PairConfig) -> Cheaper | NoPair:
    """`clearly_cheaper`, or the rule that says it is not."""
    sa, sb = a.score(PairReason.EFFICIENCY.value), b.score(PairReason.EFFICIENCY.value)
    if sa is None or sb is None:
        return NoPair.UNJUDGED
    if sa.details.get("lower_bound") is True:
        return NoPair.LOWER_BOUND
    cost = sb.details["cost_s"] / sa.details["cost_s"]
    ops = max(sb.details["ops"], 1) / max(sa.details["ops"], 1)
    ops_sees = ops >= 1 + config.min_efficiency_margin \
        and sb.details["ops"] - sa.details["ops"] >= MIN_OPS_DIFFERENCE
    if ops_sees and cost * config.efficiency_cpu_veto >= 1:
        return Cheaper(Basis.OPS, ops - 1)
    resolution = MIN_OPS_DIFFERENCE * (sa.details.get("op_s") or 0.0)   # unknown: the band alone
    if cost >= config.efficiency_cpu_band and sb.details["cost_s"] - sa.details["cost_s"] >= resolution:
        return Cheaper(Basis.CPU, config.efficiency_cpu_band - 1)
    return NoPair.CPU_DISAGREES if ops_sees else NoPair.MARGIN


def _correctness_margin(rejected: Verdict) -> float:
    """How much of the tests a passing sample wins over `rejected` (a tampered run wins all)."""
    lost = 0.0 if rejected.tampered else rejected.execution.fraction_passed
    return 1.0 - lost


def _margin(reason: PairReason, chosen: Verdict, rejected: Verdict) -> float | None:
    """How much better `chosen` is than `rejected` for correctness, security or
    maintainability (None: cannot say); efficiency is `clearly_cheaper`'s."""
    if reason is PairReason.CORRECTNESS:
        return _correctness_margin(rejected)
    a, b = chosen.score(reason.value), rejected.score(reason.value)  # (its judge)
    if a is None or b is None:
        return None
    if reason is PairReason.SECURITY:
        return b.number - a.number
    return a.number - b.number


def _clearly_better(reason: PairReason, chosen: Verdict, rejected: Verdict,
                    config: PairConfig) -> Cheaper | float | NoPair:
    """The margin by which `chosen` is clearly better for a quality `reason`, or the rule
    that says it is not."""
    if reason is PairReason.EFFICIENCY:
        return _compare_cost(chosen, rejected, config)
    m = _margin(reason, chosen, rejected)
    if m is None:
        return NoPair.UNJUDGED
    return m if m >= config.min_margin(reason) else NoPair.MARGIN


def _hard_to_maintain(v: Verdict, other: Verdict) -> bool:
    """Radon ranks `v` hard to maintain: MI rank C, or a block of CC rank D-F that `other`
    (the side it would replace) does not reach."""
    mine, theirs = v.score(PairReason.MAINTAINABILITY.value), other.score(PairReason.MAINTAINABILITY.value)
    if mine is None or theirs is None:
        raise ValueError(f"{v.sample_id} vs {other.sample_id}: maintainability was not judged")
    return mine.number < HARD_MI or (mine.details["cc_max"] > HARD_CC
                                    and mine.details["cc_max"] > theirs.details["cc_max"])


def _regression(reason: PairReason, chosen: Verdict, rejected: Verdict,
                config: PairConfig) -> PairReason | None:
    """The other quality criterion on which the chosen side is clearly worse, if any (for an
    efficiency pair, maintainability counts only where the faster code is hard to maintain)."""
    for other in (PairReason.EFFICIENCY, PairReason.SECURITY, PairReason.MAINTAINABILITY):
        if other is reason or isinstance(_clearly_better(other, rejected, chosen, config), NoPair):
            continue
        if reason is PairReason.EFFICIENCY and other is PairReason.MAINTAINABILITY \
                and not _hard_to_maintain(chosen, rejected):
            continue
        return other
    return None


def why_no_pair(reason: PairReason, chosen: Verdict, rejected: Verdict,
                config: PairConfig = PairConfig()) -> NoPair | None:
    """None when a quality pair `chosen` over `rejected` for `reason` passes the rules of
    `build_pairs` (before the cap, de-duplication and the security hard line), else the rule
    that stops it."""
    if chosen.secure is False:
        return NoPair.INSECURE_CHOSEN
    better = _clearly_better(reason, chosen, rejected, config)
    if isinstance(better, NoPair):
        return better
    worse = _regression(reason, chosen, rejected, config)
    return None if worse is None else NoPair.regression(worse)


def _beats(u: Verdict, v: Verdict, config: PairConfig) -> bool:
    """A quality pair `u` over `v` would form (the rules of `build_pairs`)."""
    if u.secure is True and v.secure is False:
        return True
    return any(why_no_pair(r, u, v, config) is None
               for r in (PairReason.EFFICIENCY, PairReason.SECURITY, PairReason.MAINTAINABILITY))


class PairFault(str, enum.Enum):
    """The rule a (chosen, rejected) pair of samples breaks (`check_pair`)."""

    REASON_OFF = "reason-off"              # the config draws no pairs of this reason
    CHOSEN_FAILS = "chosen-fails"          # the chosen side does not pass honestly
    CHOSEN_INSECURE = "chosen-insecure"    # the chosen side has a medium/high bandit finding
    REJECTED_PASSES = "rejected-passes"    # a correctness pair whose rejected side passes
    REJECTED_FAILS = "rejected-fails"      # a quality pair whose rejected side does not pass
    NO_MARGIN = "no-margin"                # the reason's margin is unknown or below its threshold
    REGRESSES = "regresses"                # the chosen side is clearly worse on another criterion


def check_pair(reason: PairReason, chosen: Verdict, rejected: Verdict,
               config: PairConfig = PairConfig()) -> PairFault | None:
    """The rule that `chosen` over `rejected` for `reason` breaks, or None when the pair obeys
    every rule `build_pairs` applies to one pair (it also picks, per task, which correctness
    pairs to make: its chosen side among the samples the best one does not clearly beat).
    Every pair `build_pairs` makes passes this check."""
    if reason not in config.reasons:
        return PairFault.REASON_OFF
    if not chosen.passed:
        return PairFault.CHOSEN_FAILS
    if chosen.secure is False:
        return PairFault.CHOSEN_INSECURE
    if reason is PairReason.CORRECTNESS:
        if rejected.passed:
            return PairFault.REJECTED_PASSES
        return None if _correctness_margin(rejected) >= config.min_correctness_margin else PairFault.NO_MARGIN
    if not rejected.passed:
        return PairFault.REJECTED_FAILS
    if reason is PairReason.SECURITY and chosen.secure is True and rejected.secure is False:
        return None    # the hard line: secure over insecure, whatever the margin or the rest
    why = why_no_pair(reason, chosen, rejected, config)
    if why is None:
        return None
    return PairFault.REGRESSES if why.value.endswith("-regression") else PairFault.NO_MARGIN


def build_pairs(task: Task, verdicts: Sequence[Verdict], config: PairConfig = PairConfig()) -> list[Pair]:
    """Chosen/rejected pairs for one task's verdicts (see the module docstring).

    The result depends only on the arguments, and not on the verdicts' order or ranks: same
    inputs, same pairs, same order.
    """
    if any(v.task_id != task.task_id for v in verdicts):
        raise ValueError(f"build_pairs got verdicts of other tasks than {task.task_id!r}")
    # Equal programs are one candidate, represented by the lowest sample id among those that
    # passed (if any did); candidates are taken in sample-id order, never in rank order (the
    # ranks follow measured cost, and its noise must not decide which sample a pair names).
    copies: dict[str, list[Verdict]] = {}
    for v in sorted(verdicts, key=lambda v: v.sample_id):
        copies.setdefault(code_key(v.code), []).append(v)
    pool = sorted((min(group, key=lambda v: (not v.passed, v.sample_id)) for group in copies.values()),
                  key=lambda v: v.sample_id)
    good = [v for v in pool if v.passed]  # passed honestly: the only possible chosen side

    candidates: dict[PairReason, list[tuple[float, Verdict, Verdict, Basis | None]]] = {}
    if PairReason.CORRECTNESS in config.reasons:
        candidates[PairReason.CORRECTNESS] = _correctness_candidates(task, pool, good, config)
    # Security, maintainability, then efficiency: two samples that a static judge already
    # pairs are that judge's pair, so that the measured cost never decides a pair's reason.
    static: set[tuple[str, str]] = set()
    for reason in (PairReason.SECURITY, PairReason.MAINTAINABILITY, PairReason.EFFICIENCY):
        if reason not in config.reasons:
            continue
        found: list[tuple[float, Verdict, Verdict, Basis | None]] = []
        for i, a in enumerate(good):
            for b in good[i + 1:]:
                for chosen, rejected in ((a, b), (b, a)):
                    if chosen.secure is False or (chosen.sample_id, rejected.sample_id) in static:
                        continue
                    if reason is PairReason.SECURITY and chosen.secure is True \
                            and rejected.secure is False:
                        # the hard line: secure over insecure, whatever the margin or the
                        # other criteria say
                        # (both were judged: secure is True or False only then)
                        found.append((max(_margin(reason, chosen, rejected) or 0.0, 0.0), chosen,
                                      rejected, None))
                        continue
                    if chosen.secure is True and rejected.secure is False:
                        continue   # a security pair, whatever else differs
                    if why_no_pair(reason, chosen, rejected, config) is None:
                        better = _clearly_better(reason, chosen, rejected, config)
                        if isinstance(better, Cheaper):
                            found.append((better.margin, chosen, rejected, better.basis))
                        elif isinstance(better, NoPair):  # why_no_pair said there was a margin
                            raise ValueError(f"{chosen.sample_id} over {rejected.sample_id}: "
                                             f"no {reason.value} margin ({better.value})")
                        else:
                            found.append((better, chosen, rejected, None))
        found.sort(key=lambda t: (-t[0], t[1].sample_id, t[2].sample_id))
        candidates[reason] = found
        static |= {(c.sample_id, r.sample_id) for _, c, r, _ in found}

    # Round robin across reasons (in PairReason order), each list best first, under the cap;
    # each unordered pair of samples is used once.
    pairs: list[Pair] = []
    seen: set[frozenset[str]] = set()
    queues = [list(candidates[r]) for r in PairReason if r in candidates]
    reasons = [r for r in PairReason if r in candidates]
    while len(pairs) < config.max_pairs_per_task and any(queues):
        for reason, queue in zip(reasons, queues):
            while queue:
                margin, chosen, rejected, basis = queue.pop(0)
                ids = frozenset((chosen.sample_id, rejected.sample_id))
                if ids in seen:
                    continue
                seen.add(ids)
                pairs.append(Pair(task.continuation_prompt, completion_text(task, chosen.code),
                                  completion_text(task, rejected.code), task.task_id, reason,
                                  margin, chosen, rejected, basis))
                break
            if len(pairs) >= config.max_pairs_per_task:
                break
    return pairs


def _failure_mode(v: Verdict) -> str:
    return "tampered" if v.tampered else v.execution.status.value


def _correctness_candidates(task: Task, pool: Sequence[Verdict], good: Sequence[Verdict],
                            config: PairConfig) -> list[tuple[float, Verdict, Verdict, Basis | None]]:
    """Unbeaten passing samples (cycled) vs failing ones drawn round robin across failure modes."""
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
    # The chosen side is cycled (in sample-id order) among the passing samples that no other
    # passing sample beats, i.e. would be chosen over in a quality pair: a correctness pair
    # must not teach slow, insecure or convoluted code as "chosen". Should every one be beaten
    # by another (a cycle of trade-offs), those beaten by the fewest.
    eligible = [v for v in good if v.secure is not False]
    if not eligible:
        return []
    beaten = {v.sample_id: sum(_beats(u, v, config) for u in good if u is not v) for v in eligible}
    fewest = min(beaten.values())
    top = [v for v in eligible if beaten[v.sample_id] == fewest]
    out: list[tuple[float, Verdict, Verdict, Basis | None]] = []
    for i, rejected in enumerate(rejected_order):
        chosen = top[i % len(top)]
        margin = _correctness_margin(rejected)
        if margin >= config.min_correctness_margin:
            out.append((margin, chosen, rejected, None))
    return out  # already in round-robin order; not re-sorted by margin
