"""Provider names are one-to-one: two different (team, service, purpose) never share one.

Generated inputs are all valid (the strategies build them from the policy's own rules and
bound their lengths so the whole fits), so every example is checked, none skipped.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import PolicyViolation
from registry.policy import (
    NAME_PATTERN,
    RESOURCE_NAME_MAX,
    RESOURCE_PURPOSES,
    SERVICE_NAME_MAX,
    TEAM_SLUG_MAX,
    log_group_name,
    parse_resource_name,
    resource_name,
    topic_name,
    validate_name,
)

# The names every provider Paved names accepts: S3 buckets (3-63, lowercase, digits,
# hyphens, no underscore), SQS (80, no dot), ECR (single separators between
# alphanumerics), IAM roles (64), ECS services and families (255), DynamoDB (255).
PROVIDER_RULES = {
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    "sqs": re.compile(r"^[A-Za-z0-9_-]{1,80}$"),
    "ecr": re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"),
    "iam": re.compile(r"^[\w+=,.@-]{1,64}$"),
    "ecs": re.compile(r"^[A-Za-z0-9_-]{1,255}$"),
    "dynamodb": re.compile(r"^[A-Za-z0-9_.-]{3,255}$"),
}
_RESERVED = ("sthree", "amzn-s3-demo")


def words(max_size: int) -> st.SearchStrategy[str]:
    """A valid policy name of at most `max_size` characters: letter first, single hyphens."""
    word = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
    first = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=1)
    joined = st.builds(
        lambda head, rest: "-".join([head[0] + rest[0][1:] if rest else head, *rest[1:]]),
        first,
        st.lists(word, min_size=1, max_size=6),
    )
    return joined.map(lambda name: name[:max_size].rstrip("-")).filter(
        lambda name: len(name) >= 2 and not name.startswith(_RESERVED)
    )


@st.composite
def triples(draw: st.DrawFn) -> tuple[str, str, str]:
    """A (team, service, purpose) the policy accepts: lengths chosen so the name fits."""
    purpose = draw(st.sampled_from(sorted(RESOURCE_PURPOSES)))
    team = draw(words(TEAM_SLUG_MAX))
    marker = 0 if "-" not in team else len(f"-t{team.count('-') + 1}")
    room = RESOURCE_NAME_MAX - len(team) - len(purpose) - 2 - marker
    service = draw(words(min(SERVICE_NAME_MAX, room)))
    return team, service, purpose


def test_the_generated_names_are_valid() -> None:
    # The strategy must not generate what the policy would refuse.
    @given(triples())
    @settings(max_examples=200, deadline=None)
    def check(triple: tuple[str, str, str]) -> None:
        team, service, _ = triple
        assert re.fullmatch(NAME_PATTERN, team) and re.fullmatch(NAME_PATTERN, service)
        validate_name(team, max_length=TEAM_SLUG_MAX)
        validate_name(service)

    check()


@given(triples(), triples())
@settings(max_examples=1500, deadline=None)
def test_two_different_triples_never_share_a_name(
    a: tuple[str, str, str], b: tuple[str, str, str]
) -> None:
    name_a, name_b = (
        resource_name(team=a[0], service=a[1], purpose=a[2]),
        resource_name(team=b[0], service=b[1], purpose=b[2]),
    )
    assert (name_a == name_b) == (a == b)
    assert (
        log_group_name(team=a[0], service=a[1]) != log_group_name(team=b[0], service=b[1])
        or a[:2] == b[:2]
    )


@given(triples())
@settings(max_examples=1500, deadline=None)
def test_every_name_parses_back_and_fits_every_provider(triple: tuple[str, str, str]) -> None:
    team, service, purpose = triple
    name = resource_name(team=team, service=service, purpose=purpose)
    # Parsing back is the proof of injectivity: a name determines its triple.
    assert parse_resource_name(name) == triple
    for provider, rule in PROVIDER_RULES.items():
        assert rule.fullmatch(name), f"{name!r} breaks {provider}'s name rules"
    assert len(name) <= RESOURCE_NAME_MAX


@given(triples(), triples(), st.sampled_from(["state", "events", "order-placed"]))
@settings(max_examples=500, deadline=None)
def test_topic_names_are_one_to_one(
    a: tuple[str, str, str], b: tuple[str, str, str], event: str
) -> None:
    ta = topic_name(domain=a[0], service=a[1], event=event)
    tb = topic_name(domain=b[0], service=b[1], event=event)
    assert (ta == tb) == (a[:2] == b[:2])


def test_the_pairs_that_collided_do_not_any_more() -> None:
    one = resource_name(team="data", service="platform-etl", purpose="data")
    other = resource_name(team="data-platform", service="etl", purpose="data")
    assert one == "data-platform-etl-data"  # a one-word team keeps its name
    assert other == "data-platform-etl-data-t2"
    assert parse_resource_name(other) == ("data-platform", "etl", "data")


def test_purposes_cannot_be_confused() -> None:
    # No purpose is a `-`-suffix of another and none looks like the team-words marker.
    for purpose in RESOURCE_PURPOSES:
        assert not re.search(r"(^|-)t[0-9]+$", purpose)
        for other in RESOURCE_PURPOSES - {purpose}:
            assert not other.endswith("-" + purpose)


def test_a_name_paved_did_not_make_does_not_parse() -> None:
    with pytest.raises(PolicyViolation, match="is not a name Paved gives"):
        parse_resource_name("payments-orders")
