"""`access:expire`: grants made with `expires_in_days` lose their provider access once
their expiry has passed (moved into the past in the registry here), and are journaled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from github import Github

from blocks import AwsAccount
from flows.actions.access_expire import ACTION, access_expire
from registry import queries
from registry.models import JournalEntry
from sandbox.fake_github.control import FakeGitHubControl
from tests.flows.test_access import (  # noqa: F401  (fixtures)
    grant,
    grants,
    iam,
    orders,
    orders_bucket,
    registry,
    user_policies,
)

pytestmark = pytest.mark.usefixtures("orders_bucket")


def expire_now(registry_url: str, permission: str) -> None:
    """Move erin's grant of `permission` into the past, as if its days ran out."""
    with registry(registry_url) as session:
        for row in queries.find_grants(session, person="erin"):
            if row.permission == permission:
                row.expires_at = row.granted_at - timedelta(minutes=1)


def collaborators(github: Github) -> set[str]:
    repo = github.get_repo("acme/orders")
    return {c.login for c in repo.get_collaborators(affiliation="direct")}


def journal(registry_url: str, flow_run_id: str) -> list[JournalEntry]:
    with registry(registry_url) as session:
        entries = queries.journal_for_run(session, flow_run_id=flow_run_id)
        session.expunge_all()
    return entries


def run() -> Any:
    state = access_expire(return_state=True)
    assert state.is_completed(), state.message
    return state


def test_expired_grants_lose_their_provider_access_and_are_journaled(
    aws_account: AwsAccount,
    fake_github: FakeGitHubControl,
    github: Github,
    registry_url: str,
) -> None:
    assert grant({"kind": "aws-iam", "permission": "read", "expires_in_days": 1}).is_completed()
    pull = {"kind": "github-repository", "permission": "pull", "expires_in_days": 30}
    assert grant(pull).is_completed()
    assert user_policies(aws_account) == ["paved-orders-read-staging"]
    assert "erin" in collaborators(github)

    # Nothing is due yet: nothing changes.
    assert run().result().expired == []
    assert len(grants(registry_url)) == 2

    expire_now(registry_url, "aws-iam:read@staging")
    state = run()

    assert state.result().expired == ["aws-iam:read@staging of erin on orders"]
    assert user_policies(aws_account) == []
    assert "erin" in collaborators(github)  # not expired yet
    assert sorted(grants(registry_url, status=None)) == [
        ("aws-iam:read@staging", "expired", None),
        ("github-repository:pull@staging", "active", None),
    ]
    entries = journal(registry_url, str(state.state_details.flow_run_id))
    assert [e.state for e in entries] == ["Running", "Expired", "Completed"]
    assert (entries[1].action, entries[1].service, entries[1].team) == (
        ACTION,
        "orders",
        "payments",
    )
    assert entries[1].parameters["expired"]["removed"] is True

    expire_now(registry_url, "github-repository:pull@staging")
    assert run().result().expired == ["github-repository:pull@staging of erin on orders"]
    assert "erin" not in collaborators(github)
    assert grants(registry_url, status="active") == []


def test_access_already_gone_at_the_provider_still_expires(
    aws_account: AwsAccount, registry_url: str
) -> None:
    assert grant({"kind": "aws-iam", "permission": "read", "expires_in_days": 1}).is_completed()
    iam(aws_account).delete_user_policy(
        UserName="paved-erin", PolicyName="paved-orders-read-staging"
    )
    expire_now(registry_url, "aws-iam:read@staging")

    state = run()

    assert state.result().expired == ["aws-iam:read@staging of erin on orders"]
    assert grants(registry_url, status=None) == [("aws-iam:read@staging", "expired", None)]
    (expired,) = [
        e
        for e in journal(registry_url, str(state.state_details.flow_run_id))
        if e.state == "Expired"
    ]
    assert expired.parameters["expired"]["removed"] is False


def test_dry_run_lists_and_touches_nothing(aws_account: AwsAccount, registry_url: str) -> None:
    assert grant({"kind": "aws-iam", "permission": "read", "expires_in_days": 1}).is_completed()
    expire_now(registry_url, "aws-iam:read@staging")

    state = access_expire(dry_run=True, return_state=True)

    assert state.is_completed(), state.message
    assert state.result().expired == ["aws-iam:read@staging of erin on orders"]
    assert user_policies(aws_account) == ["paved-orders-read-staging"]
    assert grants(registry_url) == [("aws-iam:read@staging", "active", None)]
