"""The run reader's cache (`RunReader(cache_dir=...)`, what the service's dashboard and API
read through): the same answers as a reader without one, the run directory never written,
and a rewritten record or a changed rule read again."""

from __future__ import annotations

import json
import os

import pytest

from codealign.jsonl import read_jsonl, write_jsonl
from codealign.runs import RunReader
from codealign.runs import reader as reader_module
from codealign.service.dashboard.views import RunView
from synthetic_run import synthesize_run


@pytest.fixture()
def run(tmp_path):
    return synthesize_run(tmp_path / "syn", rounds=3, tasks=16, seed=5)


def files(run):
    return {str(p.relative_to(run)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(run.rglob("*"))
            if p.is_file()}


def everything(reader: RunReader, run) -> dict:
    split = json.loads((run / "split.json").read_text())
    out = {}
    for k in range(4):
        out[k, "tasks"] = reader.task_results(k)
        for side in ("train", "heldout"):
            out[k, side] = reader.samples(k, side)
            for t in split[side]:
                out[k, side, t] = reader.samples(k, side, task_id=t)
    return out


def test_a_cached_reader_answers_as_a_plain_one_and_never_writes_the_run(run, tmp_path):
    before = files(run)
    expected = everything(RunReader(run), run)
    cache = tmp_path / "cache"
    assert everything(RunReader(run, cache_dir=cache), run) == expected       # derived and kept
    assert {p.name for p in cache.iterdir()} >= {"round-2-train.json", "round-2-tasks.json",
                                                 "round-2-sample-samples.jsonl.index.json"}
    assert everything(RunReader(run, cache_dir=cache), run) == expected       # read from the cache
    assert files(run) == before
    view = RunView(run, cache_dir=tmp_path / "view-cache")
    assert view.task("syn/t0001") == RunView(run).task("syn/t0001")
    assert view.overview == RunView(run).overview


def test_the_cache_is_used_until_the_rules_code_changes(run, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    true = RunReader(run, cache_dir=cache).task_results(2)
    [(_, entry)] = read_jsonl(cache / "round-2-tasks.json")
    write_jsonl(cache / "round-2-tasks.json", [entry | {"value": [true[0].to_dict() | {"passed": -1}]}])
    assert RunReader(run, cache_dir=cache).task_results(2)[0].passed == -1      # the kept value
    monkeypatch.setattr(reader_module, "_rules_key", lambda: "other rules")
    assert RunReader(run, cache_dir=cache).task_results(2) == true


def test_a_rewritten_verdicts_file_is_read_again(run, tmp_path):
    cache = tmp_path / "cache"
    cached = RunReader(run, cache_dir=cache)
    cached.task_results(2), cached.samples(2, "train")
    path = run / "round-2" / "judge" / "verdicts.jsonl"
    verdicts = [d for _, d in read_jsonl(path)]
    first = next(i for i, d in enumerate(verdicts) if d["execution"]["status"] == "passed")
    verdicts[first]["execution"]["status"] = "failed"
    write_jsonl(path, verdicts)                               # the stages replace files like this
    plain = RunReader(run)
    assert cached.task_results(2) == plain.task_results(2)
    assert RunReader(run, cache_dir=cache).samples(2, "train") == plain.samples(2, "train")
    sample = next(s for s in plain.samples(2, "train") if s["sample_id"] == verdicts[first]["sample_id"])
    assert sample["honest"] is False


def test_a_file_changed_in_place_under_its_index_is_read_whole(run, tmp_path):
    """An index that no longer matches its file (same inode, size and mtime: only an in-place
    edit does this) is noticed from the lines it points at."""
    cache = tmp_path / "cache"
    task = json.loads((run / "split.json").read_text())["train"][0]
    RunReader(run, cache_dir=cache).samples(2, "train", task_id=task)
    path = run / "round-2" / "sample" / "samples.jsonl"
    st = path.stat()
    lines = path.read_bytes().split(b"\n")
    with open(path, "r+b") as handle:                         # the same bytes, lines reversed
        handle.write(b"\n".join([*reversed(lines[:-1]), lines[-1]]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ino == st.st_ino and path.stat().st_size == st.st_size
    assert RunReader(run, cache_dir=cache).samples(2, "train", task_id=task) == \
        RunReader(run).samples(2, "train", task_id=task)


def test_a_cache_that_cannot_be_written_costs_time_only(run, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert everything(RunReader(run, cache_dir=blocked / "cache"), run) == everything(RunReader(run), run)


def test_a_refreshed_run_is_viewed_from_kept_files_only(run, tmp_path, monkeypatch):
    """After a worker exits the service re-indexes the run and fills the reader's cache: the
    first dashboard view then derives nothing (deriving is made to fail here)."""
    from codealign.service.runindex import refresh_run
    from codealign.service.store import Database, upgrade

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    db = Database(url)
    try:
        refresh_run(db, run.name, run, cache_dir=tmp_path / "cache")
    finally:
        db.close()
    task = json.loads((run / "split.json").read_text())["heldout"][0]
    plain = RunView(run)
    expected = plain.overview, plain.matrix, plain.task(task)

    def fail(*args):
        raise AssertionError("derived again")

    monkeypatch.setattr(reader_module, "_judged", fail)
    monkeypatch.setattr(reader_module, "_line_index", fail)
    view = RunView(run, cache_dir=tmp_path / "cache")
    assert (view.overview, view.matrix, view.task(task)) == expected
