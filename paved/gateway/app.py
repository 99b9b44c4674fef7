"""The gateway's ASGI app: sign-in routes, then every other path proxied to Prefect.

/_paved/health             unauthenticated liveness
/_paved/whoami             who the caller is (the CLI's `paved login` checks a token here)
/auth/login, /auth/callback, /auth/logout
                           GitHub's OAuth web flow (Authlib), a signed session cookie
/api/health, /api/ready    passed on without a credential, as Prefect allows
/api/... (HTTP)            the caller identified, the call decided by `rules.Rules`
/api/... (websocket)       the caller identified (cookie or the auth message's token);
                           reading subscriptions for everyone, the rest for admins
everything else            Prefect's UI, for signed-in browsers; others are sent to sign in
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from paved.gateway.config import GatewayConfig
from paved.gateway.directory import Directory
from paved.gateway.identity import (
    HOW_TO_SIGN_IN,
    GitHubLogins,
    Identity,
    SignInRequired,
    bearer_token,
)
from paved.gateway.proxy import (
    PrefectUpstream,
    UpstreamUnavailable,
    pump_websocket,
    response_headers,
)
from paved.gateway.rules import (
    STAMPED_APPROVAL_FIELDS,
    Call,
    Refuse,
    Rules,
    strip_fields_from_schema,
    without_stamped_fields,
)

__all__ = ["create_app"]

SESSION_COOKIE = "paved_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600
_UNAUTHENTICATED_API = {"/api/health", "/api/ready"}
_READING_WEBSOCKETS = {"/api/events/out", "/api/logs/out"}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Gateway:
    """The gateway's parts, made once per process in the app's lifespan."""

    def __init__(self, config: GatewayConfig, *, transport: httpx.AsyncBaseTransport | None):
        self.config = config
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=10.0),
            # Prefect's server (uvicorn) closes a connection idle for 5 s
            # (PREFECT_SERVER_API_KEEPALIVE_TIMEOUT). Kept as long here, a pooled connection
            # can be closed by the server just as a call goes out on it; kept 2 s, never.
            limits=httpx.Limits(keepalive_expiry=2.0),
            transport=transport,
            trust_env=False,
        )
        self.directory = Directory(
            config.registry_url.get_secret_value(),
            admin_team=config.admin_team,
        )
        self.logins = GitHubLogins(
            config.github_api_url, client=self.client, ttl=config.identity_ttl_seconds
        )
        self.upstream = PrefectUpstream(
            config.prefect_url,
            auth_string=config.prefect_auth_string.get_secret_value(),
            client=self.client,
        )
        self.rules = Rules(
            upstream=self.upstream,
            admin_team=config.admin_team,
            pending_approver=self._pending_approver,
            journal_refusal=self._journal_refusal,
        )
        self.oauth = OAuth()
        web = config.github_web_url.rstrip("/")
        self.oauth.register(
            name="github",
            client_id=config.oauth_client_id,
            client_secret=config.oauth_client_secret.get_secret_value(),
            authorize_url=f"{web}/login/oauth/authorize",
            access_token_url=f"{web}/login/oauth/access_token",
            client_kwargs={"scope": "read:user", "code_challenge_method": "S256"},
        )

    async def close(self) -> None:
        await self.client.aclose()
        self.directory.close()

    async def _pending_approver(self, flow_run_id: str) -> str | None:
        return await run_in_threadpool(self.directory.pending_approver, flow_run_id)

    async def _journal_refusal(self, flow_run_id: str, who: str, what: str, reason: str) -> None:
        await run_in_threadpool(
            self.directory.journal_refusal, flow_run_id, who=who, what=what, reason=reason
        )

    def how_to_sign_in(self, connection: HTTPConnection) -> str:
        base = connection.base_url
        if base.scheme in ("ws", "wss"):
            # A websocket is told the sign-in page, which is served over HTTP(S).
            base = base.replace(scheme="https" if base.scheme == "wss" else "http")
        return HOW_TO_SIGN_IN.format(base=str(base).rstrip("/"))

    async def identify(self, connection: HTTPConnection, *, token: str | None = None) -> Identity:
        """The signed-in, active person behind `connection` (a header token first, then
        `token` from a websocket's auth message, then the session cookie)."""
        token = bearer_token(connection.headers.get("authorization")) or token
        if token:
            login = await self.logins.login(token)
            if login is None:
                raise SignInRequired(
                    "GitHub does not accept this token (unknown, expired or revoked). "
                    + self.how_to_sign_in(connection)
                )
        else:
            login = connection.session.get("handle")
            if not login:
                raise SignInRequired("You are not signed in. " + self.how_to_sign_in(connection))
        person = await run_in_threadpool(self.directory.person, login)
        if person is None or not person.active:
            if not token:
                connection.session.clear()
            why = "is not a person" if person is None else "is not an active person"
            raise SignInRequired(
                f"GitHub says you are {login}, who {why} in Paved's registry: ask your team "
                f"lead or the platform team to add you. {self.how_to_sign_in(connection)}"
            )
        return Identity.of(person)


def _gateway(connection: HTTPConnection) -> Gateway:
    gateway: Gateway = connection.app.state.gateway
    return gateway


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _page(
    title: str, message: str, *, status: int, link: tuple[str, str] | None = None
) -> Response:
    from html import escape

    action = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    body = (
        f"<!doctype html><html><head><title>{escape(title)} · Paved</title></head>"
        f"<body><h1>{escape(title)}</h1><p id='message'>{escape(message)}</p>{action}</body></html>"
    )
    return HTMLResponse(body, status_code=status)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def whoami(request: Request) -> Response:
    gateway = _gateway(request)
    try:
        who = await gateway.identify(request)
    except SignInRequired as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401)
    return JSONResponse({"handle": who.handle, "admin": who.admin, "teams": sorted(who.teams)})


