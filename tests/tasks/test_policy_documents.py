"""Paved's IAM policy validator and the documents it writes (moto validates none of this)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.aws.policy_documents import (
    WILDCARD_RESOURCE_ACTIONS,
    InvalidPolicyDocument,
    deploy_permissions_policy,
    github_oidc_trust_policy,
    validate_policy_document,
)

ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ECR = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments-orders-app"
CLUSTER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/paved-shared"
SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/paved-shared/payments-orders-app"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/payments-orders-task"


def permissions(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = ECR, **extra: Any) -> dict[str, Any]:
    return {"Sid": "Test", "Effect": "Allow", "Action": action, "Resource": resource, **extra}


TRUST = github_oidc_trust_policy(provider_arn=PROVIDER, repository="acme/orders")


def test_trust_policy_trusts_only_the_production_environment_of_the_repository() -> None:
    statement = TRUST["Statement"][0]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/orders:environment:production",
        }
    }
    assert validate_policy_document(TRUST, kind="trust").to_json() == TRUST


def test_trust_policy_refuses_a_repository_that_is_not_org_slash_repo() -> None:
    with pytest.raises(InvalidPolicyDocument, match="org/repo"):
        github_oidc_trust_policy(provider_arn=PROVIDER, repository="orders")


def test_deploy_policy_is_limited_to_the_service() -> None:
    document = deploy_permissions_policy(
        ecr_repository_arn=ECR,
        ecs_service_arn=SERVICE,
        ecs_cluster_arn=CLUSTER,
        task_execution_role_arn=TASK_ROLE,
    )
    by_sid = {statement["Sid"]: statement for statement in document["Statement"]}
    assert by_sid["EcrLogin"]["Resource"] == "*"
    assert by_sid["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"
    assert by_sid["EcrPushPull"]["Resource"] == ECR
    assert "ecr:PutImage" in by_sid["EcrPushPull"]["Action"]
    assert by_sid["EcsDeployService"]["Resource"] == SERVICE
    assert sorted(by_sid["EcsDeployService"]["Action"]) == [
        "ecs:DescribeServices",
        "ecs:UpdateService",
    ]
    assert by_sid["EcsDeployService"]["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER}}
    assert by_sid["PassTaskExecutionRole"] == {
        "Sid": "PassTaskExecutionRole",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": TASK_ROLE,
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }
    star = [s for s in document["Statement"] if s["Resource"] == "*"]
    assert {
        a for s in star for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    } <= (WILDCARD_RESOURCE_ACTIONS)


def test_deploy_policy_without_a_task_role_passes_no_role() -> None:
    document = deploy_permissions_policy(
        ecr_repository_arn=ECR,
        ecs_service_arn=SERVICE,
        ecs_cluster_arn=CLUSTER,
        task_execution_role_arn=None,
    )
    assert all("iam:PassRole" not in str(s["Action"]) for s in document["Statement"])


VALID_PERMISSIONS = {
    "one action on one ARN": permissions(allow("ecr:PutImage")),
    "wildcard inside an action name": permissions(allow("ecr:Describe*")),
    "star resource for an action AWS supports on star only": permissions(
        allow("ecr:GetAuthorizationToken", "*")
    ),
    "deny on star": permissions({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}),
    "deny with NotAction": permissions(
        {"Effect": "Deny", "NotAction": "iam:PassRole", "Resource": "*"}
    ),
    "ARN lists and conditions": permissions(
        allow(
            ["s3:GetObject", "s3:PutObject"],
            ["arn:aws:s3:::payments-orders-data/*", "arn:aws:s3:::payments-orders-data"],
            Condition={"Bool": {"aws:SecureTransport": "true"}},
        )
    ),
    "ForAnyValue and IfExists operators": permissions(
        allow(
            "ecr:PutImage",
            Condition={
                "ForAnyValue:StringLike": {"aws:TagKeys": ["paved:*"]},
                "StringEqualsIfExists": {"aws:RequestTag/paved:team": "payments"},
            },
        )
    ),
}


@pytest.mark.parametrize("document", VALID_PERMISSIONS.values(), ids=VALID_PERMISSIONS.keys())
def test_valid_permissions_documents_pass(document: dict[str, Any]) -> None:
    assert validate_policy_document(document, kind="permissions").to_json() == document


def with_statement(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    statement = changed["Statement"][0]
    for key, value in changes.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return changed


BASE = permissions(allow("ecr:PutImage"))

INVALID_PERMISSIONS: dict[str, tuple[dict[str, Any], str]] = {
    "wrong version": ({**BASE, "Version": "2008-10-17"}, "Version must be '2012-10-17'"),
    "no statements": ({"Version": "2012-10-17", "Statement": []}, "non-empty list"),
    "unknown top-level field": ({**BASE, "Extra": 1}, "unknown top-level field"),
    "unknown effect": (with_statement(BASE, Effect="Permit"), "statement 1 (Test): unknown Effect"),
    "empty action list": (with_statement(BASE, Action=[]), "statement 1 (Test): Action is empty"),
    "no action at all": (with_statement(BASE, Action=None), "exactly one of Action and NotAction"),
    "action star": (with_statement(BASE, Action="*"), "Action '*' grants every action"),
    "service star": (with_statement(BASE, Action="ecr:*"), "grants every ecr action"),
    "service star in a list": (
        with_statement(BASE, Action=["ecr:PutImage", "s3:*"]),
        "grants every s3 action",
    ),
    "action without a service": (
        with_statement(BASE, Action="PutImage"),
        "not of the form service:Action",
    ),
    "malformed ARN": (
        with_statement(BASE, Resource="arn:aws:ecr:us-east-1:12345:repository/x"),
        "is not an ARN",
    ),
    "not an ARN at all": (with_statement(BASE, Resource="payments-orders-app"), "is not an ARN"),
    "star resource on a scoped action": (
        with_statement(BASE, Resource="*"),
        "Resource '*' is allowed only for actions AWS supports on '*' alone",
    ),
    "star among ARNs": (
        with_statement(BASE, Resource=[ECR, "*"]),
        "name the resources of ecr:PutImage",
    ),
    "star with one allowed and one scoped action": (
        with_statement(
            BASE, Action=["ecr:GetAuthorizationToken", "ecs:UpdateService"], Resource="*"
        ),
        "ecs:UpdateService",
    ),
    "no resource": (with_statement(BASE, Resource=None), "exactly one of Resource and NotResource"),
    "allow with NotAction": (
        with_statement(BASE, Action=None, NotAction="iam:*"),
        "grants every iam action",
    ),
    "allow with NotAction on a named action": (
        with_statement(BASE, Action=None, NotAction="iam:PassRole"),
        "NotAction in an Allow statement",
    ),
    "allow with NotResource": (
        with_statement(BASE, Resource=None, NotResource=ECR),
        "NotResource in an Allow statement",
    ),
    "principal in a permissions policy": (
        with_statement(BASE, Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        "names no Principal",
    ),
    "unknown condition operator": (
        with_statement(BASE, Condition={"StringIs": {"aws:SourceVpc": "vpc-1"}}),
        "unknown Condition operator 'StringIs'",
    ),
    "condition key without a prefix": (
        with_statement(BASE, Condition={"StringEquals": {"SourceVpc": "vpc-1"}}),
        "not of the form prefix:name",
    ),
    "sid with punctuation": (with_statement(BASE, Sid="push-images"), "letters and digits"),
    "unknown statement field": (with_statement(BASE, Actions="ecr:PutImage"), "Extra inputs"),
    "duplicate sids": (
        permissions(allow("ecr:PutImage"), allow("ecr:BatchGetImage")),
        "statement 2 (Test): Sid 'Test' is used twice",
    ),
}


@pytest.mark.parametrize(
    ("document", "says"), INVALID_PERMISSIONS.values(), ids=INVALID_PERMISSIONS.keys()
)
def test_invalid_permissions_documents_are_refused_naming_statement_and_rule(
    document: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidPolicyDocument) as caught:
        validate_policy_document(document, kind="permissions")
    assert says in str(caught.value)
    assert isinstance(caught.value, ValueError)


TRUST_STATEMENT = TRUST["Statement"][0]
INVALID_TRUST: dict[str, tuple[dict[str, Any], str]] = {
    "no principal": (with_statement(TRUST, Principal=None), "needs a Principal"),
    "everyone": (with_statement(TRUST, Principal="*"), "lets anyone assume the role"),
    "everyone in AWS": (with_statement(TRUST, Principal={"AWS": "*"}), "lets anyone"),
    "unknown principal kind": (with_statement(TRUST, Principal={"Group": "x"}), "Principal kinds"),
    "malformed federated ARN": (
        with_statement(TRUST, Principal={"Federated": "arn:aws:iam::1:oidc-provider/x"}),
        "is not an ARN",
    ),
    "not an assume-role action": (
        with_statement(TRUST, Action="sts:GetSessionToken"),
        "only sts:AssumeRole* actions",
    ),
    "a resource": (with_statement(TRUST, Resource="*"), "names no Resource"),
}


@pytest.mark.parametrize(("document", "says"), INVALID_TRUST.values(), ids=INVALID_TRUST.keys())
def test_invalid_trust_policies_are_refused(document: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidPolicyDocument, match="statement 1") as caught:
        validate_policy_document(document, kind="trust")
    assert says in str(caught.value)


def test_a_trust_policy_is_not_a_permissions_policy() -> None:
    with pytest.raises(InvalidPolicyDocument, match="names no Principal"):
        validate_policy_document(TRUST, kind="permissions")


def test_the_allow_list_of_star_actions_can_be_narrowed() -> None:
    document = permissions(allow("ecs:RegisterTaskDefinition", "*"))
    validate_policy_document(document, kind="permissions")
    with pytest.raises(InvalidPolicyDocument, match="ecs:RegisterTaskDefinition"):
        validate_policy_document(
            document,
            kind="permissions",
            allowed_wildcard_actions=frozenset({"ecr:GetAuthorizationToken"}),
        )


SERVICES = st.sampled_from(["ecr", "ecs", "s3", "iam", "sqs", "dynamodb", "logs"])
ACTION_NAMES = st.from_regex(r"[A-Z][A-Za-z]{2,20}\*?", fullmatch=True)


@given(service=SERVICES, name=ACTION_NAMES)
def test_any_named_action_on_an_arn_is_accepted(service: str, name: str) -> None:
    document = permissions(allow(f"{service}:{name}", f"arn:aws:{service}:us-east-1:{ACCOUNT}:x/y"))
    validate_policy_document(document, kind="permissions")


@given(service=SERVICES, stars=st.sampled_from(["*", "**", "?", "*?"]))
def test_no_whole_service_wildcard_is_ever_accepted(service: str, stars: str) -> None:
    document = permissions(allow(f"{service}:{stars}"))
    with pytest.raises(InvalidPolicyDocument, match=f"grants every {service} action"):
        validate_policy_document(document, kind="permissions")


@given(service=SERVICES, name=ACTION_NAMES)
def test_star_resource_needs_the_allow_list(service: str, name: str) -> None:
    action = f"{service}:{name}"
    document = permissions(allow(action, "*"))
    if action in WILDCARD_RESOURCE_ACTIONS:
        validate_policy_document(document, kind="permissions")
    else:
        with pytest.raises(InvalidPolicyDocument, match="Resource '\\*' is allowed only"):
            validate_policy_document(document, kind="permissions")


@given(junk=st.text(min_size=1, max_size=40).filter(lambda text: not text.startswith("arn:")))
def test_anything_but_an_arn_or_star_is_refused_as_a_resource(junk: str) -> None:
    if junk == "*":
        return
    with pytest.raises(InvalidPolicyDocument):
        validate_policy_document(permissions(allow("ecr:PutImage", junk)), kind="permissions")
