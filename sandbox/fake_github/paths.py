"""Id-based team paths, mapped onto the slug-based ones the routes serve.

GitHub gives a team the `url` `/organizations/{org_id}/team/{team_id}` and PyGithub builds
follow-up calls from it (`Team.add_membership` PUTs `{team.url}/memberships/{user}`). The
older `/teams/{team_id}` form (`Organization.get_team(id)`) is the same resource. Both are
rewritten to `/orgs/{org}/teams/{team_slug}/...` before routing, so each operation has one
handler; the contract tests validate such calls against the slug-based operation too.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.fake_github.errors import NotFound
from sandbox.fake_github.state import GitHubState

_BY_ORGANIZATION_ID = re.compile(
    r"/organizations/(?P<org_id>\d+)/team/(?P<team_id>\d+)(?P<rest>/.*)?"
)
_BY_TEAM_ID = re.compile(r"/teams/(?P<team_id>\d+)(?P<rest>/.*)?")


def canonical_path(state: GitHubState, path: str) -> str:
    """`path` with an id-based team prefix replaced by `/orgs/{org}/teams/{team_slug}`;
    other paths (and ids that name no team) come back unchanged."""
    match = _BY_ORGANIZATION_ID.fullmatch(path) or _BY_TEAM_ID.fullmatch(path)
    if match is None:
        return path
    try:
        team = state.team_by_id(int(match["team_id"]))
        organization = state.get_organization(team.organization)
    except NotFound:
        return path
    if "org_id" in match.groupdict() and int(match["org_id"]) != organization.id:
        return path
    return f"/orgs/{organization.login}/teams/{team.slug}{match['rest'] or ''}"


class CanonicalPathMiddleware:
    """ASGI layer routing id-based team paths to the slug-based handlers."""

    def __init__(self, app: ASGIApp, state: GitHubState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = canonical_path(self.state, scope["path"])
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)
