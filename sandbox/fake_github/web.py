"""HTTP helpers shared by the fake's routes: base URL, state access, pagination, errors."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from sandbox.fake_github.errors import GitHubError
from sandbox.fake_github.identity import Identity
from sandbox.fake_github.state import GitHubState

T = TypeVar("T")

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def github_state(request: Request) -> GitHubState:
    """The state the app serves (set by `create_app`)."""
    state: GitHubState = request.app.state.github
    return state


def base_url(request: Request) -> str:
    """The root the client called, from the request's scheme and Host: every URL we answer
    with starts with it, so PyGithub's follow-up calls come back to this server."""
    return str(request.base_url).rstrip("/")


State = Annotated[GitHubState, Depends(github_state)]
BaseURL = Annotated[str, Depends(base_url)]


def github_json(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON answer with GitHub's content type."""
    return JSONResponse(
        content,
        status_code=status_code,
        headers=headers,
        media_type="application/json; charset=utf-8",
    )


def no_content() -> Response:
    """GitHub's empty 204 answer."""
    return Response(status_code=204)


def error_response(error: GitHubError) -> JSONResponse:
    """GitHub's error body for a refused call."""
    return github_json(error.body(), status_code=error.status)


def _query_int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        # GitHub ignores a page parameter it cannot read.
        return default


def paginate(request: Request, items: list[T]) -> tuple[list[T], dict[str, str]]:
    """One page of `items` per `per_page`/`page`, and GitHub's `Link` header to the others."""
    per_page = min(max(_query_int(request, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_query_int(request, "page", 1), 1)
    last = max(1, -(-len(items) // per_page))
    links = []
    if page < last:
        links.append(("next", page + 1))
        links.append(("last", last))
    if page > 1:
        links.append(("prev", min(page - 1, last)))
        links.append(("first", 1))
    headers = {}
    if links:
        headers["Link"] = ", ".join(
            f'<{request.url.include_query_params(page=number)}>; rel="{rel}"'
            for rel, number in links
        )
    start = (page - 1) * per_page
    return items[start : start + per_page], headers


def fake_identity(request: Request) -> Identity:
    """Who tokens belong to, and the OAuth app (set by `create_app`)."""
    identity: Identity = request.app.state.identity
    return identity


IdentityConfig = Annotated[Identity, Depends(fake_identity)]
