"""`access:grant` and `access:revoke` — a person's access to one service, recorded.

    kind               permission                     what Paved does
    github-team        member | maintainer            membership of the service's owning team
    github-repository  pull | triage | push |         a direct permission on the service's
                       maintain | admin               repository
    aws-iam            read | write                   inline policy `paved-<service>-<permission>-
                                                      <environment>` on IAM user `paved-<handle>`
                                                      over the service's S3, SQS and DynamoDB
                                                      ARNs of that environment
    kafka-acl          read | write                   refused unless the cluster has an
                                                      authorizer (Tansu aborts on ACL calls)

A grant runs: validate (requester in the service's team, person active, the service has
what the kind needs) -> approval (flows.engine.approval: the change approver, never the
requester) for write access, production, and team membership (it gives `maintain` on the
team's repositories and a seat among production reviewers) -> provider tasks
(idempotent) -> `grant_access` in the registry with approver and expiry -> artifact. A
revoke removes the membership, permission or policy (what is gone already is fine) and
marks the grants revoked; revoking anyone's access but your own waits for the same
approval. Both are journaled. flows.actions.access_expire revokes what has expired.

AWS resources carry their environment in the registry tag `paved:environment`; one
without it counts as production (what Paved makes today serves the deployed service), so
a `staging` grant never covers it. "read" never consumes a queue's messages.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Literal, cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from blocks import (
    AWS_BLOCK,
    GITHUB_BLOCK,
    KAFKA_BLOCK,
    AwsAccount,
    GitHubOrganization,
    KafkaCluster,
    load_block,
)
from flows.engine.approval import Approval, request_approval
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.runtime import journaled, owning_team, request_field, service_run_name
from flows.engine.session import registry_session
from flows.request_models.access_grant import (
    PERMISSIONS,
    AccessGrantRequest,
    AccessRequest,
    AccessRevokeRequest,
    grant_permission,
)
from registry import policy, queries
from registry.errors import PolicyViolation
from registry.models import Provider, ResourceStatus, utc_now
from tasks.aws.access import (
    access_policy_document,
    delete_user_policy,
    ensure_iam_user,
    ensure_user_policy,
)
from tasks.github_access import (
    RepositoryPermission,
    ensure_collaborator,
    ensure_team_membership,
    remove_collaborator,
    remove_team_membership,
)

__all__ = [
    "ENVIRONMENT_TAG",
    "GRANT_ACTION",
    "PERMISSIONS",
    "REVOKE_ACTION",
    "AccessGrantRequest",
    "AccessPlan",
    "AccessResult",
    "AccessRevokeRequest",
    "access_grant",
    "access_revoke",
    "grant_permission",
    "needs_approval",
    "parse_grant_permission",
    "plan_access",
    "remove_access",
]

GRANT_ACTION = "access:grant"
REVOKE_ACTION = "access:revoke"

WRITE_PERMISSIONS = frozenset({"push", "maintain", "admin", "maintainer", "write"})
REPOSITORY_KIND = "github_repository"
# Kinds of AWS resource a grant covers, told apart by their ARN's service.
_AWS_ARN_SERVICES = ("s3", "sqs", "dynamodb")
APPROVAL_TIMEOUT_SECONDS = 3600
ENVIRONMENT_TAG = "paved:environment"
# Resources without ENVIRONMENT_TAG: the safe assumption is that they are production's.
UNTAGGED_ENVIRONMENT = "production"


def _arn_service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def parse_grant_permission(value: str) -> tuple[str, str, str]:
    """`(kind, permission, environment)` of a registry permission string made by
    grant_permission; ValueError for anything else."""
    kind, _, rest = value.partition(":")
    permission, _, environment = rest.partition("@")
    if kind not in PERMISSIONS or permission not in PERMISSIONS[kind] or not environment:
        raise ValueError(f"{value!r} is not an access:grant permission")
    return kind, permission, environment


def iam_user_name(handle: str) -> str:
    """The IAM user of a person: `paved-<handle>`."""
    return f"paved-{handle}"


def iam_policy_name(*, service: str, permission: str, environment: str) -> str:
    """The inline policy of a grant: `paved-<service>-<permission>-<environment>`, so a
    staging grant and a production grant are revoked (and expire) apart."""
    return f"paved-{service}-{permission}-{environment}"


def resource_environment(tags: dict[str, str] | None) -> str:
    """The environment a registry resource belongs to, from its tags."""
    return (tags or {}).get(ENVIRONMENT_TAG) or UNTAGGED_ENVIRONMENT


class AccessResult(BaseModel):
    """What a grant or revoke run did."""

    service: str = Field(description="The service.")
    person: str = Field(description="Whose access.")
    kind: str = Field(description="Kind of access.")
    permission: str = Field(description="The registry's permission string.")
    target: str = Field(description="Team, repository, IAM user/policy or topics acted on.")
    approver: str | None = Field(description="Who approved; None when no approval was needed.")
    expires_at: str | None = Field(description="When the grant expires (ISO 8601), if it does.")
    changed: bool = Field(description="True when the provider was changed by this run.")
    dry_run: bool = Field(description="True when nothing was touched.")


def needs_approval(request: AccessRequest) -> bool:
    """Waiting for approval: a grant of write access, of anything in production, or of
    team membership (maintain on every team repository, a production reviewer seat); a
    revoke of anyone's access but the requester's own."""
    if isinstance(request, AccessRevokeRequest):
        return request.person.strip().lower() != request.requester.strip().lower()
    return (
        request.kind == "github-team"
        or request.permission in WRITE_PERMISSIONS
        or request.environment == "production"
    )


def _run_name(prefix: str) -> str:
    # `<verb>/<team>/<service>` from the shared helper, then the person the grant is for.
    return f"{service_run_name(prefix)()}/{request_field('person')}"


# --- validation -------------------------------------------------------------------------


class AccessPlan(BaseModel):
    """What a validated request will act on."""

    context: ServiceContext
    target: str
    repository: str | None = None
    policy_document: dict[str, Any] | None = None


def plan_access(
    request: AccessRequest, *, granting: bool, context: ServiceContext | None = None
) -> AccessPlan:
    """Every check that can fail before a side effect does. Without `context`, the
    requester must be an active member of the service's team; Paved's own runs
    (access:expire) pass the service's context instead."""
    if context is None:
        context = load_service_context(service=request.service, requester=request.requester)
    with registry_session() as session:
        if granting:
            queries.require_active_person(session, handle=request.person, role="person")
        else:
            queries.require_person(session, handle=request.person)
        resources = queries.find_resources(session, service=request.service)
        repositories = [
            r.external_id or r.name
            for r in resources
            if r.provider == Provider.GITHUB and r.kind == REPOSITORY_KIND
        ]
        aws = [
            (r.external_id, resource_environment(r.tags))
            for r in resources
            if r.provider == Provider.AWS
            and r.status == ResourceStatus.ACTIVE
            and r.external_id
            and _arn_service(r.external_id) in _AWS_ARN_SERVICES
        ]
        arns = [arn for arn, environment in aws if environment == request.environment]
    person = request.person.lower()
    if request.kind == "github-team":
        return AccessPlan(context=context, target=f"team {context.team}")
    if request.kind == "github-repository":
        if not repositories:
            raise PolicyViolation(
                f"service {request.service!r} has no GitHub repository in the registry; "
                "run github:repo:create first"
            )
        return AccessPlan(context=context, target=repositories[0], repository=repositories[0])
    if request.kind == "aws-iam":
        target = f"{iam_user_name(person)}/" + iam_policy_name(
            service=request.service, permission=request.permission, environment=request.environment
        )
        if not granting:
            return AccessPlan(context=context, target=target)
        if not arns:
            others = sorted({environment for _, environment in aws})
            raise PolicyViolation(
                f"service {request.service!r} has no active S3, SQS or DynamoDB resource in "
                f"{request.environment} in the registry (resources without a {ENVIRONMENT_TAG} "
                f"tag count as {UNTAGGED_ENVIRONMENT}"
                + (f"; it has some in {', '.join(others)}" if others else "")
                + f"): there is nothing to grant aws-iam access to in {request.environment}"
            )
        permission: Literal["read", "write"] = "write" if request.permission == "write" else "read"
        try:
            document = access_policy_document(
                arns, permission=permission, environment=request.environment
            )
        except ValueError as exc:
            raise PolicyViolation(f"cannot build the access policy: {exc}") from exc
        return AccessPlan(context=context, target=target, policy_document=document)
    kafka = load_block(KafkaCluster, KAFKA_BLOCK)
    if not kafka.has_authorizer:
        raise PolicyViolation(
            "kafka-acl access is refused: the Kafka cluster "
            f"{kafka.bootstrap_servers} has no authorizer (its block says has_authorizer=false), "
            "so ACLs would not be enforced; ask the platform team"
        )
    raise PolicyViolation(
        "kafka-acl grants are not automated yet on clusters with an authorizer; "
        "ask the platform team"
    )


