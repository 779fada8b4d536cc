"""Task intake: each task's exact-duplicate key, its near-duplicate flag (leak control), its
test strength and its warnings.

``content_key`` (`codealign.tasks.similarity.content_key`) is unique among the tasks that are
not rejected (a partial unique index, on SQLite and PostgreSQL alike): two stored tasks can
never be exact duplicates, even when submitted at the same moment; a rejected task leaves the
index, so a corrected resubmission is not refused for it. Rows stored before this revision
get their key when the service starts (`codealign.service.intake.fill_content_keys`): the
key is computed by the application's parser, not by SQL.

Revision ID: 0004_task_intake
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_task_intake"
down_revision = "0003"
branch_labels = None
depends_on = None

NOT_REJECTED = sa.text("status != 'rejected'")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("content_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("near_duplicate", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("leak_index", sa.String(64), nullable=True))
        batch.add_column(sa.Column("strength", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
    op.create_index("ux_tasks_content_key", "tasks", ["content_key"], unique=True,
                    sqlite_where=NOT_REJECTED, postgresql_where=NOT_REJECTED)


def downgrade() -> None:
    op.drop_index("ux_tasks_content_key", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        for column in ("warnings", "strength", "leak_index", "near_duplicate", "content_key"):
            batch.drop_column(column)
