"""The fake GitHub's identities: people's tokens, `GET /user`, and GitHub's OAuth web flow
(with httpx as a browser would, and once end to end with Authlib's client)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from sandbox.fake_github import (
    APP_TOKEN,
    FakeGitHubControl,
    Identity,
    ServerHandle,
    person_token,
    serve_in_thread,
)
from sandbox.fake_github.identity import pkce_s256
from sandbox.fake_github.state import GitHubState

CLIENT_ID = "paved-gateway"
CLIENT_SECRET = "s3cret-of-the-gateway"
CALLBACK = "http://127.0.0.1:4300/auth/callback"
IDENTITY = Identity(
    token_secret="a-secret-the-test-knows",
    oauth_client_id=CLIENT_ID,
    oauth_client_secret=CLIENT_SECRET,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[ServerHandle]:
    handle = serve_in_thread(identity=IDENTITY)
    yield handle
    handle.stop()


@pytest.fixture
def browser(fake: ServerHandle) -> Iterator[httpx.Client]:
    """A client that, like a browser, does not send GitHub API tokens; redirects are
    looked at, not followed."""
    FakeGitHubControl(fake.url).reset()
    with httpx.Client(base_url=fake.url, timeout=10, follow_redirects=False) as client:
        yield client


def who_am_i(fake: ServerHandle, token: str) -> httpx.Response:
    return httpx.get(f"{fake.url}/user", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def sign_in(browser: httpx.Client, login: str, **flow: str) -> httpx.Response:
    """Post the sign-in form as the page would, with the flow's hidden fields."""
    fields = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": "xyz", **flow}
    return browser.post("/login/oauth/authorize", data={**fields, "login": login})


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def exchange(browser: httpx.Client, *, json: bool = True, **fields: str) -> httpx.Response:
    body = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": CALLBACK,
        **fields,
    }
    headers = {"Accept": "application/json"} if json else {}
    return browser.post("/login/oauth/access_token", data=body, headers=headers)


# -- tokens and GET /user ---------------------------------------------------------------


def test_a_person_token_is_githubs_shape_and_derived_from_the_secret(fake: ServerHandle) -> None:
    token = FakeGitHubControl(fake.url).token("dave")
    assert re.fullmatch(r"gho_[0-9a-f]{36}", token)
    assert token == person_token("a-secret-the-test-knows", "dave") == IDENTITY.token_of("Dave")
    assert person_token("another-secret", "dave") != token


def test_tokens_survive_a_restart_with_the_same_secret(fake: ServerHandle) -> None:
    again = serve_in_thread(identity=Identity(token_secret="a-secret-the-test-knows"))
    try:
        token = FakeGitHubControl(again.url).token("carol")
        assert token == FakeGitHubControl(fake.url).token("carol")
        assert who_am_i(fake, token).json()["login"] == "carol"
    finally:
        again.stop()


def test_the_token_seam_answers_404_for_an_unknown_login_and_for_the_bot(
    fake: ServerHandle,
) -> None:
    for login in ("nobody-here", "paved-bot"):
        response = httpx.get(f"{fake.url}/_fake/tokens/{login}", timeout=10)
        assert response.status_code == 404, login


def test_get_user_is_the_person_the_token_belongs_to(fake: ServerHandle) -> None:
    response = who_am_i(fake, FakeGitHubControl(fake.url).token("erin"))
    assert response.status_code == 200
    me = response.json()
    assert (me["login"], me["name"], me["email"]) == ("erin", "Erin Evans", "erin@acme.example")
    assert me["user_view_type"] == "private"
    # PyGithub's `token X` form is the same token.
    token = FakeGitHubControl(fake.url).token("erin")
    other_form = httpx.get(f"{fake.url}/user", headers={"Authorization": f"token {token}"})
    assert other_form.json()["login"] == "erin"


def test_get_user_with_the_apps_token_is_the_bot(fake: ServerHandle) -> None:
    assert who_am_i(fake, APP_TOKEN).json()["login"] == "paved-bot"


@pytest.mark.parametrize(
    "token", ["gho_" + "0" * 36, "not-a-token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"]
)
def test_an_unknown_token_gets_bad_credentials_as_on_github(fake: ServerHandle, token: str) -> None:
    response = who_am_i(fake, token)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }


def test_identity_reads_its_secrets_from_the_environment() -> None:
    identity = Identity.from_env(
        {
            "FAKE_GITHUB_TOKEN_SECRET": "s",
            "FAKE_GITHUB_OAUTH_CLIENT_ID": "cid",
            "FAKE_GITHUB_OAUTH_CLIENT_SECRET": "csecret",
            "FAKE_GITHUB_APP_TOKENS": "ci-token, other",
        }
    )
    assert (identity.oauth_client_id, identity.oauth_client_secret) == ("cid", "csecret")
    assert identity.token_of("alice") == person_token("s", "alice")
    assert {"ci-token", "other", APP_TOKEN} <= identity.app_tokens
    default = Identity.from_env({})
    assert default.oauth_client_id == "paved-gateway" and default.oauth_client_secret


