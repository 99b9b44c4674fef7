"""Paved's own stateful fake GitHub REST server, for the sandbox and for tests.

    create_app(state=None)          the ASGI app (FastAPI)
    GitHubState                     the in-memory world it serves, built from a seed
    serve_in_thread(port, state)    run it in a daemon thread: handle.url, handle.stop()
    FakeGitHubControl(base_url)     client for the /_fake/ test seam (reset, faults, journal)
    Identity                        token secret, the app's tokens, the OAuth app

`python -m sandbox.fake_github --port N` runs it in the foreground. Contract tests in
tests/contract hold it to GitHub's OpenAPI description and to recorded real responses.
"""

from sandbox.fake_github.app import create_app
from sandbox.fake_github.control import FakeGitHubControl
from sandbox.fake_github.identity import APP_TOKEN, Identity, person_token
from sandbox.fake_github.server import ServerHandle, serve_in_thread
from sandbox.fake_github.state import BOT_LOGIN, GitHubState

__all__ = [
    "APP_TOKEN",
    "BOT_LOGIN",
    "FakeGitHubControl",
    "GitHubState",
    "Identity",
    "ServerHandle",
    "create_app",
    "person_token",
    "serve_in_thread",
]
