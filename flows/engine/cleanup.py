"""Clean-up after a failed run: remove only what the run created, and journal it.

What the registry recorded for the service before the run (a previous run's work) stays.
So does a resource the run recorded but the provider says is another's: an action refused
to adopt it, and it is left exactly as it was. Each is removed in the region it was made
in, in reverse dependency order (flows.engine.resource_removal).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from flows.engine.resource_removal import (
    Providers,
    RemovableResource,
    not_ours,
    removal_order,
    remove,
)
from flows.engine.session import registry_session
from registry import queries
from registry.models import ResourceStatus

__all__ = ["CleanUp", "clean_up_after_failure", "existing_resources"]


@task(name="registry: snapshot resources", cache_policy=NO_CACHE)
def existing_resources(*, service: str) -> set[tuple[str, str, str]]:
    """Keys of the resources the service has before this run (for clean-up)."""
    with registry_session() as session:
        return {
            (str(r.provider), r.kind, r.name)
            for r in queries.find_resources(session, service=service)
        }


class CleanUp(BaseModel):
    """What a clean-up did."""

    removed: list[str] = Field(description="`<kind> <name>` of each resource removed.")
    failed: list[str] = Field(description="Each removal that failed, with its error.")
    left: list[str] = Field(description="Why each resource that is another's was left.")


def clean_up_after_failure(
    *,
    action: str,
    service: str,
    team: str,
    requester: str,
    before: set[tuple[str, str, str]],
    cause: Exception,
    flow_run_id: str,
) -> CleanUp:
    """Remove what the failed run of `action` created for `service` (what the registry
    holds now and did not hold `before`), retire it in the registry, and journal the
    clean-up as `<action>:cleanup`. Never raises for a removal: the run fails with its
    own error."""
    started = datetime.now(UTC)
    with registry_session() as session:
        created = [
            RemovableResource.of(r)
            for r in queries.find_resources(session, service=service)
            if (str(r.provider), r.kind, r.name) not in before
        ]
    providers = Providers()
    done = CleanUp(removed=[], failed=[], left=[])
    for resource in removal_order(created):
        try:
            why_not = not_ours(resource, providers, service=service)
            if why_not is not None:
                done.left.append(why_not)
                continue
            remove(resource, providers)
        except Exception as exc:
            done.failed.append(f"{resource.kind} {resource.name}: {exc}")
            continue
        done.removed.append(f"{resource.kind} {resource.name}")
        with registry_session() as session:
            queries.upsert_resource(
                session,
                service=service,
                provider=resource.provider,
                kind=resource.kind,
                name=resource.name,
                status=ResourceStatus.RETIRED,
                error=f"cleaned up after a failed {action}: {cause}",
            )
    get_run_logger().warning(
        "Cleaned up after the failure: removed %s; failed %s; left (not ours) %s",
        done.removed,
        done.failed,
        done.left,
    )
    ended = datetime.now(UTC)
    with registry_session() as session:
        queries.append_journal(
            session,
            flow_run_id=flow_run_id,
            action=f"{action}:cleanup",
            requester=requester,
            team=team,
            service=service,
            parameters=done.model_dump(),
            state="Failed" if done.failed else "Completed",
            started_at=started,
            ended_at=ended,
            duration_seconds=(ended - started).total_seconds(),
            error="; ".join(done.failed) or None,
        )
    return done