# -- the sign-in page -------------------------------------------------------------------


def test_the_sign_in_page_has_a_username_field_and_an_authorize_button(
    browser: httpx.Client,
) -> None:
    page = browser.get(
        "/login/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": 'x"><script>'},
    )
    assert page.status_code == 200
    assert "<title>Sign in to GitHub · Fake GitHub</title>" in page.text
    assert '<input id="login" name="login"' in page.text
    assert '<label for="login">Username</label>' in page.text
    assert '<button type="submit" id="authorize">Authorize</button>' in page.text
    assert "<script>" not in page.text  # the state is carried, escaped
    assert 'name="state" value="x&quot;&gt;&lt;script&gt;"' in page.text


def test_an_unknown_client_gets_a_404_page(browser: httpx.Client) -> None:
    page = browser.get(
        "/login/oauth/authorize", params={"client_id": "someone-else", "redirect_uri": CALLBACK}
    )
    assert page.status_code == 404
    assert sign_in(browser, "dave", client_id="someone-else").status_code == 404


@pytest.mark.parametrize(
    "redirect_uri", ["https://evil.example/callback", "http://10.0.0.1/cb", "", "javascript:x"]
)
def test_a_redirect_uri_that_is_not_the_apps_is_refused(
    browser: httpx.Client, redirect_uri: str
) -> None:
    page = browser.get(
        "/login/oauth/authorize", params={"client_id": CLIENT_ID, "redirect_uri": redirect_uri}
    )
    assert page.status_code == 400 and "redirect_uri MUST match" in page.text
    assert sign_in(browser, "dave", redirect_uri=redirect_uri).status_code == 400


def test_a_registered_callback_prefix_is_the_only_one_accepted() -> None:
    identity = Identity(oauth_callback_prefix="http://127.0.0.1:4300/auth/")
    assert identity.accepts_redirect(CALLBACK)
    assert not identity.accepts_redirect("http://127.0.0.1:9999/auth/callback")


@pytest.mark.parametrize("login", ["nobody-here", "paved-bot", ""])
def test_a_login_that_is_not_a_person_is_told_incorrect_username(
    browser: httpx.Client, login: str
) -> None:
    page = sign_in(browser, login)
    assert page.status_code == 200
    assert "Incorrect username" in unescape(page.text)
    assert '<input id="login" name="login"' in page.text


# -- the token exchange -----------------------------------------------------------------


def test_the_code_is_exchanged_once_for_the_persons_token(
    fake: ServerHandle, browser: httpx.Client
) -> None:
    code = code_from(sign_in(browser, "Dave", scope="read:user user:email"))
    answer = exchange(browser, code=code)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    token = answer.json()
    assert token == {
        "access_token": FakeGitHubControl(fake.url).token("dave"),
        "token_type": "bearer",
        "scope": "read:user,user:email",
    }
    assert who_am_i(fake, token["access_token"]).json()["login"] == "dave"
    again = exchange(browser, code=code)
    assert again.json()["error"] == "bad_verification_code"


def test_without_accept_json_the_answer_is_form_encoded(browser: httpx.Client) -> None:
    answer = exchange(browser, json=False, code=code_from(sign_in(browser, "carol")))
    assert answer.headers["content-type"].startswith("application/x-www-form-urlencoded")
    fields = parse_qs(answer.text)
    assert fields["token_type"] == ["bearer"] and fields["access_token"][0].startswith("gho_")


def test_client_credentials_may_come_as_http_basic(browser: httpx.Client) -> None:
    code = code_from(sign_in(browser, "carol"))
    answer = browser.post(
        "/login/oauth/access_token",
        data={"code": code, "redirect_uri": CALLBACK},
        headers={"Accept": "application/json"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert "access_token" in answer.json(), answer.json()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_secret": "wrong"}, "incorrect_client_credentials"),
        ({"client_id": "someone-else"}, "incorrect_client_credentials"),
        ({"code": "not-a-code"}, "bad_verification_code"),
        ({"redirect_uri": "http://127.0.0.1:4300/elsewhere"}, "redirect_uri_mismatch"),
    ],
)
def test_refused_exchanges_answer_githubs_errors(
    browser: httpx.Client, change: dict[str, str], error: str
) -> None:
    code = code_from(sign_in(browser, "carol"))
    answer = exchange(browser, **{"code": code, **change})
    assert answer.status_code == 200  # as on GitHub: the error is in the body
    body = answer.json()
    assert body["error"] == error and body["error_description"]
    assert body["error_uri"].startswith("https://docs.github.com/")
    assert "access_token" not in body


