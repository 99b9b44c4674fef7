"""Fixtures of the contract tests: GitHub's description, the fake in a thread, and the
calls PyGithub made to it in the scenarios (run once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.fake_github import ServerHandle, serve_in_thread
from tests.contract.replay import ReplayDataUnavailable, replay_data_dir
from tests.contract.scenarios import run_scenarios
from tests.contract.validation import SPEC_PATH, Call, GitHubDescription, calls_from_journals


@pytest.fixture(scope="session")
def github_description() -> GitHubDescription:
    """GitHub's OpenAPI description (npm `@octokit/openapi`), parsed once per session."""
    if not SPEC_PATH.exists():
        pytest.fail(
            f"GitHub's OpenAPI description is missing ({SPEC_PATH}). It comes from the npm "
            "package @octokit/openapi pinned in package.json: run `make test`, or "
            "`npm ci --no-audit --no-fund` at the repository root, then run the contract tests.",
            pytrace=False,
        )
    return GitHubDescription.load(SPEC_PATH)


@pytest.fixture(scope="session")
def replay_data() -> Path:
    """PyGithub's recorded github.com exchanges (fetched once into .cache/pygithub-sdist/)."""
    try:
        return replay_data_dir()
    except ReplayDataUnavailable as error:
        pytest.fail(
            f"{error}\nThe replay tests need PyPI once to fetch PyGithub's sdist.", pytrace=False
        )


@pytest.fixture(scope="session")
def contract_server() -> Iterator[ServerHandle]:
    """A fake GitHub of its own for the contract tests."""
    handle = serve_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def scenario_calls(contract_server: ServerHandle) -> list[Call]:
    """Every API call the scenarios made, with the fake's answers."""
    journals = run_scenarios(contract_server.url)
    return calls_from_journals(journals, contract_server.app)
