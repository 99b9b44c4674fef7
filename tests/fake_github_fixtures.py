"""Fixtures for tests that talk to Paved's fake GitHub directly: one server per test
module, seeded from the sandbox seed before each test, and a PyGithub client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Auth, Github

from sandbox.fake_github import APP_TOKEN, FakeGitHubControl, ServerHandle, serve_in_thread
from sandbox.fake_github.seed import load_seed_file


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    handle = serve_in_thread()
    yield handle
    handle.stop()


@pytest.fixture
def control(server: ServerHandle) -> FakeGitHubControl:
    """The fake back to the sandbox seed. Seeding, not resetting: some tests move the
    reset point to another world."""
    client = FakeGitHubControl(server.url)
    client.seed(load_seed_file())
    return client


@pytest.fixture
def gh(server: ServerHandle, control: FakeGitHubControl) -> Iterator[Github]:
    """PyGithub on the fake, without retries or pacing, with the app's token (the bot
    on `GET /user`)."""
    client = Github(
        base_url=server.url,
        auth=Auth.Token(APP_TOKEN),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield client
    client.close()
