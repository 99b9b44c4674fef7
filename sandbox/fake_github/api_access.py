"""Repository access endpoints: collaborators and deployment environments.

Path parameters are named as in GitHub's OpenAPI description (the contract tests rely on
it). Adding a collaborator answers 204 and takes effect at once: GitHub does that for
members of the organization, and every person of the fake is one (no invitations).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.fake_github import render
from sandbox.fake_github.errors import NotFound
from sandbox.fake_github.payloads import AddCollaborator, PutEnvironment
from sandbox.fake_github.web import BaseURL, State, github_json, no_content, paginate

router = APIRouter()


# -- collaborators --------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/collaborators")
async def list_collaborators(
    owner: str, repo: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """People with access (`affiliation=outside|direct|all`, `permission=` filter), paged."""
    params = request.query_params
    with state.lock:
        repository = state.get_repository(owner, repo)
        people = state.list_collaborators(
            repository, params.get("affiliation", "all"), params.get("permission")
        )
        page, headers = paginate(request, people)
        return github_json(
            [render.collaborator(user, permission, base) for user, permission in page],
            headers=headers,
        )


@router.get("/repos/{owner}/{repo}/collaborators/{username}")
async def check_collaborator(owner: str, repo: str, username: str, state: State) -> Response:
    """204 when the person has access to the repository, 404 otherwise."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        if state.effective_permission(repository, username) is None:
            raise NotFound()
        return no_content()


@router.put("/repos/{owner}/{repo}/collaborators/{username}")
async def add_collaborator(
    owner: str, repo: str, username: str, state: State, body: AddCollaborator | None = None
) -> Response:
    """Give the person `permission` directly (or change it): 204, effective at once."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        state.add_collaborator(repository, username, (body or AddCollaborator()).permission)
        return no_content()


@router.delete("/repos/{owner}/{repo}/collaborators/{username}")
async def remove_collaborator(owner: str, repo: str, username: str, state: State) -> Response:
    """Take the person's direct access away (their teams' access stays)."""
    with state.lock:
        state.remove_collaborator(state.get_repository(owner, repo), username)
        return no_content()


@router.get("/repos/{owner}/{repo}/collaborators/{username}/permission")
async def get_collaborator_permission(
    owner: str, repo: str, username: str, state: State, base: BaseURL
) -> JSONResponse:
    """The person's highest permission (`permission` in the old names, `role_name`)."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        user = state.get_user(username)
        permission = state.effective_permission(repository, user.login)
        return github_json(render.collaborator_permission(user, permission, base))


# -- environments ---------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/environments")
async def list_environments(
    owner: str, repo: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """A repository's environments, paged, with their `total_count`."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        environments = state.list_environments(repository)
        page, headers = paginate(request, environments)
        return github_json(
            {
                "total_count": len(environments),
                "environments": [render.environment(state, repository, env, base) for env in page],
            },
            headers=headers,
        )


@router.get("/repos/{owner}/{repo}/environments/{environment_name}")
async def get_environment(
    owner: str, repo: str, environment_name: str, state: State, base: BaseURL
) -> JSONResponse:
    """One environment with its protection rules (404 when there is none)."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        environment = state.get_environment(repository, environment_name)
        return github_json(render.environment(state, repository, environment, base))


@router.put("/repos/{owner}/{repo}/environments/{environment_name}")
async def put_environment(
    owner: str,
    repo: str,
    environment_name: str,
    state: State,
    base: BaseURL,
    body: PutEnvironment | None = None,
) -> JSONResponse:
    """Create an environment or update it with the fields sent (200 either way)."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        environment = state.put_environment(
            repository, environment_name, (body or PutEnvironment()).changes()
        )
        return github_json(render.environment(state, repository, environment, base))


@router.delete("/repos/{owner}/{repo}/environments/{environment_name}")
async def delete_environment(
    owner: str, repo: str, environment_name: str, state: State
) -> Response:
    """Delete an environment (404 when there is none)."""
    with state.lock:
        state.delete_environment(state.get_repository(owner, repo), environment_name)
        return no_content()
