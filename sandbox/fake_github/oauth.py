"""GitHub's OAuth web flow, as github.com serves it (docs: "Authorizing OAuth apps").

    GET  /login/oauth/authorize       the sign-in page (a username, no password: a sandbox)
    POST /login/oauth/authorize       sign in: 302 to `redirect_uri?code=...&state=...`
    POST /login/oauth/access_token    a code (and PKCE verifier) for the person's token

These live on github.com, not api.github.com: they take no `Authorization` header and are
not in GitHub's REST description. The token handed out is the person's own token
(`identity.person_token`), the one `GET /user` resolves to them. Errors of the token
exchange are answered as GitHub does: 200 with `error`, `error_description`, `error_uri`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from sandbox.fake_github.identity import Identity, OAuthCodes, pkce_s256
from sandbox.fake_github.state import BOT_LOGIN, GitHubState
from sandbox.fake_github.web import IdentityConfig, State

__all__ = ["OAUTH_PREFIX", "router"]

OAUTH_PREFIX = "/login/oauth"
PAGE_TITLE = "Sign in to GitHub · Fake GitHub"
_ERRORS_DOCS = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors"
)
# The parameters the sign-in page carries from the authorize URL to its form post.
_FLOW_FIELDS = (
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)

router = APIRouter(prefix=OAUTH_PREFIX)


def _codes(request: Request) -> OAuthCodes:
    codes: OAuthCodes = request.app.state.oauth_codes
    return codes


def _page(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(PAGE_TITLE)}</title></head>\n<body>\n{body}\n</body></html>\n",
        status_code=status_code,
    )


def _sign_in_page(flow: dict[str, str], *, error: str | None = None) -> HTMLResponse:
    hidden = "\n".join(
        f'  <input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in flow.items()
    )
    flash = f'<p id="error" role="alert">{escape(error)}</p>\n' if error else ""
    return _page(
        "<h1>Sign in to GitHub</h1>\n"
        f"<p>to continue to <strong>{escape(flow['client_id'])}</strong></p>\n"
        f"{flash}"
        f'<form method="post" action="{OAUTH_PREFIX}/authorize">\n{hidden}\n'
        '  <label for="login">Username</label>\n'
        '  <input id="login" name="login" type="text" autocomplete="username" autofocus>\n'
        '  <button type="submit" id="authorize">Authorize</button>\n'
        "</form>",
        # GitHub answers a failed sign-in with the page again, not with an error status.
        status_code=200,
    )


def _flow_problem(identity: Identity, flow: dict[str, str]) -> HTMLResponse | None:
    """The error page for an authorize request GitHub would not serve, or None."""
    if not hmac.compare_digest(flow.get("client_id", ""), identity.oauth_client_id):
        return _page("<h1>404</h1>\n<p>This is not the web page you are looking for.</p>", 404)
    if not identity.accepts_redirect(flow.get("redirect_uri", "")):
        return _page(
            "<h1>Redirect URI mismatch</h1>\n<p>The redirect_uri MUST match the registered "
            "callback URL for this application.</p>",
            400,
        )
    method = flow.get("code_challenge_method", "")
    if flow.get("code_challenge") and method != "S256":
        return _page(
            "<h1>Unsupported code challenge method</h1>\n<p>Only S256 is supported.</p>", 400
        )
    return None


def _flow_fields(values: Any) -> dict[str, str]:
    return {name: str(values[name]) for name in _FLOW_FIELDS if values.get(name)}


@router.get("/authorize")
async def authorize_page(request: Request, identity: IdentityConfig) -> HTMLResponse:
    """The sign-in page for the OAuth app named by `client_id`."""
    flow = _flow_fields(request.query_params)
    return _flow_problem(identity, flow) or _sign_in_page(flow)


def _is_person(state: GitHubState, login: str) -> str | None:
    with state.lock:
        user = state.users.get(login.strip().lower())
        # The bot is Paved's own account, not somebody who signs in.
        return None if user is None or user.login == BOT_LOGIN else user.login


@router.post("/authorize", response_model=None)
async def authorize(
    request: Request, state: State, identity: IdentityConfig
) -> HTMLResponse | RedirectResponse:
    """Sign `login` in: 302 to the app's redirect URI with a one-time code and the state."""
    form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    flow = _flow_fields(form)
    problem = _flow_problem(identity, flow)
    if problem is not None:
        return problem
    login = _is_person(state, form.get("login", ""))
    if login is None:
        return _sign_in_page(flow, error="Incorrect username.")
    code = _codes(request).issue(
        login=login,
        client_id=flow["client_id"],
        redirect_uri=flow["redirect_uri"],
        scope=flow.get("scope", ""),
        code_challenge=flow.get("code_challenge"),
        code_challenge_method=flow.get("code_challenge_method"),
    )
    answer = {"code": code, **({"state": flow["state"]} if "state" in flow else {})}
    separator = "&" if "?" in flow["redirect_uri"] else "?"
    return RedirectResponse(f"{flow['redirect_uri']}{separator}{urlencode(answer)}", 302)


async def _token_request(request: Request) -> dict[str, str]:
    raw = await request.body()
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        fields = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    else:
        fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    # client_secret_basic: the client's credentials in the Authorization header instead.
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
        fields.setdefault("client_id", client_id)
        fields.setdefault("client_secret", secret)
    return fields


def _token_answer(request: Request, payload: dict[str, str]) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(payload, media_type="application/json; charset=utf-8")
    return Response(urlencode(payload), media_type="application/x-www-form-urlencoded")


def _error(request: Request, error: str, description: str, anchor: str) -> Response:
    return _token_answer(
        request,
        {"error": error, "error_description": description, "error_uri": f"{_ERRORS_DOCS}#{anchor}"},
    )


@router.post("/access_token")
async def access_token(request: Request, identity: IdentityConfig) -> Response:
    """Exchange a code for the signed-in person's token (JSON if asked, else form-encoded)."""
    fields = await _token_request(request)
    client_ok = hmac.compare_digest(
        fields.get("client_id", ""), identity.oauth_client_id
    ) and hmac.compare_digest(fields.get("client_secret", ""), identity.oauth_client_secret)
    if not client_ok:
        return _error(
            request,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            "incorrect-client-credentials",
        )
    grant = _codes(request).spend(fields.get("code", ""))
    if grant is None or grant.client_id != fields["client_id"]:
        return _error(
            request,
            "bad_verification_code",
            "The code passed is incorrect or expired.",
            "bad-verification-code",
        )
    # As on GitHub the redirect_uri may be left out here; when given it must be the same.
    if "redirect_uri" in fields and fields["redirect_uri"] != grant.redirect_uri:
        return _error(
            request,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
            "redirect-uri-mismatch2",
        )
    if grant.code_challenge is not None:
        verifier = fields.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(pkce_s256(verifier), grant.code_challenge):
            return _error(
                request,
                "bad_verification_code",
                "The code_verifier does not match the code_challenge.",
                "bad-verification-code",
            )
    scope = ",".join(part for part in grant.scope.replace(",", " ").split() if part)
    return _token_answer(
        request,
        {"access_token": identity.token_of(grant.login), "token_type": "bearer", "scope": scope},
    )
