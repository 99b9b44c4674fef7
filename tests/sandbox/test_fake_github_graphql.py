"""The fake GitHub's GraphQL endpoint: pagination, the world it shares with the REST
routes, and GitHub's ways of refusing a query."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from github import Github

from sandbox.fake_github import FakeGitHubControl, ServerHandle

REPOSITORY_FIELDS = """
  name
  nameWithOwner
  visibility
  isPrivate
  isArchived
  isTemplate
  description
  repositoryTopics(first: 20) { totalCount nodes { topic { name } } }
  defaultBranchRef {
    name
    prefix
    branchProtectionRule {
      pattern
      requiresApprovingReviews
      requiredApprovingReviewCount
      requiresCodeOwnerReviews
      dismissesStaleReviews
      isAdminEnforced
    }
  }
  branchProtectionRules(first: 10) { totalCount nodes { pattern isAdminEnforced } }
"""

REPOSITORY_QUERY = (
    "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) {"
    + REPOSITORY_FIELDS
    + "} }"
)

PAGE_QUERY = """
query($first: Int, $after: String, $order: RepositoryOrder) {
  organization(login: "acme") {
    repositories(first: $first, after: $after, orderBy: $order) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { name } }
      nodes { name }
    }
  }
}
"""


@pytest.fixture
def api(server: ServerHandle, control: FakeGitHubControl) -> Iterator[httpx.Client]:
    """Raw HTTP to the fake, with a token, for what PyGithub would hide."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": "bearer any-token"}, timeout=10
    ) as client:
        yield client


