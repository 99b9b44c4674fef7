"""IAM tasks: GitHub Actions' OIDC provider and the deploy roles it may assume.

Every document is checked by `policy_documents.validate_policy_document` before any call
(moto accepts any JSON; AWS accepts more than Paved grants). Each task reads before it
writes, so a re-run against an account that is already right changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from prefect import task
from pydantic import BaseModel, Field

from tasks.aws import NOT_FOUND_CODES, aws_errors, error_code, refuse_unless_ours, tag_list
from tasks.aws.policy_documents import GITHUB_OIDC_AUDIENCE, validate_policy_document
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = [
    "DEPLOY_POLICY_NAME",
    "GITHUB_OIDC_THUMBPRINT",
    "GITHUB_OIDC_URL",
    "RoleInfo",
    "delete_deploy_role",
    "ensure_deploy_role",
    "ensure_github_oidc_provider",
    "get_account_id",
]

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
# GitHub's published thumbprint for its OIDC endpoint. AWS no longer checks it for
# providers it trusts by root CA, but the API still requires one.
GITHUB_OIDC_THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"
DEPLOY_POLICY_NAME = "paved-deploy"


class RoleInfo(BaseModel):
    """A deploy role as Paved left it."""

    name: str = Field(description="Role name.")
    arn: str = Field(description="Role ARN.")
    changes: list[str] = Field(description="What this call changed; empty when all was right.")


@task(name="aws: account id", **PROVIDER_TASK_OPTIONS)
def get_account_id(account: AwsAccount) -> str:
    """The 12-digit id of the account the block's credentials act in (STS)."""
    with aws_errors("get caller identity", "sts"):
        return str(account.get_client("sts").get_caller_identity()["Account"])


def _provider_host(url: str) -> str:
    return url.removeprefix("https://")


@task(name="aws: ensure GitHub OIDC provider", **PROVIDER_TASK_OPTIONS)
def ensure_github_oidc_provider(account: AwsAccount) -> str:
    """The ARN of the account's OIDC provider for GitHub Actions, created when missing.

    There is one per account: it is found by listing the account's providers (their ARNs
    end with the provider's host) and shared by every service's deploy role.
    """
    logger = task_logger()
    host = _provider_host(GITHUB_OIDC_URL)
    with aws_errors("ensure OIDC provider", GITHUB_OIDC_URL):
        iam = account.get_client("iam")
        for provider in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
            arn = str(provider["Arn"])
            if arn.endswith(f":oidc-provider/{host}"):
                return arn
        created = iam.create_open_id_connect_provider(
            Url=GITHUB_OIDC_URL,
            ClientIDList=[GITHUB_OIDC_AUDIENCE],
            ThumbprintList=[GITHUB_OIDC_THUMBPRINT],
            Tags=tag_list({"paved:managed-by": "paved"}),
        )
        arn = str(created["OpenIDConnectProviderArn"])
        logger.info("Created the GitHub Actions OIDC provider %s", arn)
        return arn


def _as_document(value: Any) -> dict[str, Any]:
    """A policy document from IAM: boto3 parses most, some come URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    parsed: dict[str, Any] = json.loads(unquote(str(value)))
    return parsed


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _get_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        role: dict[str, Any] = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return role


def _inline_policy(iam: Any, role: str, policy: str) -> dict[str, Any] | None:
    try:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return _as_document(document)


@task(name="aws: ensure deploy role", **PROVIDER_TASK_OPTIONS)
def ensure_deploy_role(
    account: AwsAccount,
    *,
    name: str,
    trust_policy: dict[str, Any],
    permissions_policy: dict[str, Any],
    tags: Mapping[str, str],
) -> RoleInfo:
    """Make role `name` trust exactly `trust_policy`, hold exactly `permissions_policy` as
    its inline policy `paved-deploy`, and carry `tags`.

    Both documents are validated first (InvalidPolicyDocument, before any call).
    """
    trust = validate_policy_document(trust_policy, kind="trust").to_json()
    permissions = validate_policy_document(permissions_policy, kind="permissions").to_json()
    logger = task_logger()
    changes: list[str] = []
    with aws_errors("ensure deploy role", name):
        iam = account.get_client("iam")
        role = _get_role(iam, name)
        if role is not None:
            found = iam.list_role_tags(RoleName=name).get("Tags", [])
            refuse_unless_ours(
                kind="IAM role",
                name=name,
                current={tag["Key"]: tag["Value"] for tag in found},
                tags=tags,
            )
        if role is None:
            role = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="Paved: GitHub Actions deploys of one service",
                MaxSessionDuration=3600,
                Tags=tag_list(tags),
            )["Role"]
            changes.append(f"created role {name}")
        elif not _same(_as_document(role["AssumeRolePolicyDocument"]), trust):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            changes.append(f"updated the trust policy of {name}")
        current = _inline_policy(iam, name, DEPLOY_POLICY_NAME)
        if current is None or not _same(current, permissions):
            iam.put_role_policy(
                RoleName=name, PolicyName=DEPLOY_POLICY_NAME, PolicyDocument=json.dumps(permissions)
            )
            changes.append(f"wrote inline policy {DEPLOY_POLICY_NAME}")
        present = {
            tag["Key"]: tag["Value"] for tag in iam.list_role_tags(RoleName=name).get("Tags", [])
        }
        if any(present.get(key) != value for key, value in tags.items()):
            iam.tag_role(RoleName=name, Tags=tag_list(tags))
            changes.append(f"tagged {name}")
    for change in changes:
        logger.info("%s", change)
    return RoleInfo(name=name, arn=str(role["Arn"]), changes=changes)


@task(name="aws: delete deploy role", **PROVIDER_TASK_OPTIONS)
def delete_deploy_role(account: AwsAccount, *, name: str) -> bool:
    """Delete role `name` after its inline (and any attached) policies; False when it did
    not exist."""
    with aws_errors("delete deploy role", name):
        iam = account.get_client("iam")
        try:
            for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            attached = iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", [])
            for policy in attached:
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
            iam.delete_role(RoleName=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise
    return True
