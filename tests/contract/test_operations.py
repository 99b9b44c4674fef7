"""The fake against GitHub's OpenAPI description, operation by operation.

Every route the fake serves must be a listed GitHub operation, every listed operation must
be exercised by the PyGithub scenarios, and every call they made (request and answer) must
be what GitHub's description allows (see validation.RELAXATIONS for the exceptions).
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from sandbox.fake_github import ServerHandle
from sandbox.fake_github.journal import SEAM_PREFIX
from sandbox.fake_github.oauth import OAUTH_PREFIX
from tests.contract.operations import CONTRACT_OPERATIONS, operation_id
from tests.contract.validation import UNDOCUMENTED_ERRORS, Call, GitHubDescription


def served_operations(server: ServerHandle) -> set[tuple[str, str]]:
    """(method, template) of every API route of the fake, the test seam aside."""
    return {
        (method, route.path.replace(":path}", "}"))
        for route in server.app.routes
        if isinstance(route, APIRoute) and not route.path.startswith(SEAM_PREFIX)
        if route.path != "/graphql"  # not REST: test_graphql_contract.py checks it
        # github.com's OAuth web flow, not the REST API: tests/sandbox/test_fake_github_oauth.py
        if not route.path.startswith(OAUTH_PREFIX)
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_route_of_the_fake_is_in_the_contract(contract_server: ServerHandle) -> None:
    served = served_operations(contract_server)
    assert served, "the route sweep found no route: has the app's routing changed?"
    assert sorted(served - set(CONTRACT_OPERATIONS)) == [], (
        "routes missing from operations.CONTRACT_OPERATIONS"
    )
    assert sorted(set(CONTRACT_OPERATIONS) - served) == [], (
        "listed operations the fake does not serve"
    )


@pytest.mark.parametrize("operation", sorted(CONTRACT_OPERATIONS), ids=lambda op: operation_id(*op))
def test_operation_is_githubs(
    operation: tuple[str, str], github_description: GitHubDescription
) -> None:
    described = github_description.operation(*operation)
    assert described is not None, f"{operation_id(*operation)} is not in GitHub's description"
    assert described["operationId"] == CONTRACT_OPERATIONS[operation]


@pytest.mark.parametrize("operation", sorted(CONTRACT_OPERATIONS), ids=lambda op: operation_id(*op))
def test_operation_honours_githubs_description(
    operation: tuple[str, str], scenario_calls: list[Call], github_description: GitHubDescription
) -> None:
    calls = [call for call in scenario_calls if call.operation == operation]
    assert any(call.status is not None and 200 <= call.status < 300 for call in calls), (
        f"no scenario made a successful {operation_id(*operation)}: "
        "add one to tests/contract/scenarios.py"
    )
    problems = [problem for call in calls for problem in github_description.problems(call)]
    assert problems == [], "\n".join(problems)


def test_every_scenario_call_reached_a_listed_operation(scenario_calls: list[Call]) -> None:
    strays = [
        call.describe() for call in scenario_calls if call.operation not in CONTRACT_OPERATIONS
    ]
    assert strays == []


def test_every_undocumented_error_allowed_is_still_needed(
    scenario_calls: list[Call], github_description: GitHubDescription
) -> None:
    """Keeps validation.UNDOCUMENTED_ERRORS minimal: each entry must be seen, and undocumented."""
    seen = {(call.operation, call.status) for call in scenario_calls}
    for operation, statuses in UNDOCUMENTED_ERRORS.items():
        described = github_description.operation(*operation)
        assert described is not None
        for status in statuses:
            assert (operation, status) in seen, (
                f"no scenario needs {status} for {operation_id(*operation)}"
            )
            assert str(status) not in described["responses"], (
                f"{status} is documented for {operation_id(*operation)}"
            )
