"""Who is asking: a GitHub token resolved with GitHub's `GET /user`, or a signed-in browser.

    Authorization: Bearer <GitHub token>   (CLI, scripts; Prefect's client sends its
                                            PREFECT_API_KEY this way)
      -> GET <github api>/user               cached per token for the TTL
      -> the login, matched to a person of the registry, who must be active

    session cookie (browser)               set by /auth/callback after GitHub's OAuth flow;
      -> the handle it holds, matched the same way on every request

No credential, a token GitHub refuses, or a person who is not active: `SignInRequired`,
answered 401 with how to sign in.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import httpx

from paved.gateway.directory import PersonFacts

__all__ = ["HOW_TO_SIGN_IN", "GitHubLogins", "Identity", "SignInRequired", "bearer_token"]

HOW_TO_SIGN_IN = (
    "Sign in: in a browser, open {base}/auth/login (GitHub); from the command line, run "
    "`paved login` (it stores a GitHub token); scripts send `Authorization: Bearer <GitHub token>`."
)
# A token GitHub refused is not asked about again for this long: it spares GitHub a
# guesser's traffic without locking out someone who just fixed their token for long.
_REFUSED_TTL_SECONDS = 5.0


class SignInRequired(Exception):
    """The request carries no identity the gateway accepts; the message says why."""


@dataclass(frozen=True)
class Identity:
    """A signed-in, active person of the registry."""

    handle: str
    admin: bool
    teams: frozenset[str]

    @classmethod
    def of(cls, person: PersonFacts) -> Identity:
        return cls(handle=person.handle, admin=person.admin, teams=person.teams)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` (or `token <token>`) header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not value.strip():
        return None
    return value.strip()


class GitHubLogins:
    """GitHub logins of tokens, asked of GitHub's `GET /user` and cached for `ttl` seconds."""

    def __init__(self, api_url: str, *, client: httpx.AsyncClient, ttl: float) -> None:
        self._user_url = f"{api_url.rstrip('/')}/user"
        self._client = client
        self._ttl = ttl
        # Keyed by the token's digest: the token itself is never kept.
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def login(self, token: str) -> str | None:
        """The login the token belongs to, or None when GitHub refuses it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None:
            seen_at, login = cached
            if now - seen_at < (self._ttl if login is not None else _REFUSED_TTL_SECONDS):
                return login
        response = await self._client.get(
            self._user_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        if response.status_code in (401, 403):
            login = None
        else:
            response.raise_for_status()
            login = str(response.json()["login"])
        self._cache[key] = (now, login)
        return login
