"""Every registry query function, in one import.

    from registry.queries import get_or_create_service, upsert_resource, append_journal

The functions live in small modules by subject and are re-exported here:

- ``registry.people``: people and teams, membership checks
- ``registry.services``: services and resources
- ``registry.links``: dependencies and access grants
- ``registry.journal``: the append-only journal
- ``registry.ownership``: who answers for a thing
- ``registry.notify``: where each person is notified
- ``registry.claims``: one in-flight run per thing being made
- ``registry.graph``: the dependency graph both ways, transitive in the database
- ``registry.answers``: listings, orphans, a person's deactivation

All take the session first and keyword arguments after it, flush what they write and
never commit: wrap them in ``registry.db.session_scope``.
"""

from __future__ import annotations

from registry.answers import (
    DeactivationReport,
    Orphan,
    Reassignment,
    ResourceRow,
    ServiceRow,
    deactivate_person,
    list_resources,
    list_services,
    orphans,
)
from registry.claims import claim, release
from registry.graph import DependencyRow, dependents, deps
from registry.journal import (
    REFUSED,
    RunSummary,
    append_journal,
    append_run_state,
    journal_for_run,
    latest_journal,
    pending_approval,
    run_started_since,
    run_summaries,
)
from registry.links import (
    DependencyInfo,
    ResourceKey,
    add_dependency,
    dependencies_of,
    due_grants,
    expire_grants,
    find_grants,
    grant_access,
    revoke_access,
)
from registry.notify import notify_channels, set_notify_channel
from registry.ownership import MATCHED_BY, Ownership, ownership_of
from registry.people import (
    active_team_members,
    get_person,
    get_team,
    require_active_member,
    require_active_person,
    require_person,
    require_team,
    team_members,
    upsert_person,
    upsert_team,
)
from registry.services import (
    find_resources,
    get_or_create_service,
    get_resource,
    get_service,
    require_service,
    service_loader_options,
    set_ownership,
    set_service_status,
    settle_unfinished,
    upsert_resource,
)

__all__ = [
    "MATCHED_BY",
    "REFUSED",
    "DeactivationReport",
    "DependencyInfo",
    "DependencyRow",
    "Orphan",
    "Ownership",
    "Reassignment",
    "ResourceKey",
    "ResourceRow",
    "RunSummary",
    "ServiceRow",
    "active_team_members",
    "add_dependency",
    "append_journal",
    "append_run_state",
    "claim",
    "deactivate_person",
    "dependencies_of",
    "dependents",
    "deps",
    "due_grants",
    "expire_grants",
    "find_grants",
    "find_resources",
    "get_or_create_service",
    "get_person",
    "get_resource",
    "get_service",
    "get_team",
    "grant_access",
    "journal_for_run",
    "latest_journal",
    "list_resources",
    "list_services",
    "notify_channels",
    "orphans",
    "ownership_of",
    "pending_approval",
    "release",
    "require_active_member",
    "require_active_person",
    "require_person",
    "require_service",
    "require_team",
    "revoke_access",
    "run_started_since",
    "run_summaries",
    "service_loader_options",
    "set_notify_channel",
    "set_ownership",
    "set_service_status",
    "settle_unfinished",
    "team_members",
    "upsert_person",
    "upsert_resource",
    "upsert_team",
]
