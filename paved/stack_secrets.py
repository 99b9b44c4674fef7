"""The local stack's own secrets, made once per PAVED_HOME and kept in a 0600 file.

    prefect_auth_string   Prefect's PREFECT_SERVER_API_AUTH_STRING: held by the server, the
                          workers, their flow runs and the gateway, never by people
    session_key           signs the gateway's session cookies
    oauth_client_secret   the gateway's OAuth app at the (fake) GitHub
    github_token_secret   the fake GitHub derives each seeded person's token from it

They are random, so two stacks on one machine (a developer's and the test suite's) never
share one, and they survive `paved down` / `paved up` so a signed-in browser or a token
stored by `paved login` keeps working. A production deployment keeps its own in its secret
store (docs/deploy.md); nothing here is used there.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["StackSecrets", "load_stack_secrets"]


class StackSecrets(BaseModel):
    """Secrets of one local stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefect_auth_string: SecretStr
    session_key: SecretStr
    oauth_client_secret: SecretStr
    github_token_secret: SecretStr

    @classmethod
    def unset(cls) -> StackSecrets:
        """Empty secrets, for looking at a stack that was never started (nothing uses them)."""
        return cls(
            prefect_auth_string=SecretStr(""),
            session_key=SecretStr(""),
            oauth_client_secret=SecretStr(""),
            github_token_secret=SecretStr(""),
        )


def _generated() -> StackSecrets:
    return StackSecrets(
        # Prefect compares the whole string; the `paved:` prefix only tells a reader what it is.
        prefect_auth_string=SecretStr(f"paved:{secrets.token_urlsafe(24)}"),
        session_key=SecretStr(secrets.token_urlsafe(32)),
        oauth_client_secret=SecretStr(secrets.token_hex(20)),
        github_token_secret=SecretStr(secrets.token_hex(32)),
    )


def load_stack_secrets(path: Path) -> StackSecrets:
    """The secrets stored at `path`, made (and stored, readable by the owner only) if absent."""
    if path.exists():
        data = json.loads(path.read_text())
        return StackSecrets.model_validate(data)
    made = _generated()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(
        {name: value.get_secret_value() for name, value in made}, indent=2
    ).encode()
    # O_EXCL: two `paved` processes racing on a fresh home keep the first one's secrets.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_stack_secrets(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(payload)
    return made
