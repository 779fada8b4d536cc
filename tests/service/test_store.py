"""The store on SQLite and PostgreSQL: Alembic upgrades (from the first revision), keys."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from codealign.service.store import Database, upgrade
from codealign.service.store.keys import create_key, verify_key
from codealign.service.store.models import ApiKey, Scope, TaskRow


def test_upgrade_from_the_first_migration_keeps_rows(database_url):
    upgrade(database_url, "0001")
    db = Database(database_url)
    try:
        assert "runs" not in inspect(db.engine).get_table_names()
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO tasks (task_id, content_hash, status, source, record, created_at, "
                              "updated_at) VALUES ('a', 'h', 'active', 'api', '{\"x\": 1}', "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        upgrade(database_url)
        assert {"runs", "rounds", "tasks", "api_keys", "idempotency"} <= set(inspect(db.engine).get_table_names())
        with db.session() as session:
            row = session.scalar(select(TaskRow))
            assert (row.task_id, row.record) == ("a", {"x": 1})
        upgrade(database_url)       # a second upgrade (every service start) is a no-op
    finally:
        db.close()


def test_keys_are_stored_hashed_and_verified(database_url):
    upgrade(database_url)
    db = Database(database_url)
    try:
        with db.session() as session:
            key = create_key(session, Scope.WRITE, "ci")
            stored = session.scalar(select(ApiKey))
            assert key not in (stored.key_hash, stored.prefix) and key.split("_", 2)[2] not in stored.key_hash
            assert verify_key(session, key).scope == "write"
            assert verify_key(session, key[:-1] + ("x" if key[-1] != "x" else "y")) is None
            assert verify_key(session, "garbage") is None
    finally:
        db.close()


def test_sqlite_runs_in_wal_mode(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        db.close()
