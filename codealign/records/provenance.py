"""What made a preference pair: the ``provenance`` of each line of ``round-k/judge/pairs.jsonl``.

A pair is only as good as what decided it. `PairProvenance` records, for every pair the
judge stage (or ``codealign runs rejudge``) writes:

- the **policy** that sampled both sides: its name, the base model (id or path) and its
  revision (the hub commit of the cached snapshot, or the content hash of a local model
  directory), and the LoRA adapter's content hash (None: the base model itself);
- the **sampling** parameters and the round's seed (prompt ``i`` is sampled with seed + i);
- the **sandbox** that ran the tests: backend, executor, interpreter, the Docker image and
  its digest or the bubblewrap version, and a hash of the whole sandbox config (its limits);
- the **task**'s tests (a hash of its tests, setup and entry point), its reference and the
  strengthened inputs it was tested on (differential testing's cases, from the execute
  stage's ``inputs.json``; None for a round made without them);
- the **judges**: the versions of codealign, bandit and radon, a hash of the judging code
  (`codealign.judges`) and of the judge and pair configs;
- each side's **raw scores**: what every judge measured before ranking (`RawScores`).

A round's pairs share everything but the task and the raw scores. Every field is always
present (None where unknown), so ``datasets`` infers one schema for the file. Pairs written
before provenance have none (`PairRow.provenance` is None).
"""

from __future__ import annotations

from dataclasses import dataclass

from codealign.records.codec import Record

__all__ = ["PROVENANCE_SCHEMA", "PolicySource", "SamplingSource", "SandboxSource", "TaskSource",
           "JudgeSource", "RawScores", "PairProvenance"]

PROVENANCE_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class PolicySource(Record):
    """The policy that sampled the pair's programs."""

    name: str
    """``base``, ``round-k``, or a lineage's policy (``parent/round-k``)."""
    model: str
    """The base model: a hub id or a local path."""
    model_revision: str | None
    """The hub commit of the cached snapshot, or ``sha256:<hex>`` of a local model directory's
    files (None: neither could be found)."""
    adapter_hash: str | None
    """Content hash of the LoRA adapter sampled with (None: the base model itself)."""


@dataclass(frozen=True, kw_only=True)
class SamplingSource(Record):
    """How the programs were sampled (`codealign.generator.SamplingConfig` of the round)."""

    backend: str
    """The generator backend: ``vllm``, ``hf`` or ``openai``."""
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str]
    chat: bool | None
    seed: int | None
    """The round's base seed (the config's seed + 100003 × round); prompt i is sampled with seed + i."""


@dataclass(frozen=True, kw_only=True)
class SandboxSource(Record):
    """The sandbox the tests ran in."""

    backend: str
    """``bwrap``, ``docker`` or ``unsafe-no-isolation``."""
    executor: str
    """``local`` or ``ray``."""
    python: str
    """The interpreter inside the sandbox."""
    image: str | None
    """The Docker image (docker backend only)."""
    image_digest: str | None
    """The image's id (``sha256:...``) when it was judged (None: not docker, or no engine)."""
    bwrap_version: str | None
    """``bwrap --version`` when it was judged (None: not bwrap, or not installed)."""
    config_hash: str
    """Hash of the whole sandbox config (limits, repeats, timeouts)."""


@dataclass(frozen=True, kw_only=True)
class TaskSource(Record):
    """What the pair's task tested the programs with."""

    tests_hash: str
    """Hash of the task's tests, setup and entry point."""
    reference_hash: str | None
    """Hash of the reference solution (the efficiency baseline and differential oracle), if any."""
    inputs_hash: str | None
    """Hash of the task's strengthened inputs (its entry in the execute stage's ``inputs.json``);
    None: the round was executed without them."""


@dataclass(frozen=True, kw_only=True)
class JudgeSource(Record):
    """The judges that ranked the programs."""

    codealign: str
    bandit: str | None
    radon: str | None
    code_hash: str
    """Hash of the judging code (the sources of `codealign.judges`)."""
    config_hash: str
    """Hash of the run's judge and pair configs."""


@dataclass(frozen=True, kw_only=True)
class RawScores(Record):
    """One side's figures, as the sandbox and each judge measured them (before ranking)."""

    sample_id: str
    status: str
    """The sandbox's status (`codealign.sandbox.execution.Status`)."""
    tests_passed: int
    tests_total: int
    detail: str
    """The sandbox's note on the first failure (empty when every test passed)."""
    tampered: bool
    """`codealign.judges.rules.is_tampered`."""
    tamper_reasons: list[str]
    """The tamper judge's findings, ``kind: evidence``."""
    secure: bool | None
    """`codealign.judges.rules.security_class` (None: the scan failed)."""
    bandit_risk: float | None
    bandit_findings: list[str]
    """``test_id:SEVERITY`` per bandit finding."""
    cost_s: float | None
    """The efficiency judge's combined cost (None: not measured)."""
    cost_lower_bound: bool | None
    """The cost is a lower bound (profiling ran past its budget)."""
    ops: int | None
    perf_cpu_s: float | None
    mi: float | None
    """Radon's maintainability index."""
    cc_max: int | None
    """Radon's largest cyclomatic complexity."""
    judge_errors: list[str]
    """Judges that could not judge this side (``name: error``)."""


@dataclass(frozen=True, kw_only=True)
class PairProvenance(Record):
    """Everything that made one pair (see the module docstring)."""

    schema_version: int = PROVENANCE_SCHEMA
    policy: PolicySource
    sampling: SamplingSource
    sandbox: SandboxSource
    task: TaskSource
    judges: JudgeSource
    chosen: RawScores
    rejected: RawScores