# --- grant ------------------------------------------------------------------------------


@flow(
    name="access-grant",
    flow_run_name=lambda: _run_name("grant-access"),
    description="access:grant: a person's access to a service, approved when sensitive.",
    validate_parameters=True,
    log_prints=False,
)
def access_grant(request: AccessGrantRequest) -> AccessResult:
    """Give `request.person` `request.permission` of `request.kind` on `request.service`."""
    logger = get_run_logger()
    team = owning_team(request.service)
    with journaled(action=GRANT_ACTION, request=request, team=team, service=request.service):
        plan = plan_access(request, granting=True)
        expires_at = (
            utc_now() + timedelta(days=request.expires_in_days) if request.expires_in_days else None
        )
        if request.dry_run:
            return _dry_run(request, plan, expires_at=expires_at)

        approval = _approval(request, plan, action=GRANT_ACTION)
        changed = _grant(request, plan)
        with registry_session() as session:
            queries.grant_access(
                session,
                person=request.person,
                permission=request.grant_permission,
                service=request.service,
                approver=approval.approver if approval else None,
                expires_at=expires_at,
            )
        result = AccessResult(
            service=request.service,
            person=request.person,
            kind=request.kind,
            permission=request.grant_permission,
            target=plan.target,
            approver=approval.approver if approval else None,
            expires_at=expires_at.isoformat() if expires_at else None,
            changed=changed,
            dry_run=False,
        )
        _report(result, verb="Granted", reason=request.reason)
        logger.info(
            "%s %s on %s for %s%s",
            "Granted" if changed else "Already granted",
            request.grant_permission,
            plan.target,
            request.person,
            f", approved by {approval.approver}" if approval else "",
        )
        return result


