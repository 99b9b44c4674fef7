"""Who a token belongs to, and the fake's one OAuth app.

    person_token(secret, login)     a person's token: `gho_` + HMAC-SHA256 hex, 36 chars
    Identity                        the token secret, the app's tokens, the OAuth app
    OAuthCodes                      one-time codes of the web flow (one use, 10 minutes)

A person's token is derived from a secret and their login, not stored: it survives a
restart of the fake as long as the secret does (`FAKE_GITHUB_TOKEN_SECRET`). Tokens the
fake hands out to nobody in particular (`app_tokens`) stand for the bot Paved acts as.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "APP_TOKEN",
    "CODE_TTL_SECONDS",
    "DEFAULT_APP_TOKENS",
    "DEFAULT_OAUTH_CLIENT_ID",
    "Grant",
    "Identity",
    "OAuthCodes",
    "person_token",
    "pkce_s256",
]

TOKEN_PREFIX = "gho_"
TOKEN_HEX_LENGTH = 36
CODE_TTL_SECONDS = 600.0
DEFAULT_OAUTH_CLIENT_ID = "paved-gateway"

APP_TOKEN = "paved-local-token"
"""The token of Paved's GitHub block in the local stack (paved/bootstrap.py)."""

DEFAULT_APP_TOKENS = frozenset(
    {
        APP_TOKEN,
        # The tokens Paved's flow tests and benchmarks give their GitHub blocks.
        "test-token",
        "bench-token",
    }
)

# Chosen once per process: without FAKE_GITHUB_TOKEN_SECRET, every fake started by this
# process (a test session's servers) hands out the same tokens, and nobody else can guess them.
_PROCESS_SECRET = secrets.token_hex(32)

TOKEN_SECRET_ENV = "FAKE_GITHUB_TOKEN_SECRET"
APP_TOKENS_ENV = "FAKE_GITHUB_APP_TOKENS"
CLIENT_ID_ENV = "FAKE_GITHUB_OAUTH_CLIENT_ID"
CLIENT_SECRET_ENV = "FAKE_GITHUB_OAUTH_CLIENT_SECRET"
CALLBACK_ENV = "FAKE_GITHUB_OAUTH_CALLBACK_PREFIX"


def person_token(secret: str, login: str) -> str:
    """The token of `login` under `secret`: GitHub's OAuth token shape (`gho_` + 36)."""
    digest = hmac.new(secret.encode(), login.lower().encode(), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:TOKEN_HEX_LENGTH]


def pkce_s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Identity:
    """The fake's secrets: how person tokens are derived, which tokens are the app's,
    and the one OAuth app people sign in to (with its callback URL prefix, if any)."""

    token_secret: str = _PROCESS_SECRET
    app_tokens: frozenset[str] = DEFAULT_APP_TOKENS
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    oauth_callback_prefix: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Identity:
        """Read `FAKE_GITHUB_TOKEN_SECRET`, `FAKE_GITHUB_APP_TOKENS` (comma-separated,
        added to the defaults), `FAKE_GITHUB_OAUTH_CLIENT_ID`, `..._CLIENT_SECRET` and
        `..._CALLBACK_PREFIX`; what is unset keeps its default."""
        env = os.environ if environ is None else environ
        extra = {token.strip() for token in env.get(APP_TOKENS_ENV, "").split(",")}
        return cls(
            token_secret=env.get(TOKEN_SECRET_ENV) or _PROCESS_SECRET,
            app_tokens=DEFAULT_APP_TOKENS | {token for token in extra if token},
            oauth_client_id=env.get(CLIENT_ID_ENV) or DEFAULT_OAUTH_CLIENT_ID,
            oauth_client_secret=env.get(CLIENT_SECRET_ENV) or secrets.token_hex(20),
            oauth_callback_prefix=env.get(CALLBACK_ENV) or None,
        )

    def token_of(self, login: str) -> str:
        """The personal token of `login`."""
        return person_token(self.token_secret, login)

    def login_of(self, token: str, logins: Iterable[str]) -> str | None:
        """Which of `logins` `token` belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        for login in logins:
            if hmac.compare_digest(self.token_of(login), token):
                return login
        return None

    def accepts_redirect(self, redirect_uri: str) -> bool:
        """Whether the OAuth app may send a code to `redirect_uri`: under the registered
        callback prefix when one is set; otherwise any loopback http URL, like a dev app."""
        if self.oauth_callback_prefix:
            return redirect_uri.startswith(self.oauth_callback_prefix)
        parts = urlsplit(redirect_uri)
        return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Grant:
    """What a one-time code stands for."""

    login: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float


class OAuthCodes:
    """The web flow's one-time codes: issued at sign-in, spent by the token exchange."""

    def __init__(self, ttl_seconds: float = CODE_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}

    def issue(
        self,
        *,
        login: str,
        client_id: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
    ) -> str:
        """A new code for this sign-in."""
        code = secrets.token_hex(10)
        grant = Grant(
            login=login,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            expires_at=time.monotonic() + self.ttl_seconds,
        )
        with self._lock:
            now = time.monotonic()
            self._grants = {
                key: kept for key, kept in self._grants.items() if kept.expires_at > now
            }
            self._grants[code] = grant
        return code

    def spend(self, code: str) -> Grant | None:
        """The grant of `code` if it is live; a code is spent by its first use, good or bad."""
        with self._lock:
            grant = self._grants.pop(code, None)
        if grant is None or grant.expires_at <= time.monotonic():
            return None
        return grant
