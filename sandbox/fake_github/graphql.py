"""The fake's GraphQL API: `POST /graphql` over the same world the REST routes serve.

The schema (`schema.graphql` beside this module) is a strict subset of GitHub's: its types,
fields, arguments and nullability are GitHub's own, which
tests/contract/test_graphql_contract.py checks against GitHub's published schema. The
resolvers read `GitHubState` under its lock, so a repository protected, archived or
retopiced through REST reads back the same way here, in one consistent snapshot per query.

Answers are GitHub's: a query that does not parse or validate gets `{"errors": [...]}` with
200 and no `data`; a field that cannot be resolved is null with an error carrying GitHub's
`type` (`NOT_FOUND`, `MISSING_PAGINATION_BOUNDARIES`, `EXCESSIVE_PAGINATION`,
`INVALID_CURSOR_ARGUMENTS`); a body that is not JSON gets 400. The token check and fault
injection are the app's layers and apply here as to every API path.

Connections page as GitHub's do: `first` is required (at most 100) and `after` takes the
opaque `endCursor` of the previous page. A repository cursor holds the sort key of the
last repository it returned, not a position, so repositories created or deleted between
two pages neither repeat nor vanish from the listing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    graphql_sync,
)

from sandbox.fake_github.errors import NotFound
from sandbox.fake_github.models import Organization, Repository
from sandbox.fake_github.protection import BranchProtection
from sandbox.fake_github.state import GitHubState
from sandbox.fake_github.web import State, github_json

__all__ = ["GRAPHQL_PATH", "SCHEMA", "SCHEMA_PATH", "execute", "router"]

GRAPHQL_PATH = "/graphql"
SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
GRAPHQL_DOCS_URL = "https://docs.github.com/graphql"

# GitHub's node limits: every connection needs `first`, and at most 100 per page.
MAX_PAGE = 100
CURSOR_PREFIX = "cursor:v2:"
MISSING_QUERY = "A query attribute must be specified and must be a string."
BRANCH_PREFIX = "refs/heads/"

T = TypeVar("T")
Resolver = Callable[..., Any]

router = APIRouter()


class Refusal(Exception):
    """A field GitHub would not resolve: its message and GitHub's error `type`."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        self.message = message
        super().__init__(message)


# -- connections --------------------------------------------------------------------------


def _cursor(key: Sequence[Any]) -> str:
    return base64.b64encode(f"{CURSOR_PREFIX}{json.dumps(list(key))}".encode()).decode()


def _cursor_key(cursor: str) -> list[Any]:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        if text.startswith(CURSOR_PREFIX):
            key = json.loads(text.removeprefix(CURSOR_PREFIX))
            if isinstance(key, list):
                return key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Refusal("INVALID_CURSOR_ARGUMENTS", f"`{cursor}` does not appear to be a valid cursor.")


def _page_size(first: int | None, connection: str) -> int:
    if first is None:
        raise Refusal(
            "MISSING_PAGINATION_BOUNDARIES",
            f"You must provide a `first` or `last` value to properly paginate the "
            f"`{connection}` connection.",
        )
    if first < 0:
        raise Refusal(
            "INVALID_PAGINATION_ARGUMENT",
            f"`first` on the `{connection}` connection cannot be less than zero.",
        )
    if first > MAX_PAGE:
        raise Refusal(
            "EXCESSIVE_PAGINATION",
            f"Requesting {first} records on the `{connection}` connection exceeds the "
            f"`first` limit of {MAX_PAGE} records.",
        )
    return first


def _connection(
    items: Sequence[T],
    *,
    key: Callable[[T], list[Any]],
    node: Callable[[T], Any],
    connection: str,
    first: int | None,
    after: str | None,
    descending: bool = False,
) -> dict[str, Any]:
    """One page of `items` (already in order), as GitHub's connection types shape it."""
    size = _page_size(first, connection)
    rest = list(items)
    if after is not None:
        last_key = _cursor_key(after)
        rest = [
            item for item in rest if (key(item) < last_key if descending else key(item) > last_key)
        ]
    page = rest[:size]
    edges = [{"cursor": _cursor(key(item)), "node": node(item)} for item in page]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": len(rest) > size,
            "hasPreviousPage": len(rest) < len(items),
        },
        "totalCount": len(items),
    }


# -- values ---------------------------------------------------------------------------------


def _rule(pattern: str, protection: BranchProtection) -> dict[str, Any]:
    """A REST branch protection as GraphQL shows it: a rule whose pattern is the branch."""
    reviews = protection.required_pull_request_reviews
    return {
        "pattern": pattern,
        "requiresApprovingReviews": reviews is not None,
        "requiredApprovingReviewCount": (
            reviews.required_approving_review_count if reviews is not None else None
        ),
        "requiresCodeOwnerReviews": reviews is not None and reviews.require_code_owner_reviews,
        "dismissesStaleReviews": reviews is not None and reviews.dismiss_stale_reviews,
        "isAdminEnforced": protection.enforce_admins,
    }


def _default_branch_ref(repository: Repository, _: GraphQLResolveInfo) -> dict[str, Any] | None:
    # GitHub has no ref for the default branch of a repository nothing was pushed to.
    branch = repository.default_branch
    if branch not in repository.branches:
        return None
    protection = repository.protections.get(branch)
    return {
        "name": branch,
        "prefix": BRANCH_PREFIX,
        "branchProtectionRule": None if protection is None else _rule(branch, protection),
    }


