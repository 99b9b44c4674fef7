"""`paved sandbox token HANDLE`: a sandbox person's GitHub token, to act as them.

The fake GitHub derives each person's token from its secret; this asks the fake's test
seam (`GET /_fake/tokens/{login}`) for it and prints it alone on stdout, so
`TOKEN=$(paved sandbox token dave)` works. Sandbox only: a real GitHub has no such seam.
Exit codes: 0 printed; 1 unknown handle, or the sandbox GitHub is not up.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from paved.settings import Settings

__all__ = ["sandbox_token"]

_stderr = Console(stderr=True)
_TIMEOUT_SECONDS = 5.0


def _fail(message: str) -> typer.Exit:
    _stderr.print(Text(f"✗ {message}", style="red"), soft_wrap=True)
    return typer.Exit(1)


def sandbox_token(
    handle: Annotated[str, typer.Argument(help="GitHub login of a sandbox person, e.g. dave.")],
) -> None:
    """Print HANDLE's GitHub token from the sandbox's fake GitHub (for curl, `paved login`)."""
    try:
        github_url = Settings().github_url
    except ValidationError as exc:
        raise _fail(f"invalid PAVED_* settings: {exc}") from exc
    url = f"{github_url.rstrip('/')}/_fake/tokens/{handle}"
    try:
        # trust_env=False: a developer's HTTP(S)_PROXY must not see loopback calls.
        response = httpx.get(url, timeout=_TIMEOUT_SECONDS, trust_env=False)
    except httpx.HTTPError as exc:
        raise _fail(
            f"the sandbox GitHub at {github_url} does not answer ({type(exc).__name__}); "
            "is the stack up? `paved up`, or `paved start github`"
        ) from exc
    if response.status_code == 404:
        raise _fail(f"the sandbox GitHub knows no person {handle!r} (see sandbox/seed.yaml)")
    if response.status_code != 200:
        raise _fail(
            f"the sandbox GitHub at {github_url} answered {response.status_code} to {url}; "
            "is it Paved's fake GitHub?"
        )
    typer.echo(response.json()["token"])
