"""The built-in task bank and its seed corpus of solution variants.

The bank is a set of small original coding tasks (``bank/<name>``), written for codealign, in
``data/bank.jsonl``. Each task has a code prompt (signature and docstring), trusted
asserts, a reference, large ``perf_inputs`` and tags: a topic (``strings``, ``lists``,
``dicts``, ``arithmetic``, ``parsing``, ``search``) and, where the natural answer is a
trap, ``insecure-trap`` or ``slow-trap``.

Load the tasks with ``codealign.tasks.load_tasks("bank")``. ``data/variants.jsonl``
holds, for every task, several completions that continue its prompt, each labelled with
what it is (:class:`VariantKind`). They are the seed corpus a tiny model is trained on
from scratch, so that the first policy samples a realistic mix of good, slow, insecure,
convoluted and wrong code for the judges to rank.

Both files are generated from :mod:`codealign.tasks.bank_source` (the readable source of
truth): ``python -m codealign.tasks.bank_source`` rewrites them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from codealign.errors import InputError
from codealign.jsonl import read_jsonl

__all__ = ["BANK_DIR", "BANK_PATH", "VARIANTS_PATH", "VariantKind", "Variant", "load_variants"]

BANK_DIR = Path(__file__).resolve().parent / "data"
BANK_PATH = BANK_DIR / "bank.jsonl"
VARIANTS_PATH = BANK_DIR / "variants.jsonl"


class VariantKind(str, enum.Enum):
    """What a seed completion is, and so what the judges should find in it."""

    CLEAN = "clean"            # passes the tests, efficient, no bandit finding of note
    SLOW = "slow"              # passes, but clearly slower on the task's perf inputs
    INSECURE = "insecure"      # passes, but bandit reports a medium or high severity issue
    CONVOLUTED = "convoluted"  # passes, but needlessly complex (high cyclomatic complexity)
    WRONG = "wrong"            # fails at least one test

    @property
    def passes_tests(self) -> bool:
        return self is not VariantKind.WRONG


@dataclass(frozen=True)
class Variant:
    """One seed completion for a bank task: ``task.program(completion)`` is the module."""

    task_id: str
    kind: VariantKind
    completion: str

    def to_dict(self) -> dict[str, str]:
        return {"task_id": self.task_id, "kind": self.kind.value, "completion": self.completion}


def load_variants(path: str | Path = VARIANTS_PATH) -> list[Variant]:
    """The seed completions, in file order."""
    variants = []
    for line, record in read_jsonl(path):
        for name in ("task_id", "kind", "completion"):
            if not isinstance(record.get(name), str):
                raise InputError("missing or not a string", path=str(path), line=line, field=name)
        try:
            kind = VariantKind(record["kind"])
        except ValueError:
            raise InputError(f"unknown kind {record['kind']!r}; expected one of "
                             f"{[k.value for k in VariantKind]}", path=str(path), line=line,
                             field="kind") from None
        variants.append(Variant(record["task_id"], kind, record["completion"]))
    return variants
