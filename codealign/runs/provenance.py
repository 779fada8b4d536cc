"""The provenance of a round's pairs (`codealign.records.provenance`), assembled from the round.

The policy, its sampling parameters and seed come from the sample stage's manifest (what it
was run with); the model's revision is asked of the model's files (`model_revision`); the
sandbox is the run's (its config as the execute stage hashed it, the bubblewrap version or
the Docker image digest of this machine, `codealign.sandbox.identity`); the strengthened
inputs are the execute stage's ``inputs.json`` when it wrote one; the judges are this code's
(`codealign.judges.provenance`). `pair_rows` puts it on each pair, with the task's part and
both sides' raw scores.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from codealign.config import RunConfig, plain_data
from codealign.records import PairRow
from codealign.records.provenance import (JudgeSource, PairProvenance, PolicySource, SamplingSource,
                                          SandboxSource)

__all__ = ["RoundSources", "round_sources", "pair_rows", "model_revision", "inputs_hashes"]


@dataclass(frozen=True)
class RoundSources:
    """What every pair of one round shares, and the strengthened inputs' hash per task."""

    policy: PolicySource
    sampling: SamplingSource
    sandbox: SandboxSource
    judges: JudgeSource
    inputs: Mapping[str, str] = field(default_factory=dict)


@cache
def model_revision(model: str) -> str | None:
    """The revision of base model `model`: the commit of a Hugging Face cache snapshot (the
    directory itself, or the hub id's ``refs/main`` in the local cache), else ``sha256:`` of a
    local directory's files (read once per process); None when neither is found.

    >>> model_revision("no-such-org/no-such-model-anywhere") is None
    True
    """
    import re

    from codealign.runs.stages import sha_path

    path = Path(model).expanduser()
    if path.exists():
        resolved = path.resolve()
        if resolved.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", resolved.name):
            return resolved.name
        return "sha256:" + sha_path(resolved)
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        return None
    ref = Path(HF_HUB_CACHE) / ("models--" + model.replace("/", "--")) / "refs" / "main"
    try:
        return ref.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def inputs_hashes(path: Path | None) -> dict[str, str]:
    """Per task, the hash of its entry in an execute stage's ``inputs.json`` (the perf and
    differential inputs the sandbox ran it on); {} without one."""
    from codealign.judges.provenance import text_hash

    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {entry["task_id"]: text_hash(entry)[:16] for entry in data.get("tasks", [])}


def _sandbox(config: RunConfig) -> SandboxSource:
    from codealign.judges.provenance import text_hash
    from codealign.sandbox.identity import bwrap_version, docker_image_digest

    sandbox = config.sandbox
    docker = sandbox.backend == "docker"
    return SandboxSource(backend=sandbox.backend, executor=sandbox.executor, python=sandbox.python,
                         image=sandbox.image if docker else None,
                         image_digest=docker_image_digest(sandbox.image) if docker else None,
                         bwrap_version=bwrap_version() if sandbox.backend == "bwrap" else None,
                         config_hash=text_hash(plain_data(sandbox))[:16])


def round_sources(config: RunConfig, sample_inputs: Mapping[str, Any], inputs_file: Path | None) -> RoundSources:
    """The sources of a round whose sample stage ran with `sample_inputs` (its manifest's
    inputs), judged under `config` now; `inputs_file`: the execute stage's ``inputs.json``."""
    from codealign.judges.provenance import judge_source

    policy = sample_inputs["policy"]
    params = sample_inputs["sampling"]
    model = sample_inputs.get("model", config.model)
    return RoundSources(
        policy=PolicySource(name=policy["name"], model=model, model_revision=model_revision(model),
                            adapter_hash=policy.get("adapter_hash")),
        sampling=SamplingSource(backend=sample_inputs.get("backend", config.backend), n=params["n"],
                                temperature=params["temperature"], top_p=params["top_p"],
                                max_tokens=params["max_tokens"], stop=list(params.get("stop", [])),
                                chat=params.get("chat"), seed=params.get("seed")),
        sandbox=_sandbox(config),
        judges=judge_source(config.judges, config.pairs),
        inputs=inputs_hashes(inputs_file))


def pair_rows(pairs: Sequence, tasks: Mapping[str, Any], sources: RoundSources) -> list[PairRow]:
    """`pairs` (`codealign.judges.pairs.Pair`) as pairs.jsonl rows with their provenance."""
    from codealign.judges.provenance import raw_scores, task_source

    rows = []
    for p in pairs:
        provenance = PairProvenance(policy=sources.policy, sampling=sources.sampling, sandbox=sources.sandbox,
                                    task=task_source(tasks[p.task_id], sources.inputs.get(p.task_id)),
                                    judges=sources.judges, chosen=raw_scores(p.chosen_verdict),
                                    rejected=raw_scores(p.rejected_verdict))
        rows.append(dataclasses.replace(PairRow.from_dict(p.to_dict()), provenance=provenance))
    return rows
