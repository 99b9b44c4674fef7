"""Audits: drift findings, cost records, and weekly budgets on services and teams.

Revision ID: 2026_11_26_0005
Revises: 2026_11_26_0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_11_26_0005"
down_revision: str | None = "2026_11_26_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_OPEN = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    """Create drift_findings and cost_records; add weekly budgets."""
    op.create_table(
        "drift_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=512), nullable=False),
        sa.Column("drift_class", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.String(length=2048), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("service", sa.String(length=63), nullable=True),
        sa.Column("team", sa.String(length=63), nullable=True),
        sa.Column("owner", sa.String(length=39), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_drift_findings_resource_id_resources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_findings")),
    )
    for column in ("drift_class", "service", "owner", "resolved_at"):
        op.create_index(op.f(f"ix_drift_findings_{column}"), "drift_findings", [column])
    op.create_index(
        "ix_drift_findings_open_fingerprint",
        "drift_findings",
        ["fingerprint"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_table(
        "cost_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_records")),
        sa.UniqueConstraint(
            "week_start", "service", "team", name=op.f("uq_cost_records_week_start_service_team")
        ),
    )
    op.create_index(op.f("ix_cost_records_week_start"), "cost_records", ["week_start"])
    for table in ("services", "teams"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("weekly_budget_usd", sa.Numeric(precision=12, scale=2), nullable=True)
            )


def downgrade() -> None:
    """Drop what upgrade created."""
    for table in ("teams", "services"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("weekly_budget_usd")
    op.drop_index(op.f("ix_cost_records_week_start"), table_name="cost_records")
    op.drop_table("cost_records")
    op.drop_index("ix_drift_findings_open_fingerprint", table_name="drift_findings")
    for column in ("resolved_at", "owner", "service", "drift_class"):
        op.drop_index(op.f(f"ix_drift_findings_{column}"), table_name="drift_findings")
    op.drop_table("drift_findings")
