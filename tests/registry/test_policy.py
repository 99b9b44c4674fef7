"""The naming and tagging policy: what passes, what fails, and what the developer is told."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import PolicyViolation
from registry.policy import (
    MANAGED_BY,
    REQUIRED_TAGS,
    RESOURCE_NAME_MAX,
    SERVICE_NAME_MAX,
    TAG_COST_CENTER,
    TAG_MANAGED_BY,
    TAG_OWNER,
    TAG_SERVICE,
    TAG_TEAM,
    TEAM_SLUG_MAX,
    missing_or_wrong_tags,
    policy_tags,
    resource_name,
    topic_name,
    validate_name,
)
from tests.registry.test_policy_names import words

ALLOWED = set(string.ascii_lowercase + string.digits + "-")


@pytest.mark.parametrize(
    "name", ["ab", "hello", "orders-api", "a1", "payments-v2", "x" * SERVICE_NAME_MAX]
)
def test_valid_names_pass_unchanged(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("Hello", "service name 'Hello' is not allowed: use lowercase letters, digits and hyphens"),
        ("Hello", "(try 'hello')"),
        ("my_app", "contains '_'"),
        ("my_app", "(try 'my-app')"),
        ("hello world", "contains ' '"),
        ("a..b", "contains '.'"),
        ("team/app", "contains '/'"),
        ("hello\n", "contains '\\n'"),
        ("-hello", "must start with a letter"),
        ("1hello", "must start with a letter"),
        ("hello-", "must end with a letter or digit"),
        ("a--b", "contains '--'"),
        ("x" * 40, "is 40 characters long; the limit is 32"),
        ("h", "too short"),
        ("", "service name is empty"),
        # Cyrillic ie (U+0435) for the Latin 'e': looks identical, is another name.
        ("h\u0435llo", "non-ASCII character '\u0435' (U+0435 CYRILLIC SMALL LETTER IE)"),
        ("caf\u00e9", "U+00E9"),
    ],
)
def test_invalid_names_are_explained(value: str, fragment: str) -> None:
    with pytest.raises(PolicyViolation) as caught:
        validate_name(value, what="service name")
    assert fragment in str(caught.value)


def test_the_message_names_the_value_and_what_it_is() -> None:
    with pytest.raises(PolicyViolation, match=r"^team slug 'Pay_ments' is not allowed"):
        validate_name("Pay_ments", what="team slug", max_length=TEAM_SLUG_MAX)


def test_trailing_newline_is_not_swallowed_by_the_pattern() -> None:
    # `$` matches before a final newline; the policy must not.
    with pytest.raises(PolicyViolation):
        validate_name("hello\n")


def test_non_strings_are_refused() -> None:
    with pytest.raises(PolicyViolation, match="must be a string"):
        validate_name(42)  # type: ignore[arg-type]


def test_team_slug_limit() -> None:
    validate_name("t" * TEAM_SLUG_MAX, max_length=TEAM_SLUG_MAX)
    with pytest.raises(PolicyViolation, match="the limit is 24"):
        validate_name("t" * (TEAM_SLUG_MAX + 1), max_length=TEAM_SLUG_MAX)


# --- properties ---------------------------------------------------------------------

_segment = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)


@st.composite
def valid_names(draw: st.DrawFn, max_length: int = SERVICE_NAME_MAX) -> str:
    """Names built by the rule: a letter, then segments of letters/digits joined by '-'."""
    first = draw(st.sampled_from(string.ascii_lowercase))
    segments = draw(st.lists(_segment, min_size=1, max_size=6))
    name = (first + "-".join(segments))[:max_length].rstrip("-")
    if len(name) < 2:
        name += "0"
    return name


@settings(max_examples=300, deadline=None)
@given(valid_names())
def test_generated_valid_names_pass(name: str) -> None:
    assert validate_name(name) == name


@settings(max_examples=300, deadline=None)
@given(
    name=valid_names(max_length=SERVICE_NAME_MAX - 1),
    bad=st.characters(codec="utf-8").filter(lambda c: c not in ALLOWED),
    where=st.integers(min_value=0),
)
def test_any_forbidden_character_fails(name: str, bad: str, where: int) -> None:
    position = where % (len(name) + 1)
    with pytest.raises(PolicyViolation):
        validate_name(name[:position] + bad + name[position:])


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=sorted(ALLOWED), min_size=SERVICE_NAME_MAX + 1, max_size=200),
)
def test_any_name_longer_than_the_limit_fails(name: str) -> None:
    with pytest.raises(PolicyViolation):
        validate_name(name)


# A third of the examples are valid names (arbitrary text almost never is), a third are
# near misses from three allowed characters (a leading digit, '--', a trailing '-', too long),
# and every example reaches the assert: a name passes exactly when it follows the rule.
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        words(SERVICE_NAME_MAX),
        st.text(alphabet="a0-", max_size=SERVICE_NAME_MAX + 2),
        st.text(max_size=40),
    )
)
def test_whatever_passes_matches_the_rule(value: str) -> None:
    follows_rule = (
        set(value) <= ALLOWED
        and 2 <= len(value) <= SERVICE_NAME_MAX
        and value[0].isalpha()
        and value[-1] != "-"
        and "--" not in value
    )
    try:
        validate_name(value)
        passed = True
    except PolicyViolation:
        passed = False
    assert passed == follows_rule, value


# --- composed names -----------------------------------------------------------------


def test_resource_name_joins_team_service_and_purpose() -> None:
    assert resource_name(team="payments", service="orders", purpose="data") == (
        "payments-orders-data"
    )


def test_resource_name_validates_each_part() -> None:
    with pytest.raises(PolicyViolation, match="team slug 'Payments'"):
        resource_name(team="Payments", service="orders", purpose="data")
    with pytest.raises(PolicyViolation, match="service name 'or_ders'"):
        resource_name(team="payments", service="or_ders", purpose="data")
    with pytest.raises(PolicyViolation, match=r"resource purpose 'logs\.'"):
        resource_name(team="payments", service="orders", purpose="logs.")


def test_resource_name_fits_an_s3_bucket() -> None:
    longest = resource_name(
        team="t" * TEAM_SLUG_MAX, service="s" * SERVICE_NAME_MAX, purpose="data"
    )
    assert len(longest) == RESOURCE_NAME_MAX - 1
    with pytest.raises(PolicyViolation, match="the limit is 63"):
        resource_name(team="t" * TEAM_SLUG_MAX, service="s" * SERVICE_NAME_MAX, purpose="deploy")


def test_resource_name_refuses_names_aws_reserves() -> None:
    with pytest.raises(PolicyViolation, match="AWS reserves"):
        resource_name(team="sthree", service="orders", purpose="data")


def test_resource_purpose_is_one_paved_knows() -> None:
    with pytest.raises(PolicyViolation, match="resource purpose 'dlq' is not one of app, data"):
        resource_name(team="payments", service="orders", purpose="dlq")


def test_topic_name() -> None:
    assert topic_name(domain="payments", service="orders", event="order-created") == (
        "payments.orders.order-created"
    )
    with pytest.raises(PolicyViolation, match="topic event 'Created'"):
        topic_name(domain="payments", service="orders", event="Created")
    with pytest.raises(PolicyViolation, match="topic domain"):
        topic_name(domain="pay.ments", service="orders", event="created")


# --- tags ---------------------------------------------------------------------------


def test_policy_tags_carry_every_required_tag() -> None:
    tags = policy_tags(service="orders", team="payments", owner="carol", cost_center="cc-200")
    assert tuple(tags) == REQUIRED_TAGS
    assert tags == {
        TAG_SERVICE: "orders",
        TAG_TEAM: "payments",
        TAG_OWNER: "carol",
        TAG_COST_CENTER: "cc-200",
        TAG_MANAGED_BY: MANAGED_BY,
    }


@pytest.mark.parametrize("owner", ["", "   ", "x" * 257, "carol\n"])
def test_policy_tags_refuse_bad_values(owner: str) -> None:
    with pytest.raises(PolicyViolation, match="paved:owner"):
        policy_tags(service="orders", team="payments", owner=owner, cost_center="cc-200")


def test_missing_or_wrong_tags() -> None:
    expected = policy_tags(service="orders", team="payments", owner="carol", cost_center="cc-200")
    actual = {**expected, "paved:owner": "dave", "extra": "ignored"}
    del actual[TAG_COST_CENTER]
    assert missing_or_wrong_tags(actual, expected) == {
        TAG_OWNER: ("dave", "carol"),
        TAG_COST_CENTER: (None, "cc-200"),
    }
    assert missing_or_wrong_tags(expected, expected) == {}
