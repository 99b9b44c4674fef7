"""Checking recorded calls against GitHub's OpenAPI description with openapi-core.

A call is what the fake's request journal recorded: the request PyGithub sent (method,
path, query, JSON body) and the answer the fake gave (status, JSON body). Both are
replayed against the description's server URL and validated in full, except for the few
places listed in RELAXATIONS, each with the reason it is needed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.routing import APIRoute
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator
from starlette.routing import Match

from sandbox.fake_github.paths import canonical_path
from sandbox.fake_github.state import GitHubState

REPO_ROOT = Path(__file__).resolve().parents[2]
# The plain description, not the `.deref` one: openapi-core resolves $refs lazily and checks
# a call in about 1 ms with either, but the plain file parses in ~0.15 s against ~0.7 s.
SPEC_PATH = (
    REPO_ROOT / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
)
GITHUB_API = "https://api.github.com"
"""The description's server: recorded calls are validated as if made to it."""

PROTECTION = ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection")

# Where validation is relaxed, and why. Keep this short: each entry hides a difference
# between what is checked and what GitHub's description says.
RELAXATIONS = {
    "id-based team paths": (
        "GitHub gives teams the url /organizations/{org_id}/team/{team_id} and PyGithub calls "
        "paths under it, which the description does not list (it documents the same operations "
        "under /orgs/{org}/teams/{team_slug}). Such calls are validated as the slug-based one."
    ),
    "slashes in path parameters": (
        "GitHub takes nested file paths unencoded (contents/.github/workflows/ci.yml) and PyGithub "
        "sends them so; openapi-core matches a path parameter within one segment only. Path "
        "parameters are percent-encoded before matching; their values are unchanged."
    ),
    "contents discriminator": (
        "The description's oneOf for GET contents has a discriminator on `type` that maps 'array' "
        "to content-directory; a discriminator cannot look into an array, so openapi-core rejects "
        "every directory listing. The discriminator is removed; the oneOf itself still applies."
    ),
    "contents conflict": (
        "The 409 of PUT contents is a oneOf of basic-error and repository-rule-violation-error, "
        "and every basic error is valid under both, so no error body can pass a oneOf. It is "
        "checked as an anyOf."
    ),
    "what PyGithub's edit_protection sends": (
        "It sends JSON null for every optional toggle it was not given (required_linear_history, "
        "...) and required_status_checks with `checks` but not the deprecated `contexts` the "
        "description still requires. GitHub accepts both (PyGithub's ReplayData, "
        "Branch.testEditProtection): nulls of optional fields are dropped and `contexts` is "
        "derived from `checks` before validating that request body."
    ),
    "undocumented error statuses": (
        "GitHub answers some errors the description does not list for the operation (see "
        "UNDOCUMENTED_ERRORS). Their bodies are still validated, against basic-error (or "
        "validation-error for 422); any other undocumented status fails."
    ),
}

UNDOCUMENTED_ERRORS: dict[tuple[str, str], set[int]] = {
    # A name the new repository's owner already uses.
    ("POST", "/repos/{template_owner}/{template_repo}/generate"): {422},
    # A permission GitHub does not know (PyGithub's update_team_repository then returns False).
    ("PUT", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}"): {422},
    # An environment that does not exist (Paved's ensure_environment reads before it writes,
    # and its delete_environment treats the 404 as done).
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}"): {404},
    ("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}"): {404},
}


@dataclass(frozen=True)
class Call:
    """One recorded API call and the operation of the fake that served it."""

    scenario: str
    method: str
    path: str  # as received
    template: str | None  # the fake's route template that served it (`{x:path}` as `{x}`)
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    status: int | None
    response_body: Any
    request_content_type: str | None
    response_content_type: str | None

    @property
    def operation(self) -> tuple[str, str] | None:
        """(method, template) of the operation, when a route of the fake served the call."""
        return None if self.template is None else (self.method, self.template)

    @property
    def validated_path(self) -> str:
        """The slug-based path, path parameters percent-encoded (see RELAXATIONS)."""
        assert self.template is not None
        return self.template.format(
            **{name: quote(value, safe="") for name, value in self.path_params.items()}
        )

    def describe(self) -> str:
        """A one-line reminder of the call, for failure messages."""
        query = f"?{'&'.join(f'{k}={v}' for k, v in self.query.items())}" if self.query else ""
        return f"[{self.scenario}] {self.method} {self.path}{query} -> {self.status}"


