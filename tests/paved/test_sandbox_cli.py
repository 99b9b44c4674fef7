"""`paved sandbox token HANDLE` against a fake GitHub started by the test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import typer
from typer.testing import CliRunner

from paved.sandbox_cli import sandbox_token
from sandbox.fake_github import ServerHandle, serve_in_thread

app = typer.Typer()
app.command()(sandbox_token)


@pytest.fixture(scope="module")
def fake() -> Iterator[ServerHandle]:
    handle = serve_in_thread()
    yield handle
    handle.stop()


def port_of(url: str) -> str:
    return str(urlsplit(url).port)


def test_prints_the_persons_token_alone(fake: ServerHandle) -> None:
    result = CliRunner().invoke(app, ["dave"], env={"PAVED_GITHUB_PORT": port_of(fake.url)})
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == f"{token}\n" and token.startswith("gho_")
    me = httpx.get(f"{fake.url}/user", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["login"] == "dave"


def test_an_unknown_handle_is_a_clear_error(fake: ServerHandle) -> None:
    result = CliRunner().invoke(app, ["mallory"], env={"PAVED_GITHUB_PORT": port_of(fake.url)})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "knows no person 'mallory'" in result.stderr


def test_a_stack_that_is_not_up_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(app, ["dave"], env={"PAVED_GITHUB_PORT": str(port)})
    assert result.exit_code == 1
    assert "does not answer" in result.stderr and "paved up" in result.stderr
