"""Initial schema: issued cards and feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_card",
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("hook", sa.String(length=64), nullable=False),
        sa.Column("hook_instance", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=True),
        sa.Column("indicator", sa.String(length=16), nullable=False),
        sa.Column("suggestion_uuids", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_issued_card")),
    )
    op.create_index(op.f("ix_issued_card_issued_at"), "issued_card", ["issued_at"], unique=False)
    op.create_table(
        "feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_uuid", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason_system", sa.Text(), nullable=True),
        sa.Column("override_reason_code", sa.Text(), nullable=True),
        sa.Column("override_reason_display", sa.Text(), nullable=True),
        sa.Column("override_user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'overridden')", name=op.f("ck_feedback_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["card_uuid"],
            ["issued_card.uuid"],
            name=op.f("fk_feedback_card_uuid_issued_card"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_feedback_dedupe_key")),
    )
    op.create_index(op.f("ix_feedback_card_uuid"), "feedback", ["card_uuid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_feedback_card_uuid"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_index(op.f("ix_issued_card_issued_at"), table_name="issued_card")
    op.drop_table("issued_card")