def test_pkce_s256_is_checked_when_a_challenge_was_given(browser: httpx.Client) -> None:
    verifier = secrets.token_urlsafe(48)
    flow = {"code_challenge": pkce_s256(verifier), "code_challenge_method": "S256"}
    wrong = exchange(browser, code=code_from(sign_in(browser, "bob", **flow)), code_verifier="x")
    assert wrong.json()["error"] == "bad_verification_code"
    missing = exchange(browser, code=code_from(sign_in(browser, "bob", **flow)))
    assert missing.json()["error"] == "bad_verification_code"
    right = exchange(
        browser, code=code_from(sign_in(browser, "bob", **flow)), code_verifier=verifier
    )
    assert right.json()["access_token"].startswith("gho_")


def test_only_s256_challenges_are_accepted(browser: httpx.Client) -> None:
    page = sign_in(browser, "bob", code_challenge="abc", code_challenge_method="plain")
    assert page.status_code == 400


def test_authlibs_client_completes_the_web_flow(fake: ServerHandle) -> None:
    """What the gateway does: Authlib with PKCE S256, the browser step done by httpx."""

    async def flow(auth_method: str) -> dict[str, str]:
        async with AsyncOAuth2Client(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=CALLBACK,
            scope="read:user",
            code_challenge_method="S256",
            token_endpoint_auth_method=auth_method,
        ) as client:
            verifier = secrets.token_urlsafe(48)
            url, state = client.create_authorization_url(
                f"{fake.url}/login/oauth/authorize", code_verifier=verifier
            )
            async with httpx.AsyncClient(follow_redirects=False) as user_agent:
                page = await user_agent.get(url)
                assert 'id="authorize"' in page.text
                hidden = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
                assert hidden["state"] == state
                answer = await user_agent.post(
                    f"{fake.url}/login/oauth/authorize",
                    data={**{k: unescape(v) for k, v in hidden.items()}, "login": "dave"},
                )
            token = await client.fetch_token(
                f"{fake.url}/login/oauth/access_token",
                authorization_response=answer.headers["location"],
                code_verifier=verifier,
            )
            return dict(token)

    for auth_method in ("client_secret_post", "client_secret_basic"):
        token = asyncio.run(flow(auth_method))
        assert token["token_type"] == "bearer"
        assert who_am_i(fake, token["access_token"]).json()["login"] == "dave"


# -- the organization, as the people sync reads it ---------------------------------------


def test_people_join_and_leave_the_organization_through_the_seam(fake: ServerHandle) -> None:
    control = FakeGitHubControl(fake.url)
    control.reset()
    headers = {"Authorization": f"token {APP_TOKEN}"}

    def members() -> list[str]:
        answer = httpx.get(
            f"{fake.url}/orgs/acme/members", headers=headers, params={"per_page": 100}
        )
        return [member["login"] for member in answer.json()]

    def team(slug: str, role: str = "all") -> list[str]:
        answer = httpx.get(
            f"{fake.url}/orgs/acme/teams/{slug}/members", headers=headers, params={"role": role}
        )
        return [member["login"] for member in answer.json()]

    control.join_organization("acme", "frank", name="Frank Fox", email="frank@acme.example")
    control.set_team_member("acme", "payments", "frank", "maintainer")
    assert "frank" in members()
    assert team("payments", "maintainer") == ["carol", "frank"]
    assert who_am_i(fake, control.token("frank")).json()["name"] == "Frank Fox"
    control.leave_organization("acme", "carol")
    assert "carol" not in members() and team("payments") == ["dave", "frank"]
    # Leaving the organization keeps the GitHub account: carol can still sign in.
    assert who_am_i(fake, control.token("carol")).json()["login"] == "carol"
    control.remove_team_member("acme", "payments", "frank")
    assert team("payments") == ["dave"]
    bad_role = httpx.get(
        f"{fake.url}/orgs/acme/teams/payments/members", headers=headers, params={"role": "boss"}
    )
    assert bad_role.status_code == 422
    control.reset()
    assert "carol" in members() and "frank" not in members()


def test_an_empty_world_has_no_one_to_sign_in() -> None:
    handle = serve_in_thread(state=GitHubState(), identity=IDENTITY)
    try:
        with httpx.Client(base_url=handle.url, follow_redirects=False) as client:
            assert "Incorrect username" in sign_in(client, "dave").text
    finally:
        handle.stop()
