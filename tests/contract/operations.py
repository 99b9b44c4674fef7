"""The operations the fake GitHub serves: the one list the contract tests check it against.

Keys are (method, path template of GitHub's OpenAPI description); values are GitHub's
operationId. The fake's route templates use the description's parameter names, so a route
and its operation share the template (`{path:path}` converters aside).
`test_every_route_of_the_fake_is_in_the_contract` fails when a route is added without
being listed here, and every operation listed must be exercised by the scenarios.
"""

from __future__ import annotations

CONTRACT_OPERATIONS: dict[tuple[str, str], str] = {
    # accounts
    ("GET", "/user"): "users/get-authenticated",
    ("GET", "/users/{username}"): "users/get-by-username",
    ("GET", "/orgs/{org}"): "orgs/get",
    ("GET", "/orgs/{org}/members"): "orgs/list-members",
    # repositories
    ("POST", "/orgs/{org}/repos"): "repos/create-in-org",
    ("GET", "/orgs/{org}/repos"): "repos/list-for-org",
    ("POST", "/repos/{template_owner}/{template_repo}/generate"): "repos/create-using-template",
    ("GET", "/repos/{owner}/{repo}"): "repos/get",
    ("PATCH", "/repos/{owner}/{repo}"): "repos/update",
    ("DELETE", "/repos/{owner}/{repo}"): "repos/delete",
    # contents
    ("GET", "/repos/{owner}/{repo}/contents/{path}"): "repos/get-content",
    ("PUT", "/repos/{owner}/{repo}/contents/{path}"): "repos/create-or-update-file-contents",
    ("DELETE", "/repos/{owner}/{repo}/contents/{path}"): "repos/delete-file",
    # commits
    ("GET", "/repos/{owner}/{repo}/commits"): "repos/list-commits",
    # topics
    ("GET", "/repos/{owner}/{repo}/topics"): "repos/get-all-topics",
    ("PUT", "/repos/{owner}/{repo}/topics"): "repos/replace-all-topics",
    # branches and protection
    ("GET", "/repos/{owner}/{repo}/branches"): "repos/list-branches",
    ("GET", "/repos/{owner}/{repo}/branches/{branch}"): "repos/get-branch",
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection"): "repos/get-branch-protection",
    ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection"): "repos/update-branch-protection",
    (
        "DELETE",
        "/repos/{owner}/{repo}/branches/{branch}/protection",
    ): "repos/delete-branch-protection",
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection/restrictions/users"): (
        "repos/get-users-with-access-to-protected-branch"
    ),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection/restrictions/teams"): (
        "repos/get-teams-with-access-to-protected-branch"
    ),
    # teams
    ("GET", "/orgs/{org}/teams"): "teams/list",
    ("GET", "/orgs/{org}/teams/{team_slug}"): "teams/get-by-name",
    ("GET", "/orgs/{org}/teams/{team_slug}/members"): "teams/list-members-in-org",
    (
        "GET",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
    ): "teams/get-membership-for-user-in-org",
    (
        "PUT",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
    ): "teams/add-or-update-membership-for-user-in-org",
    (
        "DELETE",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
    ): "teams/remove-membership-for-user-in-org",
    ("GET", "/orgs/{org}/teams/{team_slug}/repos"): "teams/list-repos-in-org",
    (
        "GET",
        "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
    ): "teams/check-permissions-for-repo-in-org",
    (
        "PUT",
        "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
    ): "teams/add-or-update-repo-permissions-in-org",
    ("DELETE", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}"): "teams/remove-repo-in-org",
    # collaborators
    ("GET", "/repos/{owner}/{repo}/collaborators"): "repos/list-collaborators",
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}"): "repos/check-collaborator",
    ("PUT", "/repos/{owner}/{repo}/collaborators/{username}"): "repos/add-collaborator",
    ("DELETE", "/repos/{owner}/{repo}/collaborators/{username}"): "repos/remove-collaborator",
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"): (
        "repos/get-collaborator-permission-level"
    ),
    # deployment environments
    ("GET", "/repos/{owner}/{repo}/environments"): "repos/get-all-environments",
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}"): "repos/get-environment",
    ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}"): (
        "repos/create-or-update-environment"
    ),
    ("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}"): (
        "repos/delete-an-environment"
    ),
}


def operation_id(method: str, template: str) -> str:
    """A readable test id for one operation."""
    return f"{method} {template}"
