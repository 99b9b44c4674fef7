"""The fake GitHub REST server: `create_app()` builds the ASGI app.

Layers, outermost first: the request journal, fault injection, the token check, the
id-based team path rewrite, then the routes (`api_orgs`, `api_repos`, `api_access`, the
GraphQL endpoint in `graphql`, GitHub's OAuth web flow in `oauth`, and the `/_fake/`
seam). Every refusal is answered with GitHub's status and error body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.fake_github import api_access, api_orgs, api_repos, graphql, oauth, seam
from sandbox.fake_github.errors import GENERIC_DOCS_URL, GitHubError, NotFound, ValidationFailed
from sandbox.fake_github.faults import TRANSPORT_SCOPE_KEY, FaultMiddleware, FaultPlan
from sandbox.fake_github.identity import Identity, OAuthCodes
from sandbox.fake_github.journal import SEAM_PREFIX, JournalMiddleware, RequestJournal
from sandbox.fake_github.paths import CanonicalPathMiddleware
from sandbox.fake_github.state import GitHubState
from sandbox.fake_github.web import error_response, github_json


class FakeGitHubApp(FastAPI):
    """The FastAPI app, which also hands the fault layer the server's transport.

    uvicorn's `send` is a method of the connection's request cycle, which holds the asyncio
    transport; aborting that transport is how a drop fault closes the connection without a
    response. Found here, before any middleware wraps `send`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[TRANSPORT_SCOPE_KEY] = getattr(getattr(send, "__self__", None), "transport", None)
        await super().__call__(scope, receive, send)


class RequireToken:
    """ASGI layer answering 401 to API calls without an `Authorization` header.

    Any token passes here; `GET /user` alone tells a person's token from the app's and
    from a bad one. The OAuth web flow (github.com, not the API) needs no header.
    """

    BODY = json.dumps(
        {
            "message": "Requires authentication",
            "documentation_url": GENERIC_DOCS_URL,
            "status": "401",
        }
    ).encode()

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope["path"].startswith((SEAM_PREFIX, oauth.OAUTH_PREFIX))
            and not any(name.lower() == b"authorization" for name, _ in scope.get("headers", []))
        ):
            headers = [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(self.BODY)).encode()),
            ]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": self.BODY})
            return
        await self.app(scope, receive, send)


def create_app(state: GitHubState | None = None, *, identity: Identity | None = None) -> FastAPI:
    """The fake GitHub serving `state` (by default, a state seeded from `sandbox/seed.yaml`)
    with `identity`'s token secret and OAuth app (by default, from the environment:
    `Identity.from_env`).

    `app.state.github`, `app.state.faults`, `app.state.journal` and `app.state.identity`
    are the world, the armed faults, the request journal and the secrets, for in-process
    tests.
    """
    state = state if state is not None else GitHubState.from_seed_file()
    app = FakeGitHubApp(title="Paved fake GitHub", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.github = state
    app.state.identity = identity if identity is not None else Identity.from_env()
    app.state.oauth_codes = OAuthCodes()
    app.state.faults = FaultPlan()
    app.state.journal = RequestJournal()
    for module in (seam, api_orgs, api_repos, api_access, graphql, oauth):
        # The routes themselves, not include_router(): recent FastAPI keeps included routers
        # as opaque entries, and the contract tests sweep `app.routes` for every operation.
        app.router.routes.extend(module.router.routes)
    # Starlette runs the middleware added last first.
    app.add_middleware(CanonicalPathMiddleware, state=state)
    app.add_middleware(RequireToken)
    app.add_middleware(FaultMiddleware, plan=app.state.faults, state=state)
    app.add_middleware(JournalMiddleware, journal=app.state.journal)
    _install_error_handlers(app)
    return app


def _location(location: tuple[Any, ...]) -> str:
    # FastAPI's first element says where (body, query...); GitHub names the field only.
    return "/".join(str(part) for part in location[1:]) or "body"


def _install_error_handlers(app: FastAPI) -> None:
    async def github_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, GitHubError)
        return error_response(error)

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        if error.status_code in (404, 405):
            # Unknown paths and methods: GitHub answers 404 Not Found to both.
            return error_response(NotFound())
        body = {"message": str(error.detail), "documentation_url": GENERIC_DOCS_URL}
        return github_json({**body, "status": str(error.status_code)}, error.status_code)

    async def invalid_request(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = "; ".join(
            f"For '{_location(problem['loc'])}', {problem['msg'].lower()}."
            for problem in error.errors()
        )
        return error_response(ValidationFailed(f"Invalid request.\n\n{problems}"))

    app.add_exception_handler(GitHubError, github_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
