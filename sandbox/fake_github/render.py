"""GitHub-shaped JSON for the fake's objects.

Every URL is built from `base`, the root the client called (scheme and Host of the
request): PyGithub follows `url` fields and checks they share its base URL. The field sets
follow GitHub's OpenAPI schemas (their required fields at least) and recorded real
responses; the contract tests hold both against what this module produces.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sandbox.fake_github.models import (
    ORGANIZATION,
    ROLE_NAMES,
    Environment,
    Organization,
    Repository,
    Team,
    User,
    node_id,
    permission_flags,
)
from sandbox.fake_github.state import GitHubState

JSON = dict[str, Any]


# -- accounts -------------------------------------------------------------------------------


def simple_user(account: User | Organization, base: str) -> JSON:
    """GitHub's `simple-user`: the short form of a user or organization inside other objects."""
    api = f"{base}/users/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("U" if account.type != ORGANIZATION else "O", account.id),
        "avatar_url": f"{base}/avatars/u/{account.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{base}/{account.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def public_user(state: GitHubState, account: User | Organization, base: str) -> JSON:
    """`GET /users/{username}`: GitHub's `public-user` (organizations answer too, as on GitHub)."""
    with state.lock:
        owned = [repo for repo in state.repositories.values() if repo.owner == account.login]
    return {
        **simple_user(account, base),
        "name": account.name,
        # Empty rather than null: real answers carry these, and clients then see one type.
        "company": "",
        "blog": "",
        "location": "",
        "email": account.email if isinstance(account, User) else None,
        "hireable": False,
        "bio": "",
        "twitter_username": None,
        "public_repos": sum(1 for repo in owned if not repo.private),
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": account.created_at,
        "updated_at": account.created_at,
    }


def private_user(state: GitHubState, user: User, base: str) -> JSON:
    """`GET /user`: GitHub's `private-user`, the token's own account with its private counts."""
    return {
        **public_user(state, user, base),
        # GitHub's description tells the two user shapes apart by this field.
        "user_view_type": "private",
        "notification_email": user.email,
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    }


