"""Teams: whether the lead was named in Paved on purpose (the people sync keeps it).

Revision ID: 2026_12_06_0001
Revises: 2026_11_26_0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_06_0001"
down_revision: str | None = "2026_11_26_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add teams.lead_explicit, false for every existing team (leads came from the seed)."""
    # A plain ADD COLUMN, not a batch: SQLite would rebuild `teams` (DROP TABLE), which its
    # foreign keys refuse once people and services point at it.
    op.add_column(
        "teams",
        sa.Column("lead_explicit", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Drop teams.lead_explicit."""
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("lead_explicit")
