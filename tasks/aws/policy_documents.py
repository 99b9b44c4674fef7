"""IAM policy documents: typed models, Paved's validator and the documents Paved writes.

moto (and a careless template) accept any JSON as a policy; AWS accepts far more than
Paved should ever grant. `validate_policy_document` holds every document Paved writes to
least privilege before any call leaves the process:

- `Version` is "2012-10-17"; statements have an `Effect` of Allow or Deny, a non-empty
  `Action` of `service:Action` names (wildcards only inside the action name: never `*`
  or `service:*`), unique alphanumeric `Sid`s, and known `Condition` operators;
- resources are ARNs (`arn:partition:service:region:account:resource`) or `*`, and an
  Allow statement may name `*` only when every action in it is one AWS supports on `*`
  alone (`WILDCARD_RESOURCE_ACTIONS`); Allow statements never use `NotAction` or
  `NotResource`, which grant everything else;
- a trust policy names a `Principal` (never everyone) and only `sts:AssumeRole*` actions,
  and no `Resource`; a permissions policy names no `Principal`.

Pure: no boto3 here, so the rules are unit-tested without any server.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "GITHUB_OIDC_AUDIENCE",
    "GITHUB_OIDC_HOST",
    "POLICY_VERSION",
    "WILDCARD_RESOURCE_ACTIONS",
    "InvalidPolicyDocument",
    "PolicyDocument",
    "Statement",
    "deploy_permissions_policy",
    "github_oidc_trust_policy",
    "validate_policy_document",
]

POLICY_VERSION = "2012-10-17"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"

WILDCARD_RESOURCE_ACTIONS: frozenset[str] = frozenset(
    {
        # Actions AWS authorizes on "*" only: they act on no particular resource, so the
        # Service Authorization Reference lists no resource type for them.
        "ecr:GetAuthorizationToken",
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "ecs:DeregisterTaskDefinition",
        "ecs:ListTaskDefinitions",
        "sts:GetCallerIdentity",
    }
)
"""Actions an Allow statement may grant on `Resource: "*"` (AWS supports no narrower one)."""

_ACTION = re.compile(r"^(?P<service>[a-z0-9-]+):(?P<name>[A-Za-z0-9*?]+)$")
_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):(?P<service>[a-z0-9-]+)"
    r":(?P<region>[a-z0-9-]*|\*):(?P<account>\d{12}|aws|\*)?:(?P<resource>\S+)$"
)
_SID = re.compile(r"^[A-Za-z0-9]*$")
_CONDITION_OPERATOR = re.compile(
    r"^(?:(?:ForAllValues|ForAnyValue):)?"
    r"(?:String(?:Not)?Equals(?:IgnoreCase)?|String(?:Not)?Like"
    r"|Numeric(?:Not)?Equals|Numeric(?:Less|Greater)Than(?:Equals)?"
    r"|Date(?:Not)?Equals|Date(?:Less|Greater)Than(?:Equals)?"
    r"|Bool|BinaryEquals|(?:Not)?IpAddress|Arn(?:Not)?(?:Equals|Like))(?:IfExists)?$"
    r"|^Null$"
)
_TRUST_ACTIONS = frozenset(
    {"sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"}
)
_PRINCIPAL_KINDS = ("AWS", "Service", "Federated", "CanonicalUser")

StringOrList = str | list[str]
ConditionValue = str | bool | int | list[str]


class InvalidPolicyDocument(ValueError):
    """A policy document Paved refuses to write; the message names the statement and rule."""


class Statement(BaseModel):
    """One statement of a policy document, with AWS's field names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sid: str | None = Field(default=None, alias="Sid", description="Statement id.")
    effect: Literal["Allow", "Deny"] = Field(alias="Effect", description="Allow or Deny.")
    principal: Literal["*"] | dict[str, StringOrList] | None = Field(
        default=None, alias="Principal", description="Who (trust policies only)."
    )
    action: StringOrList | None = Field(default=None, alias="Action")
    not_action: StringOrList | None = Field(default=None, alias="NotAction")
    resource: StringOrList | None = Field(default=None, alias="Resource")
    not_resource: StringOrList | None = Field(default=None, alias="NotResource")
    condition: dict[str, dict[str, ConditionValue]] | None = Field(
        default=None, alias="Condition", description="Operator -> condition key -> value(s)."
    )

    @property
    def actions(self) -> list[str]:
        """`Action` (or `NotAction`) as a list."""
        return _as_list(self.action if self.action is not None else self.not_action)

    @property
    def resources(self) -> list[str]:
        """`Resource` (or `NotResource`) as a list."""
        return _as_list(self.resource if self.resource is not None else self.not_resource)


