"""Who answers for a thing, whatever the thing is given as, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry import queries
from registry.models import ServiceStatus
from registry.queries import MATCHED_BY, Ownership

HELLO = Ownership(
    service="hello",
    owner="bob",
    team="platform",
    team_lead="alice",
    change_approver="alice",
    oncall="bob",
    cost_watcher="alice",
    status=ServiceStatus.ACTIVE,
    matched="service",
)


@pytest.fixture
def estate(seeded: Session) -> Session:
    """Service hello (platform, owner bob) with a repository, a bucket and a topic, and
    an orphan bucket nobody claims."""
    queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    queries.set_service_status(seeded, name="hello", status="active")
    queries.upsert_resource(
        seeded,
        service="hello",
        provider="github",
        kind="github_repository",
        name="acme/hello",
        external_id="acme/hello",
        url="http://127.0.0.1:15480/acme/hello",
        status="active",
    )
    queries.upsert_resource(
        seeded,
        service="hello",
        provider="aws",
        kind="s3_bucket",
        name="platform-hello-logs",
        external_id="arn:aws:s3:::platform-hello-logs",
        url="https://s3.console.aws.amazon.com/s3/buckets/platform-hello-logs",
        status="active",
    )
    queries.upsert_resource(
        seeded,
        service="hello",
        provider="kafka",
        kind="kafka_topic",
        name="platform.hello.greeted",
        external_id="platform.hello.greeted",
        status="active",
    )
    queries.upsert_resource(
        seeded,
        service=None,
        provider="aws",
        kind="s3_bucket",
        name="old-logs",
        external_id="arn:aws:s3:::old-logs",
        status="active",
    )
    return seeded


def _matched(session: Session, thing: str) -> tuple[str, str | None] | None:
    found = queries.ownership_of(session, thing=thing)
    return None if found is None else (found.matched, found.resource)


def test_a_service_name(estate: Session) -> None:
    assert queries.ownership_of(estate, thing="hello") == HELLO


def test_a_resource_name(estate: Session) -> None:
    found = queries.ownership_of(estate, thing="platform-hello-logs")
    assert found is not None
    assert (found.service, found.owner, found.team) == ("hello", "bob", "platform")
    assert (found.matched, found.resource) == ("resource name", "platform-hello-logs")


def test_an_arn_matches_by_external_id(estate: Session) -> None:
    assert _matched(estate, "arn:aws:s3:::platform-hello-logs") == (
        "external id",
        "platform-hello-logs",
    )


def test_a_repository_full_name(estate: Session) -> None:
    # The flows name a repository resource after its full name, so the name matches first.
    assert _matched(estate, "acme/hello") == ("resource name", "acme/hello")


def test_a_topic_name(estate: Session) -> None:
    assert _matched(estate, "platform.hello.greeted") == ("resource name", "platform.hello.greeted")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:15480/acme/hello",
        "http://127.0.0.1:15480/acme/hello/",
        "http://127.0.0.1:15480/acme/hello.git",
        # Another host serving the same repository (github.com vs the fake): by its path.
        "https://github.com/acme/hello",
        "https://github.com/acme/hello.git",
        "https://github.com/acme/hello/tree/main/app",
        "git@github.com:acme/hello.git",
    ],
)
def test_a_repository_url(estate: Session, url: str) -> None:
    found = queries.ownership_of(estate, thing=url)
    assert found is not None and found.matched == "url"
    assert (found.service, found.owner, found.resource) == ("hello", "bob", "acme/hello")


def test_a_console_url(estate: Session) -> None:
    assert _matched(estate, "https://s3.console.aws.amazon.com/s3/buckets/platform-hello-logs") == (
        "url",
        "platform-hello-logs",
    )


def test_surrounding_whitespace_is_ignored(estate: Session) -> None:
    assert queries.ownership_of(estate, thing="  hello\n") == HELLO


@pytest.mark.parametrize("thing", ["old-logs", "arn:aws:s3:::old-logs", "nothing-here", "", " "])
def test_orphans_and_unknown_things_have_no_owner(estate: Session, thing: str) -> None:
    assert queries.ownership_of(estate, thing=thing) is None


def test_the_answer_follows_ownership_changes(estate: Session) -> None:
    queries.set_ownership(
        estate,
        service="hello",
        owner="alice",
        team="platform",
        oncall="bob",
        cost_watcher="bob",
    )
    found = queries.ownership_of(estate, thing="acme/hello")
    assert found is not None
    assert (found.owner, found.oncall, found.cost_watcher) == ("alice", "bob", "bob")


def test_matched_is_always_one_of_the_documented_values(estate: Session) -> None:
    for thing in [
        "hello",
        "platform-hello-logs",
        "arn:aws:s3:::platform-hello-logs",
        "https://github.com/acme/hello",
    ]:
        found = queries.ownership_of(estate, thing=thing)
        assert found is not None and found.matched in MATCHED_BY
