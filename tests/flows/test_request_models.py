"""The request model of github:repo:create: what the Prefect UI form accepts and refuses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from flows.actions.github_repo_create import RepoCreateRequest
from registry import policy

BASE = {"team": "platform", "owner": "alice", "requester": "bob"}
valid_names = st.from_regex(r"\A[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,30}[a-z0-9]\Z")


@given(valid_names)
def test_every_policy_name_is_accepted(name: str) -> None:
    assert RepoCreateRequest(name=name, **BASE).name == name


@given(st.text(min_size=1, max_size=40).filter(lambda s: not re.fullmatch(policy.NAME_PATTERN, s)))
def test_anything_else_is_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ValidationError, match="repository name"):
        RepoCreateRequest(name=name, **BASE)


@given(valid_names)
def test_the_form_pattern_agrees_with_the_validator(name: str) -> None:
    schema = RepoCreateRequest.model_json_schema()["properties"]["name"]
    assert re.fullmatch(schema["pattern"], name)
    assert schema["minLength"] <= len(name) <= schema["maxLength"]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        RepoCreateRequest(name="hello", visibility="public", **BASE)  # type: ignore[call-arg]


def test_over_long_name_says_the_limit() -> None:
    with pytest.raises(ValidationError, match=str(policy.SERVICE_NAME_MAX)):
        RepoCreateRequest(name="a" * (policy.SERVICE_NAME_MAX + 1), **BASE)