def _approval(request: AccessRequest, plan: AccessPlan, *, action: str) -> Approval | None:
    """The approval the request needs (see needs_approval), or None."""
    if not needs_approval(request):
        return None
    verb = "grant" if action == GRANT_ACTION else "revoke"
    return request_approval(
        context=plan.context,
        action=action,
        summary=(
            f"{verb} {request.kind} {request.permission} on {plan.target} "
            f"({request.environment}) for {request.person}, asked by "
            f"{request.requester}: “{policy.escape_markdown(request.reason, 200)}”"
        ),
        timeout_seconds=APPROVAL_TIMEOUT_SECONDS,
        poll_interval_seconds=float(os.environ.get("PAVED_APPROVAL_POLL_SECONDS", "2")),
    )


def _grant(request: AccessGrantRequest, plan: AccessPlan) -> bool:
    person = request.person.lower()
    if request.kind == "github-team":
        github = load_block(GitHubOrganization, GITHUB_BLOCK)
        role: Literal["member", "maintainer"] = (
            "maintainer" if request.permission == "maintainer" else "member"
        )
        return ensure_team_membership(github, team=plan.context.team, username=person, role=role)
    if request.kind == "github-repository":
        github = load_block(GitHubOrganization, GITHUB_BLOCK)
        assert plan.repository is not None
        return ensure_collaborator(
            github,
            full_name=plan.repository,
            username=person,
            # The request model checked it is one of REPOSITORY_PERMISSIONS.
            permission=cast(RepositoryPermission, request.permission),
        )
    assert request.kind == "aws-iam" and plan.policy_document is not None
    aws = load_block(AwsAccount, AWS_BLOCK)
    user = ensure_iam_user(
        aws,
        user_name=iam_user_name(person),
        tags={policy.TAG_MANAGED_BY: policy.MANAGED_BY, "paved:person": person},
    )
    changed = ensure_user_policy(
        aws,
        user_name=user.name,
        policy_name=iam_policy_name(
            service=request.service,
            permission=request.permission,
            environment=request.environment,
        ),
        document=plan.policy_document,
    )
    return user.created or changed


