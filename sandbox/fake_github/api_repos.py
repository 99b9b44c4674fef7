"""Repository endpoints: repositories, contents, commits, topics, branches and protection.

Path parameters are named as in GitHub's OpenAPI description, so the route templates here
are the description's paths (the contract tests rely on it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.fake_github import render, render_git
from sandbox.fake_github.errors import NotFound
from sandbox.fake_github.payloads import (
    CreateRepository,
    DeleteContent,
    GenerateRepository,
    PutContent,
    ReplaceTopics,
    UpdateProtection,
    UpdateRepository,
)
from sandbox.fake_github.protection import PushRestrictions
from sandbox.fake_github.state import GitHubState
from sandbox.fake_github.web import BaseURL, State, github_json, no_content, paginate

router = APIRouter()


# -- repositories ---------------------------------------------------------------------------


@router.post("/orgs/{org}/repos")
async def create_repository(
    org: str, body: CreateRepository, state: State, base: BaseURL
) -> JSONResponse:
    """Create an organization repository (empty unless `auto_init`)."""
    with state.lock:
        repository = state.create_repository(
            org,
            body.name,
            description=body.description,
            homepage=body.homepage,
            visibility=body.visibility_or("public"),
            is_template=bool(body.is_template),
            auto_init=body.auto_init,
            settings=body.settings(),
            team_id=body.team_id,
        )
        return github_json(render.repository(state, repository, base), status_code=201)


@router.post("/repos/{template_owner}/{template_repo}/generate")
async def generate_repository(
    template_owner: str, template_repo: str, body: GenerateRepository, state: State, base: BaseURL
) -> JSONResponse:
    """Create a repository from a template, copying the template's files."""
    with state.lock:
        repository = state.generate_repository(
            template_owner,
            template_repo,
            owner=body.owner or state.authenticated_user().login,
            name=body.name,
            description=body.description,
            private=body.private,
            include_all_branches=body.include_all_branches,
        )
        return github_json(render.repository(state, repository, base), status_code=201)


@router.get("/repos/{owner}/{repo}")
async def get_repository(owner: str, repo: str, state: State, base: BaseURL) -> JSONResponse:
    """One repository, in full."""
    with state.lock:
        return github_json(render.repository(state, state.get_repository(owner, repo), base))


