"""Indexes for the registry's answers: who-owns by resource name, dependents.

`ownership_of` tries a thing as a resource name before its external id and URL, and the
unique (provider, kind, name) index cannot serve a lookup by name alone: 100,000
resources were scanned per lookup. `dependents` walks dependencies backwards, by target.

Revision ID: 2026_11_26_0003
Revises: 2026_11_26_0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_26_0003"
down_revision: str | None = "2026_11_26_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("resources", "name"),
    ("dependencies", "depends_on_service_id"),
    ("dependencies", "depends_on_resource_id"),
)


def upgrade() -> None:
    """Index resources by name and dependencies by target."""
    for table, column in _INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def downgrade() -> None:
    """Drop the indexes."""
    for table, column in reversed(_INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
