"""The store's index of runs and rounds, refreshed from the run directories (the truth) through
the run reader: after a worker exits, on service start, and when a run is read. After a worker
exits, the reader's cache of the run's rounds is filled too (the dashboard's first view).
Indexing a run also draws its decided rounds' pairs into the review queue, once per round
(`codealign.service.reviews.sync_run`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from codealign.service.reviews import REVIEW_PER_REASON
from codealign.service.store.db import Database
from codealign.service.store.models import RoundRow, RunRow, utcnow

__all__ = ["refresh_run", "refresh_all", "index_run"]


def index_run(session, name: str, run_path: Path, *, config_name: str = "", parent_run: str | None = None,
              review_per_reason: int = REVIEW_PER_REASON):
    """Upsert the run's row and its rounds from the run directory, and draw the rounds not
    drawn yet into the review queue (`review_per_reason` pairs of each reason); returns the RunRow."""
    from codealign.runs import RunReader
    from codealign.service.reviews import sync_run

    reader = RunReader(run_path)
    state = reader.state()
    row = session.get(RunRow, name)
    if row is None:
        row = RunRow(name=name, path=str(run_path), config_name=config_name or name,
                     status=state.status.value, parent_run=parent_run or state.parent_run,
                     created_at=utcnow(), updated_at=utcnow())
        session.add(row)
    else:
        row.status, row.updated_at = state.status.value, utcnow()
    session.flush()
    session.execute(delete(RoundRow).where(RoundRow.run_name == name))
    for record in reader.rounds():
        session.add(RoundRow(run_name=name, round=record.round, status=record.status.value,
                             record=record.to_dict()))
    sync_run(session, name, run_path, review_per_reason)
    return row


def refresh_run(db: Database, name: str, run_path: Path, cache_dir: Path | None = None,
                review_per_reason: int = REVIEW_PER_REASON) -> None:
    """Re-index the run; with `cache_dir` (the service's `Settings.run_cache(name)`), also derive
    what the dashboard reads of each decided round (`RunReader.index_round`: kept rounds cost
    a stat, new ones a read), so that the first view of a finished run reads kept files."""
    from codealign.runs import RunReader

    with db.session() as session:
        index_run(session, name, run_path, review_per_reason=review_per_reason)
        session.commit()
    if cache_dir is not None:
        reader = RunReader(run_path, cache_dir=cache_dir)
        for record in reader.rounds():
            reader.index_round(record.round)


def refresh_all(db: Database, runs_dir: Path, review_per_reason: int = REVIEW_PER_REASON) -> None:
    """Reconcile the index with the run directories under `runs_dir` (runs started by
    `codealign loop`/nightly too): every run re-read (a run whose worker died with the
    service reads `interrupted`), rows of run directories that are gone dropped."""
    from codealign.runs import list_runs

    with db.session() as session:
        known = {r.name: r for r in session.scalars(select(RunRow))}
        present = set()
        for state in list_runs(runs_dir):
            path = Path(state.path)
            present.add(path.name)
            index_run(session, path.name, path, review_per_reason=review_per_reason,
                      config_name=known[path.name].config_name if path.name in known else "")
        for name in set(known) - present:
            session.delete(known[name])
        session.commit()