def _topics(
    repository: Repository,
    _: GraphQLResolveInfo,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    return _connection(
        list(enumerate(repository.topics)),
        key=lambda item: [item[0]],
        node=lambda item: {"topic": {"name": item[1]}},
        connection="repositoryTopics",
        first=first,
        after=after,
    )


def _protection_rules(
    repository: Repository,
    _: GraphQLResolveInfo,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    return _connection(
        list(enumerate(repository.protections.items())),
        key=lambda item: [item[0]],
        node=lambda item: _rule(*item[1]),
        connection="branchProtectionRules",
        first=first,
        after=after,
    )


# How each `RepositoryOrderField` sorts; the id breaks ties (timestamps are whole seconds).
_ORDER_KEYS: dict[str, Callable[[Repository], list[Any]]] = {
    "CREATED_AT": lambda repository: [repository.created_at, repository.id],
    "NAME": lambda repository: [repository.name.lower(), repository.id],
    "PUSHED_AT": lambda repository: [repository.pushed_at, repository.id],
    "UPDATED_AT": lambda repository: [repository.updated_at, repository.id],
}


def _repositories(
    organization: Organization,
    info: GraphQLResolveInfo,
    first: int | None = None,
    after: str | None = None,
    orderBy: dict[str, str] | None = None,  # GitHub's argument name: resolvers get them as is
) -> dict[str, Any]:
    state: GitHubState = info.context
    order = orderBy or {"field": "CREATED_AT", "direction": "ASC"}
    key = _ORDER_KEYS[order["field"]]
    descending = order["direction"] == "DESC"
    return _connection(
        sorted(state.list_repositories(organization.login), key=key, reverse=descending),
        key=key,
        node=lambda repository: repository,
        connection="repositories",
        first=first,
        after=after,
        descending=descending,
    )


def _organization(_: None, info: GraphQLResolveInfo, login: str) -> Organization:
    state: GitHubState = info.context
    try:
        return state.get_organization(login)
    except NotFound:
        raise Refusal(
            "NOT_FOUND", f"Could not resolve to an Organization with the login of '{login}'."
        ) from None


def _repository(
    _: None,
    info: GraphQLResolveInfo,
    owner: str,
    name: str,
    followRenames: bool = True,  # the fake keeps no renames to follow
) -> Repository:
    state: GitHubState = info.context
    try:
        return state.get_repository(owner, name)
    except NotFound:
        raise Refusal(
            "NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'."
        ) from None


# Resolvers of the types backed by the fake's own records; the other types are plain dicts
# built above, which graphql-core's default resolver reads by field name.
RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Query": {"organization": _organization, "repository": _repository},
    "Organization": {
        "login": lambda organization, _: organization.login,
        "name": lambda organization, _: organization.name,
        "repositories": _repositories,
    },
    "Repository": {
        "branchProtectionRules": _protection_rules,
        "defaultBranchRef": _default_branch_ref,
        "description": lambda repository, _: repository.description,
        "isArchived": lambda repository, _: repository.archived,
        "isPrivate": lambda repository, _: repository.private,
        "isTemplate": lambda repository, _: repository.is_template,
        "name": lambda repository, _: repository.name,
        "nameWithOwner": lambda repository, _: repository.full_name,
        "repositoryTopics": _topics,
        "visibility": lambda repository, _: repository.visibility.upper(),
    },
}


def _build_schema() -> GraphQLSchema:
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    for type_name, resolvers in RESOLVERS.items():
        object_type = schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType), type_name
        missing = set(object_type.fields) - set(resolvers)
        assert not missing, f"{type_name} fields without a resolver: {sorted(missing)}"
        for field_name, resolve in resolvers.items():
            object_type.fields[field_name].resolve = resolve
    return schema


SCHEMA = _build_schema()


# -- the endpoint ---------------------------------------------------------------------------


def _error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    if isinstance(error.original_error, Refusal):
        # GitHub names the kind of failure in a top-level `type`, not in `extensions`.
        formatted = {"type": error.original_error.error_type, **formatted}
        formatted.pop("extensions", None)
    return formatted


def execute(state: GitHubState, body: Any) -> dict[str, Any]:
    """Run one GraphQL request body (`query`, `variables`, `operationName`) on `state`."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": MISSING_QUERY}]}
    variables = body.get("variables")
    operation = body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return {"errors": [{"message": "Variables are invalid JSON."}]}
    with state.lock:
        result = graphql_sync(
            SCHEMA,
            body["query"],
            context_value=state,
            variable_values=variables,
            operation_name=operation if isinstance(operation, str) else None,
        )
    answer: dict[str, Any] = {}
    if result.data is not None or result.errors is None:
        answer["data"] = result.data
    if result.errors:
        answer["errors"] = [_error(error) for error in result.errors]
    return answer


@router.post(GRAPHQL_PATH)
async def graphql_endpoint(request: Request, state: State) -> JSONResponse:
    """GitHub's GraphQL API (queries only): errors in the body with 200, as GitHub answers."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return github_json(
            {"message": "Problems parsing JSON", "documentation_url": GRAPHQL_DOCS_URL}, 400
        )
    return github_json(execute(state, body))
