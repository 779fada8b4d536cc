"""The judges' part of a pair's provenance: each side's raw scores, the judges' versions.

`raw_scores(verdict)` is what the sandbox and each judge measured of one sample, before
ranking (`codealign.records.provenance.RawScores`); `judge_source(...)` names the judging code
(codealign, bandit and radon versions, a hash of this package's sources) and its configs;
`task_source(...)` hashes what the task tested with. The run engine assembles them with the
round's policy, sampling and sandbox (`codealign.runs.provenance`).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import metadata
from pathlib import Path

from codealign.config import plain_data
from codealign.judges.pairs import PairConfig
from codealign.judges.ranking import JudgeConfig
from codealign.judges.verdict import Verdict
from codealign.records.provenance import JudgeSource, RawScores, TaskSource
from codealign.tasks.task import Task

__all__ = ["raw_scores", "judge_source", "task_source", "judges_code_hash", "text_hash"]


def text_hash(*parts: object) -> str:
    """``sha256`` of `parts` as canonical JSON (hex)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8", "surrogatepass")).hexdigest()


def raw_scores(v: Verdict) -> RawScores:
    """What the sandbox and every judge said of `v` (see `RawScores`)."""
    e = v.execution
    tamper, security = v.scores.get("tamper"), v.score("security")
    efficiency, mi = v.score("efficiency"), v.score("maintainability")
    reasons = tamper.details.get("reasons", []) if tamper is not None and tamper.ok else []
    findings = security.details.get("findings", []) if security is not None else []
    return RawScores(
        sample_id=v.sample_id, status=e.status.value, tests_passed=e.tests_passed, tests_total=e.tests_total,
        detail=e.detail, tampered=v.tampered,
        tamper_reasons=[f"{r.get('kind')}: {r.get('evidence')}" for r in reasons],
        secure=v.secure, bandit_risk=None if security is None else float(security.number),
        bandit_findings=[f"{f.get('test_id')}:{f.get('severity')}" for f in findings],
        cost_s=None if efficiency is None else efficiency.details.get("cost_s"),
        cost_lower_bound=None if efficiency is None else bool(efficiency.details.get("lower_bound")),
        ops=e.cost.ops, perf_cpu_s=e.cost.perf_cpu_s,
        mi=None if mi is None else float(mi.number), cc_max=None if mi is None else mi.details.get("cc_max"),
        judge_errors=[f"{name}: {s.details.get('error', '')}" for name, s in sorted(v.scores.items()) if not s.ok])


@cache
def judges_code_hash() -> str:
    """A hash of this package's sources: equal for the same judging code."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def judge_source(judge_config: JudgeConfig, pair_config: PairConfig) -> JudgeSource:
    """The judging code and configs of now."""
    from codealign import __version__

    return JudgeSource(codealign=__version__, bandit=_version("bandit"), radon=_version("radon"),
                       code_hash=judges_code_hash(),
                       config_hash=text_hash(plain_data(judge_config), plain_data(pair_config))[:16])


def task_source(task: Task, inputs_hash: str | None) -> TaskSource:
    """What `task` tested with; `inputs_hash`: its strengthened inputs' hash (None: none)."""
    return TaskSource(tests_hash=text_hash(task.tests, task.setup, task.entry_point)[:16],
                      reference_hash=None if task.reference is None else text_hash(task.reference)[:16],
                      inputs_hash=inputs_hash)
