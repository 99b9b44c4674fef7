"""Kafka topic domains granted to a team besides its own slug.

Revision ID: 2026_12_06_0002
Revises: 2026_12_06_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_06_0002"
down_revision: str | None = "2026_12_06_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create team_domains."""
    op.create_table(
        "team_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_domains_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_domains")),
        sa.UniqueConstraint("domain", name=op.f("uq_team_domains_domain")),
    )
    op.create_index(op.f("ix_team_domains_team_id"), "team_domains", ["team_id"], unique=False)


def downgrade() -> None:
    """Drop team_domains."""
    op.drop_index(op.f("ix_team_domains_team_id"), table_name="team_domains")
    op.drop_table("team_domains")
