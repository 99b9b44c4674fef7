"""`access:expire` — grants made with `expires_in_days` lose their access for real.

On its schedule (every 15 minutes, prefect.yaml) or on demand: each active grant whose
`expires_at` has passed is removed at the provider with access:revoke's own tasks (the
IAM inline policy, the team membership, the direct repository permission; what is gone
already is fine), then marked expired in the registry, and journaled as an `Expired` row
of this run under the grant's team and service. A grant whose removal fails stays
active, so the next run tries again; the run fails and names it.
"""

from __future__ import annotations

from typing import Literal, cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from flows.actions.access_grant import (
    AccessRevokeRequest,
    parse_grant_permission,
    plan_access,
    remove_access,
)
from flows.engine.context import service_context
from flows.engine.request import PavedRequest
from flows.engine.runtime import journaled
from flows.engine.session import registry_session
from registry import queries
from registry.models import utc_now

__all__ = ["ACTION", "SYSTEM_REQUESTER", "DueGrant", "ExpireResult", "access_expire"]

ACTION = "access:expire"
SYSTEM_REQUESTER = "paved-expire"


class DueGrant(BaseModel):
    """An active grant past its expiry."""

    grant_id: int = Field(description="The grant's registry id.")
    person: str = Field(description="Whose access.")
    permission: str = Field(description="The registry's permission string.")
    service: str | None = Field(description="The service, None for a global grant.")
    team: str = Field(description="The service's team (`all` for a global grant).")
    expires_at: str = Field(description="When it expired (ISO 8601).")


class ExpireResult(BaseModel):
    """What a run of access:expire did."""

    expired: list[str] = Field(description="Grants removed and marked expired.")
    failed: list[str] = Field(description="Grants whose removal failed (still active).")
    dry_run: bool = Field(description="True when nothing was touched.")


def _due() -> list[DueGrant]:
    with registry_session() as session:
        return [
            DueGrant(
                grant_id=grant.id,
                person=grant.person.handle,
                permission=grant.permission,
                service=grant.service.name if grant.service else None,
                team=grant.service.team.slug if grant.service else "all",
                expires_at=grant.expires_at.isoformat() if grant.expires_at else "",
            )
            for grant in queries.due_grants(session)
        ]


def _label(grant: DueGrant) -> str:
    return f"{grant.permission} of {grant.person} on {grant.service or 'everything'}"


def _remove(grant: DueGrant) -> bool:
    """Remove the grant's access at its provider; True when something was removed.
    A grant Paved's access:grant did not make has nothing to remove there."""
    try:
        kind, permission, environment = parse_grant_permission(grant.permission)
    except ValueError:
        return False
    if grant.service is None:
        return False
    request = AccessRevokeRequest(
        requester=SYSTEM_REQUESTER,
        service=grant.service,
        person=grant.person,
        kind=cast(Literal["github-team", "github-repository", "aws-iam", "kafka-acl"], kind),
        permission=permission,
        environment=cast(Literal["staging", "production"], environment),
        reason=f"the grant expired at {grant.expires_at}",
    )
    # Paved's own run: no requester to check, the service as the registry has it.
    plan = plan_access(request, granting=False, context=service_context(service=grant.service))
    return remove_access(request, plan)


def _journal(flow_run_id: str, grant: DueGrant, *, removed: bool, error: str | None) -> None:
    with registry_session() as session:
        queries.append_journal(
            session,
            flow_run_id=flow_run_id,
            action=ACTION,
            requester=SYSTEM_REQUESTER,
            team=grant.team,
            service=grant.service or "all",
            parameters={"expired": {**grant.model_dump(mode="json"), "removed": removed}},
            state="Failed" if error else "Expired",
            started_at=utc_now(),
            ended_at=utc_now(),
            error=error,
        )


@flow(
    name="access-expire",
    flow_run_name="expire-access",
    description="access:expire: remove the provider access of grants past their expiry.",
    validate_parameters=True,
)
def access_expire(dry_run: bool = False) -> ExpireResult:
    """Expire every grant whose `expires_at` has passed; `dry_run` only lists them."""
    logger = get_run_logger()
    request = PavedRequest(requester=SYSTEM_REQUESTER, dry_run=dry_run)
    with journaled(action=ACTION, request=request, team="all", service="all") as run:
        due = _due()
        if dry_run:
            result = ExpireResult(expired=[_label(g) for g in due], failed=[], dry_run=True)
            _report(result)
            return result
        expired, failed = [], []
        for grant in due:
            try:
                removed = _remove(grant)
            except Exception as exc:
                # One grant's provider trouble leaves the others to expire; it stays
                # active in the registry, so the next run tries again.
                logger.error("Could not expire %s: %s", _label(grant), exc)
                failed.append(f"{_label(grant)}: {exc}")
                _journal(run.flow_run_id, grant, removed=False, error=str(exc))
                continue
            with registry_session() as session:
                queries.expire_grants(session, grant_ids=[grant.grant_id])
            _journal(run.flow_run_id, grant, removed=removed, error=None)
            expired.append(_label(grant))
            logger.info("Expired %s%s", _label(grant), "" if removed else " (already gone)")
        result = ExpireResult(expired=expired, failed=failed, dry_run=False)
        _report(result)
        if failed:
            raise RuntimeError(f"{len(failed)} grant(s) could not be expired: " + "; ".join(failed))
        return result


def _report(result: ExpireResult) -> None:
    heading = "Dry run: grants past their expiry" if result.dry_run else "Expired grants"
    lines = [f"# {heading}", ""]
    lines += [f"- {label}" for label in result.expired] or ["- none"]
    if result.failed:
        lines += ["", "## Not expired (tried again next run)", ""]
        lines += [f"- {label}" for label in result.failed]
    create_markdown_artifact(markdown="\n".join(lines), key="access-expire", description=ACTION)
