"""`paved login` / `paved logout`, and the token every `paved` command that talks to
Prefect sends to the gateway.

The token is a GitHub token: the gateway resolves it with GitHub's `GET /user`. It is
stored per gateway URL in `$XDG_CONFIG_HOME/paved/credentials.json` (default
`~/.config/paved/`), readable by its owner only; `PAVED_TOKEN` in the environment wins
over the stored one (scripts, CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.text import Text

from paved.settings import Settings

__all__ = [
    "NotSignedIn",
    "credentials_file",
    "gateway_identity",
    "login",
    "logout",
    "token_for",
]

_stderr = Console(stderr=True)


class NotSignedIn(Exception):
    """No token for this gateway, or the gateway refused it; the message says what to do."""


def credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "paved" / "credentials.json"


def _stored() -> dict[str, str]:
    path = credentials_file()
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(key): str(value) for key, value in data.items()}


def _store(tokens: dict[str, str]) -> None:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(tokens, handle, indent=2)
    temporary.replace(path)


def token_for(settings: Settings) -> str:
    """The GitHub token to send to this stack's gateway: `PAVED_TOKEN`, else the stored one."""
    token = os.environ.get("PAVED_TOKEN") or _stored().get(settings.gateway_url)
    if not token:
        raise NotSignedIn(
            f"not signed in to {settings.gateway_url}: run `paved login` (it takes --token, "
            "GITHUB_TOKEN or `gh auth token`), or set PAVED_TOKEN"
        )
    return token


def gateway_identity(settings: Settings, token: str) -> dict[str, object]:
    """Who the gateway says `token` is: {"handle", "admin", "teams"}."""
    try:
        response = httpx.get(
            f"{settings.gateway_url}/_paved/whoami",
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        raise NotSignedIn(
            f"the gateway at {settings.gateway_url} does not answer ({type(exc).__name__}); "
            "is the stack up? (`paved status`)"
        ) from exc
    if response.status_code == 401:
        raise NotSignedIn(str(response.json().get("detail", "the gateway refused the token")))
    response.raise_for_status()
    identity: dict[str, object] = response.json()
    return identity


def _token_from_gh() -> str | None:
    gh = shutil.which("gh")
    if gh is None:
        return None
    completed = subprocess.run(
        [gh, "auth", "token"], capture_output=True, text=True, timeout=15, check=False
    )
    if completed.returncode != 0:
        return None
    return completed.stdout.strip() or None


def login(
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="A GitHub token; default: $GITHUB_TOKEN, else `gh auth token`.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Sign the CLI in to Paved's gateway with a GitHub token, and store it."""
    settings = Settings()
    chosen = token or os.environ.get("GITHUB_TOKEN") or _token_from_gh()
    if not chosen:
        _stderr.print(
            Text("✗ no token: pass --token, set GITHUB_TOKEN, or sign in to `gh`", style="red")
        )
        raise typer.Exit(1)
    try:
        identity = gateway_identity(settings, chosen)
    except NotSignedIn as exc:
        _stderr.print(Text(f"✗ {exc}", style="red"), soft_wrap=True)
        raise typer.Exit(1) from exc
    tokens = _stored()
    tokens[settings.gateway_url] = chosen
    _store(tokens)
    role = " (admin)" if identity.get("admin") else ""
    Console().print(
        Text(f"Signed in to {settings.gateway_url} as {identity['handle']}{role}."),
        soft_wrap=True,
    )


def logout() -> None:
    """Forget the token stored for this stack's gateway."""
    settings = Settings()
    tokens = _stored()
    if tokens.pop(settings.gateway_url, None) is None:
        Console().print(f"Not signed in to {settings.gateway_url}.")
        return
    _store(tokens)
    Console().print(f"Signed out of {settings.gateway_url}.")
