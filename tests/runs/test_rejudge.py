"""Provenance on every pair, and ``codealign runs rejudge`` on a round made before a judge change.

The round is made for real (literal programs, then the bubblewrap sandbox and the judge stage)
under a *weaker* security rule — only HIGH bandit findings count as insecure, as if the rule
had not yet been tightened to MEDIUM — so the eval answer to ``add`` (bandit B307, MEDIUM) is
taken for secure and chosen. Today's rule never chooses an insecure sample: re-judging must
print that pair as lost, and why, and leave the round as it was.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from codealign.judges import rules
from codealign.records import PairRow
from codealign.runs.provenance import inputs_hashes
from codealign.runs.stages import sha_path
from literal_round import judged_round, make_run, pair_lines
from seeded_policy import ROOT, cli_env


@pytest.fixture(scope="module")
def weak_round(tmp_path_factory):
    """A run whose round 1 was judged with MEDIUM findings counted as secure."""
    # no efficiency pairs: on programs of one line their costs are CPU-time noise, and the
    # re-judge re-executes; what is compared here is the security rule, not the clock
    run, tasks = make_run(tmp_path_factory.mktemp("rejudge") / "runs",
                          pairs={"reasons": ["correctness", "security", "maintainability"]})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rules, "INSECURE_SEVERITIES", ("HIGH",))
        judged_round(run, tasks)
    return run


def test_every_pair_records_what_made_it(weak_round):
    rows = [PairRow.from_dict(d) for d in pair_lines(weak_round / "round-1/judge/pairs.jsonl")]
    assert rows
    manifest = json.loads((weak_round / "round-1/sample/manifest.json").read_text())
    strengthened = inputs_hashes(weak_round / "round-1/execute/inputs.json")
    for row in rows:
        p = row.provenance
        assert row.pair_id == row.id and len(row.pair_id) == 24
        assert (p.policy.name, p.policy.model, p.policy.adapter_hash) == ("base", "org/tiny", None)
        assert p.policy.model_revision is None                 # not a local path, not in the hub cache
        assert p.sampling.seed == manifest["inputs"]["sampling"]["seed"] == 7 + 100_003
        assert (p.sampling.n, p.sampling.backend) == (3, "hf")
        assert p.sandbox.backend == "bwrap" and p.sandbox.bwrap_version.startswith("bubblewrap ")
        assert p.sandbox.image is None and p.sandbox.image_digest is None
        assert len(p.task.tests_hash) == 16 and p.task.reference_hash is not None
        assert p.task.inputs_hash == strengthened[row.task_id]  # differential testing's inputs, as run
        assert p.judges.bandit and p.judges.radon and p.judges.codealign
        assert (p.chosen.sample_id, p.rejected.sample_id) == (row.chosen_id, row.rejected_id)
        assert p.chosen.status == "passed" and p.chosen.tests_passed == p.chosen.tests_total
        assert p.rejected.tests_passed < p.rejected.tests_total or p.rejected.tampered
    eval_pair = next(r for r in rows if r.chosen_id == "add#r1#0")
    assert eval_pair.provenance.chosen.bandit_findings == ["B307:MEDIUM"]
    assert eval_pair.provenance.chosen.secure is True             # what the weaker rule said
    assert {r.provenance.task.tests_hash for r in rows if r.task_id == "add"} != \
        {r.provenance.task.tests_hash for r in rows if r.task_id == "neg"}


def test_pairs_with_provenance_load_with_datasets(weak_round):
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(weak_round / "round-1/judge/pairs.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected", "pair_id", "provenance"} <= set(ds.column_names)
    assert ds[0]["provenance"]["chosen"]["sample_id"] == ds[0]["chosen_id"]


def test_rejudge_prints_the_pairs_it_loses_and_why(weak_round):
    round_dir = weak_round / "round-1"
    before = {p.name: sha_path(p) for p in round_dir.iterdir()}
    state = (weak_round / "state.json").read_text()
    done = subprocess.run([sys.executable, "-m", "codealign", "runs", "rejudge", str(weak_round), "--round", "1"],
                          capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "round 1:" in out and "lost 1" in out, out
    lost = [line for line in out.splitlines() if line.strip().startswith("lost")]
    assert len(lost) == 1 and "add correctness: add#r1#0 over add#r1#" in lost[0], out
    assert "because chosen add#r1#0 now insecure: bandit B307 MEDIUM" in out, out
    # the original round is untouched; the result lies beside it
    written = [p for p in round_dir.iterdir() if p.name.startswith("rejudge-")]
    assert len(written) == 1
    assert {p.name: sha_path(p) for p in round_dir.iterdir() if p not in written} == before
    assert (weak_round / "state.json").read_text() == state
    report = json.loads((written[0] / "report.json").read_text())
    assert report["pairs_before"] == report["pairs_after"] + 1 and report["kept"] == report["pairs_after"]
    assert [c["kind"] for c in report["changes"]] == ["lost"]
    assert report["before"]["code_hash"] == report["after"]["code_hash"]     # same code, other rule
    new_pairs = pair_lines(written[0] / "pairs.jsonl")
    assert all(p["chosen_id"] != "add#r1#0" for p in new_pairs)
    assert {p["pair_id"] for p in new_pairs} < {p["pair_id"] for p in pair_lines(round_dir / "judge/pairs.jsonl")}
    changed = {c["sample_id"]: c for c in report["verdicts_changed"]}
    after = changed["add#r1#0"]["after"]              # its tests and differential testing's cases
    assert set(changed) == {"add#r1#0"} and re.fullmatch(r"passed (\d+)/\1, insecure", after), after


def test_rejudge_of_a_round_not_judged_names_it(weak_round):
    done = subprocess.run([sys.executable, "-m", "codealign", "runs", "rejudge", str(weak_round), "--round", "4"],
                          capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "round 4 was not judged" in done.stderr, done.stderr
