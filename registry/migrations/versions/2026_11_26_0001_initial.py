"""The registry's first schema: people, teams, services, resources, dependencies,
access grants and the journal.

Revision ID: 2026_11_26_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_11_26_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enumerations are stored as plain strings of this width (see registry.models).
ENUM = sa.String(length=32)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "people",
        *_timestamps(),
        sa.Column("handle", sa.String(length=39), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_channel", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("handle", name=op.f("uq_people_handle")),
    )
    op.create_table(
        "teams",
        *_timestamps(),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("cost_center", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["people.id"], name=op.f("fk_teams_lead_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("slug", name=op.f("uq_teams_slug")),
    )
    op.create_table(
        "team_memberships",
        *_timestamps(),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", ENUM, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_team_memberships_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_memberships_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_memberships")),
        sa.UniqueConstraint(
            "team_id", "person_id", name=op.f("uq_team_memberships_team_id_person_id")
        ),
    )
    op.create_table(
        "services",
        *_timestamps(),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("change_approver_id", sa.Integer(), nullable=True),
        sa.Column("oncall_id", sa.Integer(), nullable=True),
        sa.Column("cost_watcher_id", sa.Integer(), nullable=True),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lifecycle", ENUM, nullable=False),
        sa.ForeignKeyConstraint(
            ["change_approver_id"],
            ["people.id"],
            name=op.f("fk_services_change_approver_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["cost_watcher_id"], ["people.id"], name=op.f("fk_services_cost_watcher_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["oncall_id"], ["people.id"], name=op.f("fk_services_oncall_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["people.id"], name=op.f("fk_services_owner_id_people")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_services_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("name", name=op.f("uq_services_name")),
    )
    op.create_table(
        "resources",
        *_timestamps(),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("provider", ENUM, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=2048), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_resources_service_id_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint(
            "provider", "kind", "name", name=op.f("uq_resources_provider_kind_name")
        ),
    )
    op.create_index(op.f("ix_resources_service_id"), "resources", ["service_id"])
    op.create_index(op.f("ix_resources_external_id"), "resources", ["external_id"])
    op.create_index(op.f("ix_resources_url"), "resources", ["url"])
    op.create_table(
        "dependencies",
        *_timestamps(),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("depends_on_service_id", sa.Integer(), nullable=True),
        sa.Column("depends_on_resource_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(depends_on_service_id IS NULL) <> (depends_on_resource_id IS NULL)",
            name=op.f("ck_dependencies_exactly_one_target"),
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_resource_id"],
            ["resources.id"],
            name=op.f("fk_dependencies_depends_on_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_service_id"],
            ["services.id"],
            name=op.f("fk_dependencies_depends_on_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_dependencies_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dependencies")),
        sa.UniqueConstraint(
            "service_id",
            "depends_on_resource_id",
            "kind",
            name=op.f("uq_dependencies_service_id_depends_on_resource_id_kind"),
        ),
        sa.UniqueConstraint(
            "service_id",
            "depends_on_service_id",
            "kind",
            name=op.f("uq_dependencies_service_id_depends_on_service_id_kind"),
        ),
    )
    op.create_table(
        "access_grants",
        *_timestamps(),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("permission", sa.String(length=128), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["people.id"], name=op.f("fk_access_grants_approver_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_access_grants_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_access_grants_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_access_grants_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
    )
    op.create_index(op.f("ix_access_grants_person_id"), "access_grants", ["person_id"])
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("requester", sa.String(length=255), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("parameters", _json(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("minutes_spent", sa.Double(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
    )
    op.create_index(op.f("ix_journal_entries_flow_run_id"), "journal_entries", ["flow_run_id"])
    op.create_index(op.f("ix_journal_entries_action"), "journal_entries", ["action"])
    op.create_index(op.f("ix_journal_entries_team"), "journal_entries", ["team"])


def downgrade() -> None:
    """Drop every table, dependents first."""
    op.drop_table("journal_entries")
    op.drop_table("access_grants")
    op.drop_table("dependencies")
    op.drop_table("resources")
    op.drop_table("team_memberships")
    op.drop_table("services")
    op.drop_table("teams")
    op.drop_table("people")