# --- revoke -----------------------------------------------------------------------------


@flow(
    name="access-revoke",
    flow_run_name=lambda: _run_name("revoke-access"),
    description="access:revoke: take a person's access to a service away.",
    validate_parameters=True,
    log_prints=False,
)
def access_revoke(request: AccessRevokeRequest) -> AccessResult:
    """Remove `request.person`'s `request.kind` access to `request.service`; idempotent."""
    team = owning_team(request.service)
    with journaled(action=REVOKE_ACTION, request=request, team=team, service=request.service):
        plan = plan_access(request, granting=False)
        if request.dry_run:
            return _dry_run(request, plan, expires_at=None)
        approval = _approval(request, plan, action=REVOKE_ACTION)
        changed = remove_access(request, plan)
        with registry_session() as session:
            revoked = queries.revoke_access(
                session,
                person=request.person,
                permission=request.grant_permission,
                service=request.service,
            )
        result = AccessResult(
            service=request.service,
            person=request.person,
            kind=request.kind,
            permission=request.grant_permission,
            target=plan.target,
            approver=approval.approver if approval else None,
            expires_at=None,
            changed=changed or bool(revoked),
            dry_run=False,
        )
        _report(result, verb="Revoked", reason=request.reason)
        return result


def remove_access(request: AccessRevokeRequest, plan: AccessPlan) -> bool:
    """Take the access away at the provider; what is gone already is fine. True when it
    removed something."""
    person = request.person.lower()
    if request.kind == "github-team":
        github = load_block(GitHubOrganization, GITHUB_BLOCK)
        return remove_team_membership(github, team=plan.context.team, username=person)
    if request.kind == "github-repository":
        github = load_block(GitHubOrganization, GITHUB_BLOCK)
        assert plan.repository is not None
        return remove_collaborator(github, full_name=plan.repository, username=person)
    aws = load_block(AwsAccount, AWS_BLOCK)
    return delete_user_policy(
        aws,
        user_name=iam_user_name(person),
        policy_name=iam_policy_name(
            service=request.service,
            permission=request.permission,
            environment=request.environment,
        ),
    )


# --- reports ----------------------------------------------------------------------------


def _dry_run(request: AccessRequest, plan: AccessPlan, *, expires_at: Any) -> AccessResult:
    granting = isinstance(request, AccessGrantRequest)
    verb = "grant" if granting else "revoke"
    lines = [
        f"# Dry run: {GRANT_ACTION if granting else REVOKE_ACTION} for {request.person}",
        "",
        "Nothing was touched. A real run would:",
        "",
        f"- {verb} `{request.kind}` `{request.permission}` on {plan.target} "
        f"({request.environment})",
    ]
    if needs_approval(request):
        lines.append(
            f"- first wait for approval by `{plan.context.change_approver}`, change approver "
            f"of `{request.service}` (the team lead or an admin when that is you), with a "
            "one-time code sent to them"
        )
    if plan.policy_document is not None:
        lines += ["- with this inline policy:", "", "```json", _json(plan.policy_document), "```"]
    lines.append(f"- record the grant `{request.grant_permission}` in the registry")
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-access-{request.service}", description="Dry run"
    )
    return AccessResult(
        service=request.service,
        person=request.person,
        kind=request.kind,
        permission=request.grant_permission,
        target=plan.target,
        approver=None,
        expires_at=expires_at.isoformat() if expires_at else None,
        changed=False,
        dry_run=True,
    )


def _json(document: dict[str, Any]) -> str:
    import json

    return json.dumps(document, indent=2)


def _report(result: AccessResult, *, verb: str, reason: str) -> None:
    markdown = (
        f"# {verb}: {result.permission} for {result.person}\n\n"
        f"| service | target | approver | expires | changed |\n|---|---|---|---|---|\n"
        f"| {result.service} | {result.target} | {result.approver or 'not needed'} | "
        f"{result.expires_at or 'never'} | {'yes' if result.changed else 'no'} |\n\n"
        f"Reason:\n\n{policy.quoted_markdown(reason)}\n"
    )
    create_markdown_artifact(
        markdown=markdown,
        key=f"access-{result.service}",
        description=f"{verb} {result.permission}",
    )
