"""Account and team endpoints: organizations, users, teams, memberships, team repositories.

Teams are addressed by slug here; the id-based paths GitHub puts in a team's `url`
(`/organizations/{org_id}/team/{team_id}/...`) are rewritten to these by `paths.py`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.fake_github import render
from sandbox.fake_github.errors import BadCredentials, ValidationFailed, field_error
from sandbox.fake_github.payloads import UpdateMembership, UpdateTeamRepository
from sandbox.fake_github.state import BOT_LOGIN
from sandbox.fake_github.web import (
    BaseURL,
    IdentityConfig,
    State,
    github_json,
    no_content,
    paginate,
)

router = APIRouter()

# The media type that asks the team repository check for a body instead of a bare 204.
REPOSITORY_MEDIA_TYPE = "application/vnd.github.v3.repository+json"


def _token(request: Request) -> str:
    # PyGithub sends `token X`, most other clients `Bearer X`: GitHub takes both.
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() in ("token", "bearer") else ""


@router.get("/user")
async def get_authenticated_user(
    request: Request, state: State, base: BaseURL, identity: IdentityConfig
) -> JSONResponse:
    """The token's user: the person a personal token belongs to, the bot Paved acts as for
    the app's tokens, and 401 Bad credentials for any other token.

    Only this route tells tokens apart: the others serve any token as the bot, so the
    tests' and the stack's blocks need no registered token to call them.
    """
    token = _token(request)
    with state.lock:
        if token in identity.app_tokens:
            return github_json(render.private_user(state, state.authenticated_user(), base))
        logins = [user.login for user in state.users.values() if user.login != BOT_LOGIN]
        login = identity.login_of(token, logins)
        if login is None:
            raise BadCredentials()
        return github_json(render.private_user(state, state.get_user(login), base))


@router.get("/users/{username}")
async def get_user(username: str, state: State, base: BaseURL) -> JSONResponse:
    """A user (or an organization, which GitHub also serves here)."""
    with state.lock:
        return github_json(render.public_user(state, state.get_account(username), base))


@router.get("/orgs/{org}")
async def get_organization(org: str, state: State, base: BaseURL) -> JSONResponse:
    """An organization."""
    with state.lock:
        return github_json(render.organization(state, state.get_organization(org), base))


@router.get("/orgs/{org}/members")
async def list_organization_members(
    org: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """An organization's members by login, paged (`role=all|admin|member`)."""
    role = request.query_params.get("role", "all")
    if role not in ("all", "admin", "member"):
        raise ValidationFailed(errors=[field_error("Member", "role", "invalid")])
    with state.lock:
        members = state.organization_members(org, role=role)
        page, headers = paginate(request, members)
        return github_json([render.simple_user(user, base) for user in page], headers=headers)


@router.get("/orgs/{org}/teams")
async def list_teams(org: str, request: Request, state: State, base: BaseURL) -> JSONResponse:
    """An organization's teams, paged."""
    with state.lock:
        page, headers = paginate(request, state.list_teams(org))
        return github_json([render.team(state, team, base) for team in page], headers=headers)


@router.get("/orgs/{org}/teams/{team_slug}")
async def get_team(org: str, team_slug: str, state: State, base: BaseURL) -> JSONResponse:
    """A team, in full."""
    with state.lock:
        return github_json(render.team(state, state.get_team(org, team_slug), base, full=True))


@router.get("/orgs/{org}/teams/{team_slug}/members")
async def list_team_members(
    org: str, team_slug: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """A team's members, paged (`role=member|maintainer|all`; `member` leaves maintainers out)."""
    role = request.query_params.get("role", "all")
    if role not in ("member", "maintainer", "all"):
        raise ValidationFailed(errors=[field_error("TeamMember", "role", "invalid")])
    with state.lock:
        team = state.get_team(org, team_slug)
        logins = [
            login for login, member_role in team.members.items() if role in ("all", member_role)
        ]
        page, headers = paginate(request, logins)
        return github_json(
            [render.simple_user(state.get_user(login), base) for login in page], headers=headers
        )


@router.get("/orgs/{org}/teams/{team_slug}/memberships/{username}")
async def get_membership(
    org: str, team_slug: str, username: str, state: State, base: BaseURL
) -> JSONResponse:
    """A user's membership of a team (404 when not a member)."""
    with state.lock:
        team = state.get_team(org, team_slug)
        user, role = state.membership(team, username)
        return github_json(render.membership(state, team, user.login, role, base))


@router.put("/orgs/{org}/teams/{team_slug}/memberships/{username}")
async def put_membership(
    org: str,
    team_slug: str,
    username: str,
    state: State,
    base: BaseURL,
    body: UpdateMembership | None = None,
) -> JSONResponse:
    """Add a user to a team, or change their role."""
    with state.lock:
        team = state.get_team(org, team_slug)
        role = state.set_membership(team, username, (body or UpdateMembership()).role)
        return github_json(
            render.membership(state, team, state.get_user(username).login, role, base)
        )


@router.delete("/orgs/{org}/teams/{team_slug}/memberships/{username}")
async def delete_membership(org: str, team_slug: str, username: str, state: State) -> Response:
    """Remove a user from a team."""
    with state.lock:
        state.remove_membership(state.get_team(org, team_slug), username)
        return no_content()


@router.get("/orgs/{org}/teams/{team_slug}/repos")
async def list_team_repositories(
    org: str, team_slug: str, request: Request, state: State, base: BaseURL
) -> JSONResponse:
    """The repositories a team can access, each with the team's permissions, paged."""
    with state.lock:
        page, headers = paginate(request, state.team_repositories(state.get_team(org, team_slug)))
        return github_json(
            [
                render.repository(state, repo, base, permission=permission, full=False)
                for repo, permission in page
            ],
            headers=headers,
        )


@router.get("/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}")
async def check_team_repository(
    org: str, team_slug: str, owner: str, repo: str, request: Request, state: State, base: BaseURL
) -> Response:
    """Whether a team can access a repository: 204, or 200 with the repository and the
    team's permissions when the repository media type is asked for; 404 when it cannot."""
    with state.lock:
        repository, permission = state.team_permission(state.get_team(org, team_slug), owner, repo)
        if REPOSITORY_MEDIA_TYPE in request.headers.get("accept", ""):
            return github_json(
                render.repository(state, repository, base, permission=permission, full=False)
            )
        return no_content()


@router.put("/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}")
async def put_team_repository(
    org: str,
    team_slug: str,
    owner: str,
    repo: str,
    state: State,
    body: UpdateTeamRepository | None = None,
) -> Response:
    """Grant a team a permission on a repository (pull, triage, push, maintain or admin)."""
    with state.lock:
        team = state.get_team(org, team_slug)
        state.set_team_permission(team, owner, repo, (body or UpdateTeamRepository()).permission)
        return no_content()


@router.delete("/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}")
async def delete_team_repository(
    org: str, team_slug: str, owner: str, repo: str, state: State
) -> Response:
    """Take a team's access to a repository away."""
    with state.lock:
        state.remove_team_permission(state.get_team(org, team_slug), owner, repo)
        return no_content()
