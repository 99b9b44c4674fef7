"""Browsers sign in with GitHub's OAuth web flow, here the fake GitHub's, step by step as
a browser follows the redirects; the session cookie then stands for the person."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from paved.gateway.app import SESSION_COOKIE
from tests.gateway.conftest import GATEWAY_GROUP, STRANGER, Gateway

pytestmark = GATEWAY_GROUP


def _sign_in(
    gateway: Gateway, web: httpx.Client, login: str, *, next_: str = "/"
) -> httpx.Response:
    """GitHub's web flow as `login`; the answer of the gateway's callback."""
    start = web.get("/auth/login", params={"next": next_})
    assert start.status_code == 302, start.text
    authorize = urlsplit(start.headers["location"])
    github = f"{authorize.scheme}://{authorize.netloc}"
    assert authorize.path == "/login/oauth/authorize"
    flow = dict(parse_qsl(authorize.query))
    assert flow["client_id"] == gateway.identity.oauth_client_id
    assert flow["code_challenge_method"] == "S256"
    with httpx.Client(base_url=github, timeout=30, trust_env=False) as browser_at_github:
        page = browser_at_github.get(authorize.path, params=flow)
        assert page.status_code == 200
        assert "Sign in to GitHub" in page.text
        signed_in = browser_at_github.post(authorize.path, data={**flow, "login": login})
    assert signed_in.status_code == 302, signed_in.text
    callback = urlsplit(signed_in.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}" == gateway.url
    assert callback.path == "/auth/callback"
    answer = dict(parse_qsl(callback.query))
    assert answer["state"] == flow["state"]
    assert answer["code"]
    return web.get(callback.path, params=answer)


def _session(response: httpx.Response) -> dict[str, Any]:
    """What the session cookie `response` sets holds (signed, not encrypted: readable)."""
    cookie = response.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return {}
    payload = cookie.split(".", 1)[0]
    data: dict[str, Any] = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_dave_signs_in_and_the_cookie_is_him(gateway: Gateway) -> None:
    with gateway.web() as web:
        landed = _sign_in(gateway, web, "dave", next_="/runs")
        assert landed.status_code == 303
        assert landed.headers["location"] == "/runs"
        assert _session(landed) == {"handle": "dave"}
        whoami = web.get("/_paved/whoami")
        assert whoami.status_code == 200
        assert whoami.json()["handle"] == "dave"
        assert whoami.json()["admin"] is False
        # The API takes the cookie as the UI sends it.
        assert web.post("/api/flow_runs/filter", json={}).status_code == 200

        signed_out = web.get("/auth/logout")
        assert signed_out.status_code == 200
        assert "You are signed out of Paved." in signed_out.text
        after = web.get("/_paved/whoami")
    assert after.status_code == 401
    assert "You are not signed in" in after.json()["detail"]


def test_erin_is_in_no_team_but_active_so_she_gets_in(gateway: Gateway) -> None:
    with gateway.web() as web:
        landed = _sign_in(gateway, web, "erin")
        assert landed.status_code == 303
        whoami = web.get("/_paved/whoami")
    assert whoami.json() == {"handle": "erin", "admin": False, "teams": []}


def test_a_person_github_knows_but_the_registry_does_not_is_turned_away(
    gateway: Gateway,
) -> None:
    with gateway.web() as web:
        landed = _sign_in(gateway, web, STRANGER)
        assert landed.status_code == 401
        assert "Not allowed in" in landed.text
        assert f"GitHub says you are {STRANGER}, who is not a person in Paved" in landed.text
        assert "handle" not in _session(landed)
        assert web.get("/_paved/whoami").status_code == 401


def test_a_browser_that_is_not_signed_in_is_sent_to_sign_in(gateway: Gateway) -> None:
    with gateway.web() as web:
        page = web.get("/runs", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=/runs"


def test_the_session_cookie_is_not_for_scripts_or_other_sites(gateway: Gateway) -> None:
    with gateway.web() as web:
        landed = _sign_in(gateway, web, "carol")
    cookie = landed.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_after_sign_in_the_browser_stays_on_the_gateway(gateway: Gateway) -> None:
    for elsewhere in ("//evil.example/runs", "https://evil.example/", "/\\evil.example"):
        with gateway.web() as web:
            landed = _sign_in(gateway, web, "dave", next_=elsewhere)
        location = landed.headers["location"]
        assert landed.status_code == 303
        # A browser reads `/\` as `//`: either way, another host.
        assert location.startswith("/"), location
        assert not location.startswith(("//", "/\\")), location