def graphql(api: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """POST a query; GitHub answers 200 whether or not the query succeeded."""
    response = api.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def repository(api: httpx.Client, name: str) -> dict[str, Any]:
    body = graphql(api, REPOSITORY_QUERY, owner="acme", name=name)
    assert "errors" not in body, body
    node: dict[str, Any] = body["data"]["repository"]
    return node


def make_repositories(server: ServerHandle, names: list[str]) -> None:
    for name in names:
        server.state.create_repository("acme", name, auto_init=True)


def all_pages(api: httpx.Client, *, first: int, order: dict[str, str] | None = None) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        body = graphql(api, PAGE_QUERY, first=first, after=after, order=order)
        page = body["data"]["organization"]["repositories"]
        assert len(page["nodes"]) <= first
        names += [node["name"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


# -- pagination -----------------------------------------------------------------------------


def test_pages_follow_end_cursors_to_the_last_repository(
    api: httpx.Client, server: ServerHandle
) -> None:
    make_repositories(server, [f"svc-{number}" for number in range(7)])
    everything = [repository.name for repository in server.state.list_repositories("acme")]
    assert len(everything) == 8  # the seed's template, then ours
    assert all_pages(api, first=3) == everything  # oldest first by default

    first = graphql(api, PAGE_QUERY, first=3)["data"]["organization"]["repositories"]
    assert first["totalCount"] == 8
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    assert [edge["node"]["name"] for edge in first["edges"]] == everything[:3]
    second = graphql(api, PAGE_QUERY, first=3, after=first["pageInfo"]["endCursor"])
    assert second["data"]["organization"]["repositories"]["pageInfo"]["hasPreviousPage"] is True


def test_repositories_order_by_name_either_way(api: httpx.Client, server: ServerHandle) -> None:
    make_repositories(server, ["Bravo", "alpha", "charlie"])
    ascending = all_pages(api, first=2, order={"field": "NAME", "direction": "ASC"})
    assert ascending == ["alpha", "Bravo", "charlie", "service-template"]
    descending = all_pages(api, first=2, order={"field": "NAME", "direction": "DESC"})
    assert descending == list(reversed(ascending))


def test_a_repository_deleted_between_pages_shifts_nothing(
    api: httpx.Client, server: ServerHandle, gh: Github
) -> None:
    make_repositories(server, ["a1", "a2", "a3", "a4", "a5"])
    order = {"field": "NAME", "direction": "ASC"}
    first = graphql(api, PAGE_QUERY, first=2, order=order)["data"]["organization"]["repositories"]
    assert [node["name"] for node in first["nodes"]] == ["a1", "a2"]
    gh.get_repo("acme/a1").delete()
    second = graphql(api, PAGE_QUERY, first=2, order=order, after=first["pageInfo"]["endCursor"])
    assert [node["name"] for node in second["data"]["organization"]["repositories"]["nodes"]] == [
        "a3",
        "a4",
    ]


def test_an_empty_organization_has_one_empty_page(
    api: httpx.Client, control: FakeGitHubControl
) -> None:
    control.seed({"organization": {"login": "acme"}})
    page = graphql(api, PAGE_QUERY, first=10)["data"]["organization"]["repositories"]
    assert page["nodes"] == [] and page["totalCount"] == 0
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


# -- one world with the REST routes ---------------------------------------------------------


def test_what_rest_changes_reads_back_through_graphql(api: httpx.Client, gh: Github) -> None:
    repo = gh.get_organization("acme").create_repo(
        "orders", description="Orders service", auto_init=True
    )
    before = repository(api, "orders")
    assert before["visibility"] == "PUBLIC" and before["isPrivate"] is False
    assert before["defaultBranchRef"] == {
        "name": "main",
        "prefix": "refs/heads/",
        "branchProtectionRule": None,
    }
    assert before["branchProtectionRules"] == {"totalCount": 0, "nodes": []}

    repo.replace_topics(["paved", "payments"])
    repo.get_branch("main").edit_protection(
        enforce_admins=True,
        require_code_owner_reviews=True,
        required_approving_review_count=2,
        dismiss_stale_reviews=False,
    )
    repo.edit(private=True)
    after = repository(api, "orders")
    assert after["nameWithOwner"] == "acme/orders"
    assert after["description"] == "Orders service"
    assert after["visibility"] == "PRIVATE" and after["isPrivate"] is True
    assert after["repositoryTopics"] == {
        "totalCount": 2,
        "nodes": [{"topic": {"name": "paved"}}, {"topic": {"name": "payments"}}],
    }
    assert after["defaultBranchRef"]["branchProtectionRule"] == {
        "pattern": "main",
        "requiresApprovingReviews": True,
        "requiredApprovingReviewCount": 2,
        "requiresCodeOwnerReviews": True,
        "dismissesStaleReviews": False,
        "isAdminEnforced": True,
    }
    assert after["branchProtectionRules"] == {
        "totalCount": 1,
        "nodes": [{"pattern": "main", "isAdminEnforced": True}],
    }

    repo.get_branch("main").remove_protection()
    repo.edit(archived=True)
    last = repository(api, "orders")
    assert last["defaultBranchRef"]["branchProtectionRule"] is None
    assert last["branchProtectionRules"]["totalCount"] == 0
    assert last["isArchived"] is True


def test_protection_without_reviews_requires_no_approvals(api: httpx.Client, gh: Github) -> None:
    repo = gh.get_organization("acme").create_repo("ledger", auto_init=True)
    repo.get_branch("main").edit_protection(enforce_admins=False, strict=True, contexts=["ci"])
    rule = repository(api, "ledger")["defaultBranchRef"]["branchProtectionRule"]
    assert rule["requiresApprovingReviews"] is False
    assert rule["requiredApprovingReviewCount"] is None
    assert rule["isAdminEnforced"] is False


def test_a_repository_nothing_was_pushed_to_has_no_default_branch_ref(
    api: httpx.Client, gh: Github
) -> None:
    gh.get_organization("acme").create_repo("empty")
    assert repository(api, "empty")["defaultBranchRef"] is None


def test_the_template_reads_as_a_private_template(api: httpx.Client) -> None:
    template = repository(api, "service-template")
    assert template["isTemplate"] is True
    assert template["visibility"] == "PRIVATE"


def test_pygithub_reaches_the_endpoint_from_its_base_url(gh: Github) -> None:
    _, body = gh.requester.graphql_query('query { organization(login: "acme") { login name } }', {})
    assert body == {"data": {"organization": {"login": "acme", "name": "Acme Corp"}}}


# -- refusals -------------------------------------------------------------------------------


def test_an_unknown_organization_is_null_with_a_not_found_error(api: httpx.Client) -> None:
    body = graphql(api, PAGE_QUERY.replace('"acme"', '"nobody"'), first=1)
    assert body["data"] == {"organization": None}
    [error] = body["errors"]
    assert error["type"] == "NOT_FOUND"
    assert error["path"] == ["organization"]
    assert error["message"] == "Could not resolve to an Organization with the login of 'nobody'."
    assert error["locations"] == [{"line": 3, "column": 3}]


def test_an_unknown_repository_is_null_with_a_not_found_error(api: httpx.Client) -> None:
    body = graphql(api, REPOSITORY_QUERY, owner="acme", name="nope")
    assert body["data"] == {"repository": None}
    assert [(error["type"], error["message"]) for error in body["errors"]] == [
        ("NOT_FOUND", "Could not resolve to a Repository with the name 'acme/nope'.")
    ]


@pytest.mark.parametrize(
    ("variables", "error_type", "message"),
    [
        (
            {},
            "MISSING_PAGINATION_BOUNDARIES",
            "You must provide a `first` or `last` value to properly paginate the "
            "`repositories` connection.",
        ),
        (
            {"first": 101},
            "EXCESSIVE_PAGINATION",
            "Requesting 101 records on the `repositories` connection exceeds the `first` "
            "limit of 100 records.",
        ),
        (
            {"first": -1},
            "INVALID_PAGINATION_ARGUMENT",
            "`first` on the `repositories` connection cannot be less than zero.",
        ),
        (
            {"first": 1, "after": "bm90LWEtY3Vyc29y"},
            "INVALID_CURSOR_ARGUMENTS",
            "`bm90LWEtY3Vyc29y` does not appear to be a valid cursor.",
        ),
    ],
    ids=["no-first", "over-100", "negative", "bad-cursor"],
)
def test_connections_are_paginated_as_github_requires(
    api: httpx.Client, variables: dict[str, Any], error_type: str, message: str
) -> None:
    body = graphql(api, PAGE_QUERY, **variables)
    [error] = body["errors"]
    assert (error["type"], error["message"]) == (error_type, message)
    assert error["path"] == ["organization", "repositories"]


@pytest.mark.parametrize(
    "query",
    [
        '{ organization(login: "acme") { stargazerCount } }',  # a field the fake lacks
        '{ organization(login: "acme") { repositories(last: 5) { totalCount } } }',
        "{ organization(login: $undefined) { login } }",
        "{ organization(",
    ],
    ids=["unknown-field", "unknown-argument", "undefined-variable", "syntax"],
)
def test_a_query_that_does_not_validate_gets_errors_and_no_data(
    api: httpx.Client, query: str
) -> None:
    body = graphql(api, query)
    assert "data" not in body
    assert body["errors"] and all(
        error["message"] and error["locations"] for error in body["errors"]
    )


def test_variables_of_the_wrong_type_are_refused(api: httpx.Client) -> None:
    body = graphql(api, PAGE_QUERY, first="ten")
    assert "data" not in body
    assert "$first" in body["errors"][0]["message"]


def test_an_operation_is_chosen_by_name(api: httpx.Client) -> None:
    document = (
        'query Login { organization(login: "acme") { login } } '
        'query Name { organization(login: "acme") { name } }'
    )
    response = api.post("/graphql", json={"query": document, "operationName": "Name"})
    assert response.json() == {"data": {"organization": {"name": "Acme Corp"}}}


@pytest.mark.parametrize("body", [{}, {"query": 42}, {"variables": {}}, []])
def test_a_body_without_a_query_is_refused(api: httpx.Client, body: object) -> None:
    response = api.post("/graphql", json=body)
    assert response.status_code == 200
    assert response.json() == {
        "errors": [{"message": "A query attribute must be specified and must be a string."}]
    }


def test_a_body_that_is_not_json_is_a_bad_request(api: httpx.Client) -> None:
    response = api.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"


def test_a_call_without_a_token_is_refused(
    server: ServerHandle, control: FakeGitHubControl
) -> None:
    response = httpx.post(f"{server.url}/graphql", json={"query": "{ __typename }"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["message"] == "Requires authentication"


# -- faults ---------------------------------------------------------------------------------


def test_faults_hit_the_endpoint_like_any_api_path(
    api: httpx.Client, control: FakeGitHubControl
) -> None:
    control.add_fault(
        "/graphql",
        method="POST",
        status=403,
        message="You have exceeded a secondary rate limit. Please wait a few minutes "
        "before you try again.",
        headers={"retry-after": "30"},
    )
    throttled = api.post("/graphql", json={"query": "{ __typename }"})
    assert throttled.status_code == 403
    assert throttled.headers["retry-after"] == "30"
    assert throttled.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert graphql(api, "{ __typename }") == {"data": {"__typename": "Query"}}
    journal = control.requests()
    assert [(entry["path"], entry["status"], entry["fault"]) for entry in journal] == [
        ("/graphql", 403, "status"),
        ("/graphql", 200, None),
    ]


def test_a_200_fault_answers_githubs_graphql_rate_limit_refusal(
    api: httpx.Client, control: FakeGitHubControl
) -> None:
    control.add_fault("/graphql", status=200, headers={"x-ratelimit-remaining": "0"})
    response = api.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining"] == "0"
    [error] = response.json()["errors"]
    assert error["type"] == "RATE_LIMIT"
    assert error["message"].startswith("API rate limit already exceeded")