class PolicyDocument(BaseModel):
    """A whole policy document, as AWS stores it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: Literal["2012-10-17"] = Field(alias="Version", description="Policy language.")
    id: str | None = Field(default=None, alias="Id", description="Optional document id.")
    statement: list[Statement] = Field(alias="Statement", min_length=1)

    def to_json(self) -> dict[str, Any]:
        """The document as AWS wants it (AWS field names, absent fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def _as_list(value: StringOrList | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _label(index: int, raw: Any) -> str:
    sid = raw.get("Sid") if isinstance(raw, dict) else None
    return f"statement {index + 1}" + (f" ({sid})" if sid else "")


def validate_policy_document(
    doc: dict[str, Any],
    *,
    kind: Literal["trust", "permissions"],
    allowed_wildcard_actions: frozenset[str] = WILDCARD_RESOURCE_ACTIONS,
) -> PolicyDocument:
    """`doc` as a PolicyDocument when it passes every rule of the module docstring.

    `kind` says what the document is: a role's trust policy or a permissions policy.
    Raises InvalidPolicyDocument naming the statement (number and Sid) and the rule.
    """
    if not isinstance(doc, dict):
        raise InvalidPolicyDocument(f"a policy document is a JSON object, not {type(doc).__name__}")
    if doc.get("Version") != POLICY_VERSION:
        raise InvalidPolicyDocument(
            f"Version must be {POLICY_VERSION!r}, got {doc.get('Version')!r}"
        )
    raw_statements = doc.get("Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise InvalidPolicyDocument("Statement must be a non-empty list of statements")
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise InvalidPolicyDocument(f"unknown top-level field(s): {', '.join(sorted(unknown))}")
    statements = []
    seen_sids: set[str] = set()
    for index, raw in enumerate(raw_statements):
        label = _label(index, raw)
        statement = _parse_statement(label, raw)
        if statement.sid:
            if statement.sid in seen_sids:
                raise InvalidPolicyDocument(f"{label}: Sid {statement.sid!r} is used twice")
            seen_sids.add(statement.sid)
        _check_statement(label, statement, kind=kind, allowed=allowed_wildcard_actions)
        statements.append(statement)
    return PolicyDocument(Version="2012-10-17", Id=doc.get("Id"), Statement=statements)


def _parse_statement(label: str, raw: Any) -> Statement:
    if not isinstance(raw, dict):
        raise InvalidPolicyDocument(f"{label}: a statement is a JSON object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise InvalidPolicyDocument(f"{label}: unknown Effect {effect!r}; use Allow or Deny")
    try:
        return Statement.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise InvalidPolicyDocument(f"{label}: {problems}") from None


def _check_statement(
    label: str, statement: Statement, *, kind: str, allowed: frozenset[str]
) -> None:
    if statement.sid is not None and not _SID.fullmatch(statement.sid):
        raise InvalidPolicyDocument(
            f"{label}: Sid {statement.sid!r} may only hold letters and digits"
        )
    _check_actions(label, statement)
    _check_conditions(label, statement)
    if kind == "trust":
        _check_trust(label, statement)
    else:
        _check_permissions(label, statement, allowed)


def _check_actions(label: str, statement: Statement) -> None:
    if (statement.action is None) == (statement.not_action is None):
        raise InvalidPolicyDocument(f"{label}: give exactly one of Action and NotAction")
    actions = statement.actions
    if not actions:
        raise InvalidPolicyDocument(f"{label}: Action is empty")
    for action in actions:
        if action == "*":
            raise InvalidPolicyDocument(f"{label}: Action '*' grants every action; name them")
        match = _ACTION.fullmatch(action)
        if match is None:
            raise InvalidPolicyDocument(
                f"{label}: action {action!r} is not of the form service:Action"
            )
        if set(match["name"]) <= {"*", "?"}:
            raise InvalidPolicyDocument(
                f"{label}: action {action!r} grants every {match['service']} action; name them"
            )
    if statement.effect == "Allow" and statement.not_action is not None:
        raise InvalidPolicyDocument(
            f"{label}: NotAction in an Allow statement grants every other action; use Action"
        )


def _check_conditions(label: str, statement: Statement) -> None:
    for operator, keys in (statement.condition or {}).items():
        if not _CONDITION_OPERATOR.fullmatch(operator):
            raise InvalidPolicyDocument(f"{label}: unknown Condition operator {operator!r}")
        if not keys:
            raise InvalidPolicyDocument(f"{label}: Condition {operator} names no key")
        for key, value in keys.items():
            if not key or ":" not in key:
                raise InvalidPolicyDocument(
                    f"{label}: Condition key {key!r} is not of the form prefix:name"
                )
            if isinstance(value, list) and not value:
                raise InvalidPolicyDocument(f"{label}: Condition {operator} {key} has no value")


def _check_trust(label: str, statement: Statement) -> None:
    if statement.resource is not None or statement.not_resource is not None:
        raise InvalidPolicyDocument(f"{label}: a trust policy names no Resource")
    principal = statement.principal
    if principal is None:
        raise InvalidPolicyDocument(f"{label}: a trust policy statement needs a Principal")
    if isinstance(principal, dict):
        unknown = set(principal) - set(_PRINCIPAL_KINDS)
        if unknown or not principal:
            raise InvalidPolicyDocument(
                f"{label}: Principal kinds are {', '.join(_PRINCIPAL_KINDS)}; "
                f"got {', '.join(sorted(unknown)) or 'none'}"
            )
        for kind, values in principal.items():
            for value in _as_list(values):
                if value == "*" and statement.effect == "Allow":
                    raise InvalidPolicyDocument(
                        f"{label}: Principal {kind} '*' lets anyone assume the role"
                    )
                if kind in ("AWS", "Federated") and value.startswith("arn:"):
                    _check_arn(label, value)
    elif statement.effect == "Allow":
        raise InvalidPolicyDocument(f"{label}: Principal '*' lets anyone assume the role")
    for action in statement.actions:
        if action not in _TRUST_ACTIONS:
            raise InvalidPolicyDocument(
                f"{label}: a trust policy allows only sts:AssumeRole* actions, not {action!r}"
            )


def _check_permissions(label: str, statement: Statement, allowed: frozenset[str]) -> None:
    if statement.principal is not None:
        raise InvalidPolicyDocument(f"{label}: a permissions policy names no Principal")
    if (statement.resource is None) == (statement.not_resource is None):
        raise InvalidPolicyDocument(f"{label}: give exactly one of Resource and NotResource")
    resources = statement.resources
    if not resources:
        raise InvalidPolicyDocument(f"{label}: Resource is empty")
    for resource in resources:
        if resource != "*":
            _check_arn(label, resource)
    if statement.effect == "Deny":
        return
    if statement.not_resource is not None:
        raise InvalidPolicyDocument(
            f"{label}: NotResource in an Allow statement grants every other resource"
        )
    if "*" in resources:
        broad = [action for action in statement.actions if action not in allowed]
        if broad:
            raise InvalidPolicyDocument(
                f"{label}: Resource '*' is allowed only for actions AWS supports on '*' "
                f"alone ({', '.join(sorted(allowed))}); name the resources of "
                f"{', '.join(broad)}"
            )


def _check_arn(label: str, arn: str) -> None:
    if not _ARN.fullmatch(arn):
        raise InvalidPolicyDocument(
            f"{label}: {arn!r} is not an ARN (arn:partition:service:region:account:resource)"
        )


# -- the documents Paved writes ---------------------------------------------------------------


def github_oidc_trust_policy(
    *, provider_arn: str, repository: str, environment: str = "production"
) -> dict[str, Any]:
    """Trust for GitHub Actions' OIDC tokens of one repository's `environment` only.

    `repository` is `org/repo`; a job that does not run in that environment (another
    branch, a pull request, another repository) gets a token AWS refuses.
    """
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise InvalidPolicyDocument(f"repository {repository!r} is not of the form org/repo")
    document = {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "GitHubActionsDeploy",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": f"repo:{repository}:environment:{environment}",
                    }
                },
            }
        ],
    }
    return validate_policy_document(document, kind="trust").to_json()


