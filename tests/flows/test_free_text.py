"""Free text someone typed (a reason, a description, a manual task) is one line,
bounded, and shown as quoted text: never a markdown link, image, heading or table."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from flows.actions.access_grant import AccessGrantRequest, AccessRevokeRequest
from flows.actions.github_repo_create import RepoCreateRequest
from flows.actions.manual_task import ManualTaskRequest
from flows.actions.service_create import ServiceCreateRequest
from flows.actions.service_decommission import DecommissionRequest, _plan_markdown
from flows.actions.service_transfer import TransferRequest
from registry.errors import PolicyViolation
from registry.policy import escape_markdown, one_line, quoted_markdown, require_one_line

HOSTILE = (
    "Urgent! [approve here](https://evil.example/steal?c=1) ![x](y) <b>hi</b> `rm` *a* _b_ #h |t|"
)


def test_one_line_flattens_and_bounds() -> None:
    assert one_line("first\nsecond\r\n\tthird  ") == "first second third"
    assert one_line("x" * 20, 10) == "x" * 9 + "…"
    assert one_line("bell\x07 and nul\x00") == "bell and nul"


def test_escaped_text_has_no_markdown_left() -> None:
    escaped = escape_markdown(HOSTILE)
    # Every character markdown acts on is escaped: `[text](url)` is no longer a link.
    for special in "[]()<>`*_!#|":
        assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c == special)
    assert "\\[approve here\\]\\(https://evil.example/steal?c=1\\)" in escaped
    assert quoted_markdown("two\nlines") == "> two lines"


def test_require_one_line_explains() -> None:
    with pytest.raises(PolicyViolation, match="reason must be one line: remove the line breaks"):
        require_one_line("a\nb", what="reason")
    with pytest.raises(PolicyViolation, match="reason is 11 characters long; the limit is 10"):
        require_one_line("x" * 11, what="reason", max_len=10)


BASE: dict[str, Any] = {"requester": "dave"}
MODELS: dict[str, tuple[type[BaseModel], dict[str, Any], str]] = {
    "service:create description": (
        ServiceCreateRequest,
        {"name": "orders", "team": "payments", "owner": "carol"},
        "description",
    ),
    "github:repo:create description": (
        RepoCreateRequest,
        {"name": "orders", "team": "payments", "owner": "carol"},
        "description",
    ),
    "service:decommission reason": (
        DecommissionRequest,
        {"service": "orders", "confirm": "orders"},
        "reason",
    ),
    "access:grant reason": (
        AccessGrantRequest,
        {"service": "orders", "person": "dave", "kind": "github-repository", "permission": "pull"},
        "reason",
    ),
    "access:revoke reason": (
        AccessRevokeRequest,
        {"service": "orders", "person": "dave", "kind": "github-repository", "permission": "pull"},
        "reason",
    ),
    "service:transfer reason": (
        TransferRequest,
        {"service": "orders", "new_owner": "dave"},
        "reason",
    ),
    "manual task": (
        ManualTaskRequest,
        {"category": "dns", "team": "payments", "minutes_spent": 5},
        "what",
    ),
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_request_models_refuse_multi_line_text(case: str) -> None:
    model, fields, field = MODELS[case]
    ok = model.model_validate({**BASE, **fields, field: "one line of reasons"})
    assert getattr(ok, field) == "one line of reasons"

    with pytest.raises(ValidationError, match="must be one line: remove the line breaks"):
        model.model_validate({**BASE, **fields, field: "line one is here\n## line two"})


def test_the_decommission_plan_quotes_the_reason() -> None:
    request = DecommissionRequest(
        requester="dave", service="orders", confirm="orders", reason=HOSTILE
    )

    markdown = _plan_markdown(request, [])

    assert "[approve here](" not in markdown and "![x](y)" not in markdown
    assert f"> {escape_markdown(HOSTILE)}" in markdown
