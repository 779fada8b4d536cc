"""Key revocation and last use; the owner of each task (fair validation); the process holding
an in-progress idempotency record.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("tasks") as batch:
        # Tasks stored before this revision were submitted by an unknown caller: one owner.
        batch.add_column(sa.Column("owner", sa.String(64), nullable=False, server_default="open"))
    op.create_index("ix_tasks_status_owner", "tasks", ["status", "owner", "pk"])
    with op.batch_alter_table("idempotency") as batch:
        batch.add_column(sa.Column("holder", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency") as batch:
        batch.drop_column("holder")
    op.drop_index("ix_tasks_status_owner", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("owner")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("last_used_at")