def organization(state: GitHubState, org: Organization, base: str) -> JSON:
    """`GET /orgs/{org}`: GitHub's `organization-full`."""
    api = f"{base}/orgs/{org.login}"
    with state.lock:
        owned = [repo for repo in state.repositories.values() if repo.owner == org.login]
    private_count = sum(1 for repo in owned if repo.private)
    return {
        "login": org.login,
        "id": org.id,
        "node_id": node_id("O", org.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{base}/avatars/u/{org.id}?v=4",
        "description": "",
        "name": org.name,
        # GitHub sends null for these when unset, but its description types them as
        # (email-formatted) strings; these values satisfy the description and every client.
        "company": "",
        "blog": "",
        "location": "",
        "email": f"{org.login.lower()}@users.noreply.github.com",
        "twitter_username": None,
        "is_verified": False,
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": len(owned) - private_count,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "html_url": f"{base}/{org.login}",
        "created_at": org.created_at,
        "updated_at": org.created_at,
        "archived_at": None,
        "type": ORGANIZATION,
        "total_private_repos": private_count,
        "owned_private_repos": private_count,
        "private_gists": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "billing_email": f"{org.login.lower()}@users.noreply.github.com",
        "default_repository_permission": "none",
        "members_can_create_repositories": False,
        "two_factor_requirement_enabled": True,
        "members_allowed_repository_creation_type": "none",
        "members_can_create_public_repositories": False,
        "members_can_create_private_repositories": False,
        "members_can_create_internal_repositories": False,
        "members_can_create_pages": False,
        "members_can_create_public_pages": False,
        "members_can_create_private_pages": False,
        "members_can_fork_private_repositories": False,
        "web_commit_signoff_required": False,
        "deploy_keys_enabled_for_repositories": True,
        "plan": {
            "name": "enterprise",
            "space": 976562499,
            "private_repos": 999999,
            "filled_seats": 0,
            "seats": 0,
        },
    }


# -- repositories ---------------------------------------------------------------------------


def repository(
    state: GitHubState,
    repo: Repository,
    base: str,
    *,
    permission: str = "admin",
    full: bool = True,
) -> JSON:
    """A repository as GitHub's `full-repository` (`full`) or as the items of its lists.

    `permission` is the caller's access, rendered as `permissions`: the bot is an owner of
    the organization (admin); a team's listing passes the team's permission instead.
    """
    with state.lock:
        owner = state.get_account(repo.owner)
        template = state.template_of(repo) if full else None
        api = f"{base}/repos/{repo.full_name}"
        html = f"{base}/{repo.full_name}"
        host = base.split("://", 1)[-1]
        body: JSON = {
            "id": repo.id,
            "node_id": node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": simple_user(owner, base),
            "html_url": html,
            "description": repo.description,
            "fork": False,
            "url": api,
            **_repository_urls(api),
            "created_at": repo.created_at,
            "updated_at": repo.updated_at,
            "pushed_at": repo.pushed_at,
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            "homepage": repo.homepage,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": repo.settings["has_issues"],
            "has_projects": repo.settings["has_projects"],
            "has_downloads": repo.settings["has_downloads"],
            "has_wiki": repo.settings["has_wiki"],
            "has_pages": False,
            "has_discussions": repo.settings["has_discussions"],
            "forks_count": 0,
            "mirror_url": None,
            "archived": repo.archived,
            "disabled": False,
            "open_issues_count": 0,
            "license": None,
            "allow_forking": repo.settings["allow_forking"],
            "is_template": repo.is_template,
            "web_commit_signoff_required": repo.settings["web_commit_signoff_required"],
            "topics": list(repo.topics),
            "visibility": repo.visibility,
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "permissions": permission_flags(permission),
            "role_name": ROLE_NAMES[permission],
            "temp_clone_token": "",
            **{key: value for key, value in repo.settings.items() if key not in _RENDERED_SETTINGS},
            "custom_properties": {},
        }
        if full:
            if owner.type == ORGANIZATION:
                body["organization"] = simple_user(owner, base)
            body["template_repository"] = (
                None if template is None else repository(state, template, base, full=False)
            )
            body["security_and_analysis"] = None
            body["network_count"] = 0
            body["subscribers_count"] = 0
        return body


# Settings already rendered among the fields above (the rest are appended as they are).
_RENDERED_SETTINGS = {
    "has_issues",
    "has_projects",
    "has_downloads",
    "has_wiki",
    "has_discussions",
    "allow_forking",
    "web_commit_signoff_required",
}


def _repository_urls(api: str) -> JSON:
    return {
        "forks_url": f"{api}/forks",
        "keys_url": f"{api}/keys{{/key_id}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "teams_url": f"{api}/teams",
        "hooks_url": f"{api}/hooks",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "events_url": f"{api}/events",
        "assignees_url": f"{api}/assignees{{/user}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "tags_url": f"{api}/tags",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "languages_url": f"{api}/languages",
        "stargazers_url": f"{api}/stargazers",
        "contributors_url": f"{api}/contributors",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "comments_url": f"{api}/comments{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "merges_url": f"{api}/merges",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{api}/downloads",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "labels_url": f"{api}/labels{{/name}}",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
    }


# -- teams ----------------------------------------------------------------------------------


def team_url(state: GitHubState, team_: Team, base: str) -> str:
    """A team's API `url`, in the id-based form GitHub gives (`/organizations/{id}/team/{id}`)."""
    return f"{base}/organizations/{state.get_organization(team_.organization).id}/team/{team_.id}"


def team(state: GitHubState, team_: Team, base: str, *, full: bool = False) -> JSON:
    """A team: GitHub's `team` (lists, nested) or `team-full` (`GET .../teams/{team_slug}`)."""
    with state.lock:
        org = state.get_organization(team_.organization)
        api = team_url(state, team_, base)
        body: JSON = {
            "name": team_.name,
            "id": team_.id,
            "node_id": node_id("T", team_.id),
            "slug": team_.slug,
            "description": team_.description,
            "privacy": team_.privacy,
            "notification_setting": "notifications_enabled",
            "url": api,
            "html_url": f"{base}/orgs/{org.login}/teams/{team_.slug}",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
            "permission": "pull",
            "parent": None,
            "type": "organization",
            "organization_id": org.id,
        }
        if full:
            body.update(
                {
                    "created_at": team_.created_at,
                    "updated_at": team_.updated_at,
                    "members_count": len(team_.members),
                    "repos_count": len(state.team_repositories(team_)),
                    "organization": organization(state, org, base),
                }
            )
        return body


def membership(state: GitHubState, team_: Team, login: str, role: str, base: str) -> JSON:
    """A team membership (`team-membership`)."""
    return {
        "url": f"{team_url(state, team_, base)}/memberships/{login}",
        "role": role,
        "state": "active",
    }


# -- collaborators --------------------------------------------------------------------------

# The older permission names GitHub still answers in `permission` (role_name is the new one).
LEGACY_PERMISSIONS = {
    "admin": "admin",
    "maintain": "write",
    "push": "write",
    "triage": "read",
    "pull": "read",
}


def collaborator(user: User, permission: str | None, base: str) -> JSON:
    """GitHub's `collaborator`: a user with their permissions on a repository."""
    flags = (
        permission_flags(permission)
        if permission is not None
        else dict.fromkeys(("admin", "maintain", "push", "triage", "pull"), False)
    )
    return {
        **simple_user(user, base),
        "name": user.name,
        "email": user.email,
        "permissions": flags,
        "role_name": ROLE_NAMES[permission] if permission is not None else "none",
    }


def collaborator_permission(user: User, permission: str | None, base: str) -> JSON:
    """`GET .../collaborators/{username}/permission`: `repository-collaborator-permission`
    (`none` for a person without access)."""
    return {
        "permission": LEGACY_PERMISSIONS[permission] if permission is not None else "none",
        "role_name": ROLE_NAMES[permission] if permission is not None else "none",
        "user": collaborator(user, permission, base),
    }


# -- environments ---------------------------------------------------------------------------


def environment(state: GitHubState, repo: Repository, env: Environment, base: str) -> JSON:
    """GitHub's `environment`, its protection rules in GitHub's order (branch policy,
    required reviewers, wait timer), each reviewer as the user or team it is."""
    with state.lock:
        api = f"{base}/repos/{repo.full_name}/environments/{quote(env.name, safe='')}"
        rules: list[JSON] = []
        if env.branch_policy is not None:
            rule_id = env.rule_ids["branch_policy"]
            rules.append(
                {"id": rule_id, "node_id": node_id("GA", rule_id), "type": "branch_policy"}
            )
        if env.reviewers:
            rule_id = env.rule_ids["required_reviewers"]
            rules.append(
                {
                    "id": rule_id,
                    "node_id": node_id("GA", rule_id),
                    "prevent_self_review": env.prevent_self_review,
                    "type": "required_reviewers",
                    "reviewers": [
                        {"type": kind, "reviewer": _reviewer(state, kind, reviewer_id, base)}
                        for kind, reviewer_id in env.reviewers
                    ],
                }
            )
        if env.wait_timer:
            rule_id = env.rule_ids["wait_timer"]
            rules.append(
                {
                    "id": rule_id,
                    "node_id": node_id("GA", rule_id),
                    "type": "wait_timer",
                    "wait_timer": env.wait_timer,
                }
            )
        policy = env.branch_policy
        return {
            "id": env.id,
            "node_id": node_id("EN", env.id),
            "name": env.name,
            "url": api,
            "html_url": (
                f"{base}/{repo.full_name}/deployments/activity_log"
                f"?environments_filter={quote(env.name, safe='')}"
            ),
            "created_at": env.created_at,
            "updated_at": env.updated_at,
            "protection_rules": rules,
            "deployment_branch_policy": None
            if policy is None
            else {"protected_branches": policy[0], "custom_branch_policies": policy[1]},
        }


def _reviewer(state: GitHubState, kind: str, reviewer_id: int, base: str) -> JSON:
    if kind == "Team":
        return team(state, state.team_by_id(reviewer_id), base)
    user = state.user_by_id(reviewer_id)
    assert user is not None, "reviewers are checked when the environment is written"
    return simple_user(user, base)