@router.get("/orgs/{org}/repos")
async def list_organization_repositories(
    org: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """An organization's repositories, filtered by `type`, ordered by `sort`/`direction`, paged."""
    params = request.query_params
    kind = params.get("type", "all")
    sort = params.get("sort", "created")
    direction = params.get("direction", "asc" if sort == "full_name" else "desc")
    with state.lock:
        state.get_organization(org)
        repositories = state.list_repositories(org)
        if kind == "public":
            repositories = [repo for repo in repositories if repo.visibility == "public"]
        elif kind == "private":
            repositories = [repo for repo in repositories if repo.private]
        elif kind == "forks":
            repositories = []  # the fake has no forks
        sort_keys = {
            "full_name": lambda repo: repo.full_name.lower(),
            "updated": lambda repo: (repo.updated_at, repo.id),
            "pushed": lambda repo: (repo.pushed_at, repo.id),
        }
        repositories.sort(
            key=sort_keys.get(sort, lambda repo: (repo.created_at, repo.id)),
            reverse=direction == "desc",
        )
        page, headers = paginate(request, repositories)
        return github_json(
            [render.repository(state, repo, base, full=False) for repo in page], headers=headers
        )


@router.patch("/repos/{owner}/{repo}")
async def update_repository(
    owner: str, repo: str, body: UpdateRepository, state: State, base: BaseURL
) -> JSONResponse:
    """Edit a repository: only the fields sent change."""
    with state.lock:
        repository = state.update_repository(owner, repo, body.changes())
        return github_json(render.repository(state, repository, base))


@router.delete("/repos/{owner}/{repo}")
async def delete_repository(owner: str, repo: str, state: State) -> Response:
    """Delete a repository."""
    state.delete_repository(owner, repo)
    return no_content()


# -- contents -------------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/contents/{path:path}")
async def get_content(
    owner: str, repo: str, path: str, state: State, base: BaseURL, ref: str | None = None
) -> JSONResponse:
    """A file (base64 content, blob sha) or a directory listing, at `ref` or the default branch."""
    path = path.strip("/")
    with state.lock:
        repository = state.get_repository(owner, repo)
        shown_ref = ref or repository.default_branch
        found = state.read_file(repository, path, ref)
        if found is not None:
            commit, data = found
            return github_json(
                render_git.content_file(repository, path, commit.files[path], data, shown_ref, base)
            )
        _, entries = state.read_directory(repository, path, ref)
        blobs = {
            entry.path: state.objects.blobs[entry.sha] for entry in entries if entry.type == "file"
        }
        return github_json(
            render_git.directory_entries(repository, entries, blobs, shown_ref, base)
        )


@router.put("/repos/{owner}/{repo}/contents/{path:path}")
async def put_content(
    owner: str, repo: str, path: str, body: PutContent, state: State, base: BaseURL
) -> JSONResponse:
    """Create a file (201) or update it (200, `sha` must be the current blob sha, else 409)."""
    path = path.strip("/")
    with state.lock:
        repository = state.get_repository(owner, repo)
        data = body.decoded()
        commit, created = state.write_file(
            repository,
            path,
            data,
            message=body.message,
            sha=body.sha,
            branch=body.branch,
            author=body.author_signature(),
            committer=body.committer_signature(),
        )
        branch = body.branch or repository.default_branch
        return github_json(
            render_git.file_commit(repository, commit, path, data, branch, base),
            status_code=201 if created else 200,
        )


@router.delete("/repos/{owner}/{repo}/contents/{path:path}")
async def delete_content(
    owner: str, repo: str, path: str, body: DeleteContent, state: State, base: BaseURL
) -> JSONResponse:
    """Delete a file (`sha` must be its current blob sha, else 409)."""
    path = path.strip("/")
    with state.lock:
        repository = state.get_repository(owner, repo)
        commit = state.delete_file(
            repository,
            path,
            message=body.message,
            sha=body.sha,
            branch=body.branch,
            author=body.author_signature(),
            committer=body.committer_signature(),
        )
        branch = body.branch or repository.default_branch
        return github_json(render_git.file_commit(repository, commit, path, None, branch, base))


# -- commits --------------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/commits")
async def list_commits(
    owner: str,
    repo: str,
    request: Request,
    state: State,
    base: BaseURL,
    sha: str | None = None,
    path: str | None = None,
    author: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> JSONResponse:
    """The commits reachable from `sha` (default branch), newest first, filtered by `path`,
    `author`, `since`/`until`, paged (409 on an empty repository, 404 on an unknown sha)."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        commits = state.list_commits(
            repository, sha=sha, path=path, author=author, since=since, until=until
        )
        page, headers = paginate(request, commits)
        return github_json(
            [render_git.listed_commit(state, repository, commit, base) for commit in page],
            headers=headers,
        )


# -- topics ---------------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/topics")
async def get_topics(owner: str, repo: str, state: State) -> JSONResponse:
    """A repository's topics."""
    with state.lock:
        return github_json({"names": list(state.get_repository(owner, repo).topics)})


@router.put("/repos/{owner}/{repo}/topics")
async def replace_topics(owner: str, repo: str, body: ReplaceTopics, state: State) -> JSONResponse:
    """Replace all of a repository's topics (GitHub's naming rules, else 422)."""
    with state.lock:
        return github_json(
            {"names": state.replace_topics(state.get_repository(owner, repo), body.names)}
        )


# -- branches and protection ----------------------------------------------------------------
# Protection routes come first: a branch name may contain slashes, so `{branch:path}`
# would otherwise swallow the `/protection...` suffixes.


@router.get("/repos/{owner}/{repo}/branches/{branch:path}/protection")
async def get_protection(
    owner: str, repo: str, branch: str, state: State, base: BaseURL
) -> JSONResponse:
    """A branch's protection (404 "Branch not protected" when it has none)."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        rules = state.get_protection(repository, branch)
        return github_json(render_git.protection(state, repository, branch, rules, base))


@router.put("/repos/{owner}/{repo}/branches/{branch:path}/protection")
async def update_protection(
    owner: str, repo: str, branch: str, body: UpdateProtection, state: State, base: BaseURL
) -> JSONResponse:
    """Replace a branch's protection with exactly what was sent."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        rules = state.set_protection(repository, branch, body.to_model())
        return github_json(render_git.protection(state, repository, branch, rules, base))


@router.delete("/repos/{owner}/{repo}/branches/{branch:path}/protection")
async def delete_protection(owner: str, repo: str, branch: str, state: State) -> Response:
    """Remove a branch's protection."""
    with state.lock:
        state.remove_protection(state.get_repository(owner, repo), branch)
        return no_content()


@router.get("/repos/{owner}/{repo}/branches/{branch:path}/protection/restrictions/users")
async def get_restricted_users(
    owner: str, repo: str, branch: str, state: State, base: BaseURL
) -> JSONResponse:
    """The users a protection lets push (PyGithub follows `restrictions.users_url` here)."""
    with state.lock:
        restrictions = _restrictions(state, owner, repo, branch)
        return github_json(
            [render.simple_user(state.get_user(login), base) for login in restrictions.users]
        )


@router.get("/repos/{owner}/{repo}/branches/{branch:path}/protection/restrictions/teams")
async def get_restricted_teams(
    owner: str, repo: str, branch: str, state: State, base: BaseURL
) -> JSONResponse:
    """The teams a protection lets push (PyGithub follows `restrictions.teams_url` here)."""
    with state.lock:
        restrictions = _restrictions(state, owner, repo, branch)
        repository = state.get_repository(owner, repo)
        return github_json(
            [
                render.team(state, state.get_team(repository.owner, slug), base)
                for slug in restrictions.teams
            ]
        )


def _restrictions(state: GitHubState, owner: str, repo: str, branch: str) -> PushRestrictions:
    restrictions = state.get_protection(state.get_repository(owner, repo), branch).restrictions
    if restrictions is None:
        raise NotFound("Push restrictions not enabled")
    return restrictions


@router.get("/repos/{owner}/{repo}/branches")
async def list_branches(
    owner: str, repo: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """A repository's branches, by name, paged (`protected=true|false` filters)."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        names = sorted(repository.branches)
        wanted = request.query_params.get("protected")
        if wanted in ("true", "false"):
            names = [
                name for name in names if (name in repository.protections) == (wanted == "true")
            ]
        page, headers = paginate(request, names)
        return github_json(
            [
                render_git.short_branch(repository, name, state.get_branch(repository, name), base)
                for name in page
            ],
            headers=headers,
        )


@router.get("/repos/{owner}/{repo}/branches/{branch:path}")
async def get_branch(
    owner: str, repo: str, branch: str, state: State, base: BaseURL
) -> JSONResponse:
    """One branch with its head commit and protection summary."""
    with state.lock:
        repository = state.get_repository(owner, repo)
        commit = state.get_branch(repository, branch)
        return github_json(render_git.branch(state, repository, branch, commit, base))
