"""The fake's answers against real ones recorded from github.com (PyGithub's ReplayData).

For each operation below, every top-level field of the real answer must be in the fake's
answer for the same operation, with the same JSON type (any type where the real is null).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.contract.replay import recorded, shape_differences
from tests.contract.validation import Call


class ReplayCase(NamedTuple):
    """A recorded exchange, and the fake's operation whose answer must have its fields."""

    replay_file: str
    method: str
    recorded_path: str
    template: str
    which: str = "object"  # or "first file": the first file entry of a directory listing


REPLAY_CASES = {
    "repository": ReplayCase(
        "Organization.testAttachDetachSecurityConfig.txt",
        "GET",
        "/repos/BeaverSoftware/test1",
        "/repos/{owner}/{repo}",
    ),
    "repository from template": ReplayCase(
        "Organization.testCreateRepoFromTemplate.txt",
        "POST",
        "/repos/actions/hello-world-docker-action/generate",
        "/repos/{template_owner}/{template_repo}/generate",
    ),
    "organization": ReplayCase(
        "Organization.setUp.txt", "GET", "/orgs/BeaverSoftware", "/orgs/{org}"
    ),
    "team": ReplayCase("Team.setUp.txt", "GET", "/teams/12345678", "/orgs/{org}/teams/{team_slug}"),
    "environment": ReplayCase(
        "Environment.testReviewers.txt",
        "GET",
        "/repos/alson/PyGithub/environments/dev",
        "/repos/{owner}/{repo}/environments/{environment_name}",
    ),
    "collaborator permission": ReplayCase(
        "Repository.testCollaboratorRoleName.txt",
        "GET",
        "/repos/PyGithub/PyGithub/collaborators/jacquev6/permission",
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
    ),
    "authenticated user": ReplayCase("Branch.setUp.txt", "GET", "/user", "/user"),
    "user": ReplayCase("NamedUser.setUp.txt", "GET", "/users/jacquev6", "/users/{username}"),
    "branch": ReplayCase(
        "BranchProtection.setUp.txt",
        "GET",
        "/repos/curvewise-forks/PyGithub/branches/master",
        "/repos/{owner}/{repo}/branches/{branch}",
    ),
    "branch protection": ReplayCase(
        "BranchProtection.setUp.txt",
        "GET",
        "/repos/curvewise-forks/PyGithub/branches/master/protection",
        "/repos/{owner}/{repo}/branches/{branch}/protection",
    ),
    "file contents": ReplayCase(
        "Repository.testGetContents.txt",
        "GET",
        "/repos/PyGithub/PyGithub/contents/doc/ReferenceOfClasses.md",
        "/repos/{owner}/{repo}/contents/{path}",
    ),
    "directory contents": ReplayCase(
        "Repository.testGetContentsDir.txt",
        "GET",
        "/repos/PyGithub/PyGithub/contents/",
        "/repos/{owner}/{repo}/contents/{path}",
        "first file",
    ),
    "file creation": ReplayCase(
        "Repository.testCreateFile.txt",
        "PUT",
        "/repos/PyGithub/PyGithub/contents/doc/testCreateUpdateDeleteFile.md",
        "/repos/{owner}/{repo}/contents/{path}",
    ),
    "topics": ReplayCase(
        "Repository.testGetTopics.txt",
        "GET",
        "/repos/PyGithub/PyGithub/topics",
        "/repos/{owner}/{repo}/topics",
    ),
}


def first_file(listing: Any) -> Any:
    """The first file entry of a directory listing, or None."""
    return (
        next((entry for entry in listing if entry.get("type") == "file"), None)
        if isinstance(listing, list)
        else None
    )


def fake_answer(calls: list[Call], method: str, template: str, which: str) -> dict[str, Any]:
    """A successful answer of the fake to the operation, from the scenarios' calls."""
    for call in calls:
        if (
            call.operation == (method, template)
            and call.status is not None
            and 200 <= call.status < 300
        ):
            answer = first_file(call.response_body) if which == "first file" else call.response_body
            if isinstance(answer, dict):
                return answer
    raise AssertionError(
        f"no scenario got a successful {method} {template} answer shaped as {which!r}"
    )


@pytest.mark.parametrize("case", sorted(REPLAY_CASES))
def test_fake_answers_have_the_fields_of_real_ones(
    case: str, replay_data: Path, scenario_calls: list[Call]
) -> None:
    replay = REPLAY_CASES[case]
    real = recorded(replay_data, replay.replay_file, replay.method, replay.recorded_path).body
    real = first_file(real) if replay.which == "first file" else real
    assert isinstance(real, dict), f"{replay.replay_file}: the recorded answer is not an object"
    fake = fake_answer(scenario_calls, replay.method, replay.template, replay.which)
    differences = shape_differences(real, fake)
    assert differences == [], f"{case} ({replay.replay_file}):\n" + "\n".join(differences)