def _safe_next(value: str | None) -> str:
    # Only paths of this site: an open redirect would hand a signed-in session to anyone.
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


async def login(request: Request) -> Response:
    gateway = _gateway(request)
    request.session["next"] = _safe_next(request.query_params.get("next"))
    redirect_uri = str(request.url_for("auth_callback"))
    response: Response = await gateway.oauth.github.authorize_redirect(request, redirect_uri)
    return response


async def callback(request: Request) -> Response:
    gateway = _gateway(request)
    retry = ("/auth/login", "Sign in again")
    try:
        token = await gateway.oauth.github.authorize_access_token(request)
    except OAuthError as exc:
        return _page(
            "Sign-in failed",
            f"GitHub did not sign you in: {exc.description or exc.error}",
            status=401,
            link=retry,
        )
    access_token = str(token.get("access_token", ""))
    try:
        who = await gateway.identify(request, token=access_token)
    except SignInRequired as exc:
        return _page("Not allowed in", str(exc), status=401)
    then = _safe_next(request.session.get("next"))
    # A fresh session: nothing from before the sign-in (OAuth state, next) is kept.
    request.session.clear()
    request.session["handle"] = who.handle
    return RedirectResponse(then, status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return _page(
        "Signed out", "You are signed out of Paved.", status=200, link=("/auth/login", "Sign in")
    )


def _rewritten(path: str, payload: Any, request: Request) -> Any:
    """Responses the gateway adapts: the UI's settings (no password prompt, the API here),
    forms that must not ask for what the gateway stamps."""
    if path.endswith("/ui-settings") and isinstance(payload, dict):
        return {**payload, "auth": None, "api_url": f"{str(request.base_url).rstrip('/')}/api"}
    if path.startswith("/api/deployments"):
        return without_stamped_fields(payload)
    if (
        path.startswith("/api/flow_runs/")
        and "/input/" in path
        and isinstance(payload, dict)
        and str(payload.get("key", "")).endswith("-schema")
        and isinstance(payload.get("value"), str)
    ):
        schema = strip_fields_from_schema(json.loads(payload["value"]), STAMPED_APPROVAL_FIELDS)
        return {**payload, "value": json.dumps(schema)}
    return None


async def proxy(request: Request) -> Response:
    try:
        return await _proxy(request)
    except UpstreamUnavailable as exc:
        return JSONResponse({"detail": str(exc)}, status_code=502)


async def _proxy(request: Request) -> Response:
    gateway = _gateway(request)
    # Decide on the path Prefect routes on: percent-decoded, as its server decodes it
    # (`/%61pi/variables/` is `/api/variables/` there). The path is forwarded as received.
    path: str = request.scope["path"]
    if any(segment in (".", "..") for segment in path.split("/")):
        # Dot segments are dropped on the way (by httpx, or by Prefect's server when
        # encoded as %2e): `/./api/variables/` would reach `/api/variables/` unruled.
        return JSONResponse(
            {"detail": f"the path {path!r} has . or .. segments: send it without them"},
            status_code=400,
        )
    is_api = path == "/api" or path.startswith("/api/")
    body = await request.body()
    if path not in _UNAUTHENTICATED_API:
        try:
            who = await gateway.identify(request)
        except SignInRequired as exc:
            if not is_api and _wants_html(request):
                return RedirectResponse(f"/auth/login?next={quote(path)}", status_code=303)
            return JSONResponse({"detail": str(exc)}, status_code=401)
        if is_api:
            call = Call(
                method=request.method,
                path=path.removeprefix("/api") or "/",
                query=dict(request.query_params),
                body=body,
            )
            try:
                decision = await gateway.rules.decide(call, who)
            except httpx.HTTPStatusError as exc:
                # What the rule needed to read is not there (an unknown deployment or run):
                # Prefect's own answer says so.
                upstream_error = exc.response
                return Response(
                    upstream_error.content,
                    status_code=upstream_error.status_code,
                    headers=response_headers(upstream_error),
                )
            if isinstance(decision, Refuse):
                return JSONResponse({"detail": decision.message}, status_code=decision.status)
            body = decision.body
    upstream = await gateway.upstream.send(
        method=request.method,
        # Still percent-encoded: a decoded `%3F` would start a query upstream.
        path=request.url.path,
        query=request.url.query,
        headers=list(request.headers.items()),
        body=body,
        forwarded_for=request.client.host if request.client else None,
    )
    headers = response_headers(upstream)
    content = upstream.content
    if upstream.is_success and "json" in upstream.headers.get("content-type", ""):
        rewritten = _rewritten(path, upstream.json(), request)
        if rewritten is not None:
            content = json.dumps(rewritten).encode()
    return Response(content, status_code=upstream.status_code, headers=headers)


async def websocket_proxy(websocket: WebSocket) -> None:
    gateway = _gateway(websocket)
    path = websocket.url.path
    offered = websocket.scope.get("subprotocols") or []
    if "prefect" not in offered:
        await websocket.close(code=1002, reason="the 'prefect' subprotocol is required")
        return
    await websocket.accept(subprotocol="prefect")
    first = await websocket.receive_json()
    if not isinstance(first, dict) or first.get("type") != "auth":
        await websocket.close(code=1008, reason="Expected 'auth' message")
        return
    token = first.get("token")
    try:
        who = await gateway.identify(websocket, token=str(token) if token else None)
    except SignInRequired as exc:
        await websocket.close(code=1008, reason=str(exc)[:120])
        return
    if path not in _READING_WEBSOCKETS and not who.admin:
        await websocket.close(code=1008, reason=f"{path} is for admins only")
        return
    await pump_websocket(
        websocket,
        gateway.upstream.websocket_url(path, websocket.url.query),
        first_message=gateway.upstream.websocket_auth_message(),
    )


def create_app(
    config: GatewayConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The gateway for `config`; `transport` lets a test route its outgoing HTTP."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.gateway = Gateway(config, transport=transport)
        try:
            yield
        finally:
            await app.state.gateway.close()

    routes = [
        Route("/_paved/health", health),
        Route("/_paved/whoami", whoami),
        Route("/auth/login", login),
        Route("/auth/callback", callback, name="auth_callback"),
        Route("/auth/logout", logout, methods=["GET", "POST"]),
        WebSocketRoute("/api/{path:path}", websocket_proxy),
        Route("/{path:path}", proxy, methods=_METHODS),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=config.session_key.get_secret_value(),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE_SECONDS,
            same_site="lax",
            https_only=config.secure_cookies,
        )
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
