"""Claims on names by in-flight runs (two service:create runs for one name: one wins).

Revision ID: 2026_11_26_0002
Revises: 2026_11_26_0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_26_0002"
down_revision: str | None = "2026_11_26_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create action_claims."""
    op.create_table(
        "action_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_claims")),
        sa.UniqueConstraint("key", name=op.f("uq_action_claims_key")),
    )


def downgrade() -> None:
    """Drop action_claims."""
    op.drop_table("action_claims")
