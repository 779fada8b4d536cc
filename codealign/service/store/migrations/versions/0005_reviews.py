"""The review queue: rounds sampled into it, the queued pairs, and the reviewers' verdicts.

Revision ID: 0005_reviews
Revises: 0004_task_intake
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_reviews"
down_revision = "0004_task_intake"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "review_rounds",
        sa.Column("run_name", sa.String(128), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("drawn", sa.Integer(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "review_items",
        sa.Column("pk", _ID, primary_key=True, autoincrement=True),
        sa.Column("run_name", sa.String(128), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(256), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("pair", sa.JSON(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_name", "round", "pair_id", name="uq_review_items_round_pair"),
    )
    op.create_index("ix_review_items_pair_id", "review_items", ["pair_id"])
    op.create_index("ix_review_items_reason", "review_items", ["reason", "pk"])
    op.create_table(
        "reviews",
        sa.Column("pk", _ID, primary_key=True, autoincrement=True),
        sa.Column("item_pk", _ID, sa.ForeignKey("review_items.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("pair_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("item_pk", "owner", name="uq_reviews_item_owner"),
    )
    op.create_index("ix_reviews_pair_id", "reviews", ["pair_id"])
    op.create_index("ix_reviews_verdict", "reviews", ["verdict", "pair_id"])


def downgrade() -> None:
    op.drop_index("ix_reviews_verdict", table_name="reviews")
    op.drop_index("ix_reviews_pair_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_review_items_reason", table_name="review_items")
    op.drop_index("ix_review_items_pair_id", table_name="review_items")
    op.drop_table("review_items")
    op.drop_table("review_rounds")