def route_of(app: FastAPI, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The template (`{x:path}` shown as `{x}`) and path parameters of the route serving a call."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in app.routes:
        if isinstance(route, APIRoute):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return route.path.replace(":path}", "}"), dict(child_scope["path_params"])
    return None


def calls_from_journals(journals: Mapping[str, list[dict[str, Any]]], app: FastAPI) -> list[Call]:
    """The journal entries of every scenario, as `Call`s tied to the fake's routes."""
    state: GitHubState = app.state.github
    calls = []
    for scenario, entries in journals.items():
        for entry in entries:
            route = route_of(app, entry["method"], canonical_path(state, entry["path"]))
            calls.append(
                Call(
                    scenario=scenario,
                    method=entry["method"],
                    path=entry["path"],
                    template=route[0] if route else None,
                    path_params=route[1] if route else {},
                    query=entry["query"],
                    body=entry["body"],
                    status=entry["status"],
                    response_body=entry["response_body"],
                    request_content_type=entry["request_content_type"],
                    response_content_type=entry["response_content_type"],
                )
            )
    return calls


class GitHubDescription:
    """GitHub's OpenAPI description, loaded once, checking calls against itself."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = _patched(spec)
        # The description is GitHub's own and large: openapi-core's check of the document
        # itself takes long and proves nothing we need, so it is switched off.
        self.openapi = OpenAPI.from_dict(self.spec, config=Config(spec_validator_cls=None))
        schemas = self.spec["components"]["schemas"]
        self._error_validators = {
            name: OAS30Validator(schemas[name]) for name in ("basic-error", "validation-error")
        }

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> GitHubDescription:
        """Read the description from `node_modules` (installed by `npm ci`)."""
        with path.open(encoding="utf-8") as handle:
            return cls(json.load(handle))

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        """The description of one operation, or None when GitHub's description lacks it."""
        operation: dict[str, Any] | None = self.spec["paths"].get(template, {}).get(method.lower())
        return operation

    def problems(self, call: Call) -> list[str]:
        """Everything about `call` that GitHub's description does not allow (empty: valid)."""
        if call.operation is None:
            return [f"{call.describe()}: no route of the fake serves it"]
        operation = self.operation(*call.operation)
        if operation is None:
            return [f"{call.describe()}: not in GitHub's description"]
        request = self._mock_request(call)
        problems = [
            f"{call.describe()}: request: {problem}"
            for problem in _failures(self.openapi.validate_request, request)
        ]
        if call.status is None:
            return [*problems, f"{call.describe()}: no answer was sent"]
        if str(call.status) in operation["responses"] or "default" in operation["responses"]:
            response = MockResponse(
                b"" if call.response_body is None else json.dumps(call.response_body).encode(),
                status_code=call.status,
                content_type=(call.response_content_type or "application/json").split(";")[0],
            )
            problems += [
                f"{call.describe()}: response: {problem}"
                for problem in _failures(self.openapi.validate_response, request, response)
            ]
        elif call.status in UNDOCUMENTED_ERRORS.get(call.operation, set()):
            schema = "validation-error" if call.status == 422 else "basic-error"
            problems += [
                f"{call.describe()}: undocumented {call.status} body: {error.message}"
                for error in self._error_validators[schema].iter_errors(call.response_body)
            ]
        else:
            problems.append(
                f"{call.describe()}: status {call.status} is not in GitHub's description "
                f"of {call.template}"
            )
        return problems

    def _mock_request(self, call: Call) -> MockRequest:
        body = _as_github_accepts(call, self.operation(*call.operation) if call.operation else None)
        return MockRequest(
            GITHUB_API,
            call.method,
            call.validated_path,
            args=dict(call.query),
            data=None if body is None else json.dumps(body).encode(),
            content_type=(call.request_content_type or "application/json").split(";")[0],
        )


def _patched(spec: dict[str, Any]) -> dict[str, Any]:
    """The description with the contents schemas fixed (see RELAXATIONS); the rest is shared."""
    spec = dict(spec)
    spec["paths"] = dict(spec["paths"])
    contents = spec["paths"]["/repos/{owner}/{repo}/contents/{path}"] = copy.deepcopy(
        spec["paths"]["/repos/{owner}/{repo}/contents/{path}"]
    )
    contents["get"]["responses"]["200"]["content"]["application/json"]["schema"].pop(
        "discriminator"
    )
    conflict = contents["put"]["responses"]["409"]["content"]["application/json"]["schema"]
    conflict["anyOf"] = conflict.pop("oneOf")
    return spec


def _as_github_accepts(call: Call, operation: dict[str, Any] | None) -> Any:
    """The request body, adjusted for what PyGithub's edit_protection sends (see RELAXATIONS)."""
    body = call.body
    if call.operation != PROTECTION or not isinstance(body, dict) or operation is None:
        return body
    required = set(
        operation["requestBody"]["content"]["application/json"]["schema"].get("required", [])
    )
    body = {key: value for key, value in body.items() if value is not None or key in required}
    checks = body.get("required_status_checks")
    if isinstance(checks, dict) and "contexts" not in checks:
        body["required_status_checks"] = {
            **checks,
            "contexts": [check["context"] for check in checks.get("checks", [])],
        }
    return body


def _failures(validate: Any, *args: Any) -> list[str]:
    """What openapi-core's `validate` finds wrong, as readable lines (empty when valid)."""
    try:
        validate(*args)
    except Exception as error:
        return [_explain(error)]
    return []


def _explain(error: Exception) -> str:
    """openapi-core's error, cut short, with the schema errors underneath that say what is wrong."""
    summary = str(error)
    details = [summary if len(summary) < 200 else f"{summary[:200]}..."]
    cause = error.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            details += [
                f"{'/'.join(map(str, problem.absolute_path)) or '(body)'}: {problem.message[:300]}"
                for problem in schema_errors
            ]
        elif str(cause) != summary:
            details.append(str(cause)[:300])
        cause = cause.__cause__
    return "\n    ".join(details)
