"""Pairs no training set may hold: ``exclusions.json`` in the run directory, and the filter.

People spot-check what the judges taught (the service's review queue,
`codealign.service.reviews`); a pair a reviewer disagrees with must never be trained on again,
in any later round or night, whether the judge stage makes it again or it would be replayed.
The run engine never imports the service: the exclusions reach a run as data. Whoever starts
or resumes a run — the service's run workers, ``codealign nightly --database-url`` — writes
the ids of the excluded pairs (`codealign.judges.pairs.pair_id`, a content hash of the pair's
prompt, chosen and rejected texts) into ``<run>/exclusions.json`` first, and the service
rewrites the file of every run that is not finished whenever a review excludes a pair, so a
running run reads it at its next round.

The train stage reads the file when it starts a round (`round_exclusions`) and trains on the
round's training set less the excluded ones (`codealign.runs.trainset.build_training_set`:
its own pairs and any replayed ones); the excluded ids among them are part of the
stage's hashed inputs (``inputs["excluded"]``, present only when some are) and so of its
manifest. A round that finished training keeps what it was trained with: on resume its ids
are read back from its manifest, so a pair excluded after that round trained never makes a
finished stage look changed. A run without the file excludes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from codealign.jsonl import write_json
from codealign.records import Record

__all__ = ["EXCLUSIONS_FILE", "EXCLUSIONS_SCHEMA", "Exclusions", "read_exclusions", "write_exclusions",
           "round_exclusions"]

EXCLUSIONS_FILE = "exclusions.json"
EXCLUSIONS_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class Exclusions(Record):
    """``<run>/exclusions.json``: the pairs no training set of the run may hold."""

    schema_version: int = EXCLUSIONS_SCHEMA
    pair_ids: list[str]
    """`codealign.judges.pairs.pair_id` of every excluded pair, sorted."""
    source: str = ""
    """Who wrote the file (e.g. ``codealign service: reviews``)."""
    written_at: str | None = None


def read_exclusions(run_path: str | Path) -> frozenset[str]:
    """The excluded pair ids of the run (none without ``exclusions.json``); `InputError` names
    the file and the field of a bad one."""
    import json

    from codealign.errors import InputError

    path = Path(run_path) / EXCLUSIONS_FILE
    if not path.exists():
        return frozenset()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", path=str(path))
    return frozenset(Exclusions.from_dict(data, path=str(path)).pair_ids)


def write_exclusions(run_path: str | Path, pair_ids: Iterable[str], source: str) -> bool:
    """Write the run's ``exclusions.json`` (atomically); False when it already held exactly
    these ids (the file is left as it is)."""
    from codealign.errors import InputError
    from codealign.runs.state import now_iso

    ids = sorted(set(pair_ids))
    try:
        same = (Path(run_path) / EXCLUSIONS_FILE).exists() and ids == sorted(read_exclusions(run_path))
    except InputError:
        same = False                                  # a broken file is replaced
    if same:
        return False
    write_json(Path(run_path) / EXCLUSIONS_FILE,
               Exclusions(pair_ids=ids, source=source, written_at=now_iso()).to_dict())
    return True


def round_exclusions(run_path: str | Path, round_no: int, candidates: Iterable[str]) -> list[str]:
    """The excluded ids among `candidates` (the pair ids round `round_no` could train on),
    sorted: as its finished train stage recorded them, else from the run's file now."""
    from codealign.runs.stages import read_manifest

    done = read_manifest(Path(run_path) / f"round-{round_no}" / "train")
    if done is not None:
        return list(done.inputs.get("excluded", []))
    excluded = read_exclusions(run_path)
    return sorted({c for c in candidates if c in excluded})