# What pushing an image to one ECR repository (and pulling its layers back) takes.
ECR_PUSH_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def deploy_permissions_policy(
    *,
    ecr_repository_arn: str,
    ecs_service_arn: str,
    ecs_cluster_arn: str,
    task_execution_role_arn: str | None,
) -> dict[str, Any]:
    """What a service's deploy job needs and nothing more: push to its ECR repository,
    register a task definition, roll its ECS service (in its cluster), and hand ECS its
    task execution role when it has one."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "EcrPushPull",
            "Effect": "Allow",
            "Action": list(ECR_PUSH_PULL_ACTIONS),
            "Resource": ecr_repository_arn,
        },
        {
            "Sid": "EcsTaskDefinitions",
            "Effect": "Allow",
            "Action": ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"],
            "Resource": "*",
        },
        {
            "Sid": "EcsDeployService",
            "Effect": "Allow",
            "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
            "Resource": ecs_service_arn,
            "Condition": {"ArnEquals": {"ecs:cluster": ecs_cluster_arn}},
        },
    ]
    if task_execution_role_arn is not None:
        statements.append(
            {
                "Sid": "PassTaskExecutionRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": task_execution_role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            }
        )
    document = {"Version": POLICY_VERSION, "Statement": statements}
    return validate_policy_document(document, kind="permissions").to_json()
