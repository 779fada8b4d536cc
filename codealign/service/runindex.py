"""The store's index of runs and rounds, refreshed from the run directories (the truth) through
the run reader: after a worker exits, on service start, and when a run is read."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from codealign.service.store.db import Database
from codealign.service.store.models import RoundRow, RunRow, utcnow

__all__ = ["refresh_run", "refresh_all", "index_run"]


def index_run(session, name: str, run_path: Path, *, config_name: str = "", parent_run: str | None = None):
    """Upsert the run's row and its rounds from the run directory; returns the RunRow."""
    from codealign.runs import RunReader

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
        session.add(RoundRow(run_name=name, round=int(record["round"]), status=str(record.get("status", "")),
                             record=record))
    return row


def refresh_run(db: Database, name: str, run_path: Path) -> None:
    with db.session() as session:
        index_run(session, name, run_path)
        session.commit()


def refresh_all(db: Database, runs_dir: Path) -> None:
    """Index every run directory under `runs_dir` (runs started by `codealign loop`/nightly too)."""
    from codealign.runs import list_runs

    with db.session() as session:
        known = {r.name: r for r in session.scalars(select(RunRow))}
        for state in list_runs(runs_dir):
            path = Path(state.path)
            index_run(session, path.name, path,
                      config_name=known[path.name].config_name if path.name in known else "")
        session.commit()
