"""GitHub-shaped JSON for git things: contents, commits, branches and branch protection.

As in `render`, every URL is built from `base`, the root the client called.
"""

from __future__ import annotations

import base64
import textwrap
from urllib.parse import quote

from sandbox.fake_github.git import Commit, DirectoryEntry, Signature
from sandbox.fake_github.models import Repository, node_id
from sandbox.fake_github.protection import TOGGLES, BranchProtection
from sandbox.fake_github.render import JSON, simple_user, team
from sandbox.fake_github.state import BOT_LOGIN, GitHubState

# -- contents -------------------------------------------------------------------------------


def content_file(
    repo: Repository,
    path: str,
    sha: str,
    data: bytes,
    ref: str,
    base: str,
    *,
    with_content: bool = True,
) -> JSON:
    """A file of the contents API (`content-file`); without `content` inside commit answers."""
    links = _content_links(repo, path, ref, base, git_kind="blobs", sha=sha, html_kind="blob")
    body: JSON = {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(data),
        "url": links["self"],
        "html_url": links["html"],
        "git_url": links["git"],
        "download_url": f"{base}/{repo.full_name}/raw/{quote(ref)}/{quote(path)}",
        "type": "file",
        "_links": links,
    }
    if with_content:
        # GitHub wraps base64 content at 60 characters, with a trailing newline.
        encoded = base64.b64encode(data).decode()
        body["content"] = (
            "".join(line + "\n" for line in textwrap.wrap(encoded, 60)) if encoded else ""
        )
        body["encoding"] = "base64"
    return body


def directory_entries(
    repo: Repository, entries: list[DirectoryEntry], data: dict[str, bytes], ref: str, base: str
) -> list[JSON]:
    """A directory listing of the contents API (`content-directory`)."""
    listing = []
    for entry in entries:
        if entry.type == "file":
            listing.append(
                content_file(
                    repo, entry.path, entry.sha, data[entry.path], ref, base, with_content=False
                )
            )
            continue
        links = _content_links(
            repo, entry.path, ref, base, git_kind="trees", sha=entry.sha, html_kind="tree"
        )
        listing.append(
            {
                "name": entry.name,
                "path": entry.path,
                "sha": entry.sha,
                "size": 0,
                "url": links["self"],
                "html_url": links["html"],
                "git_url": links["git"],
                "download_url": None,
                "type": "dir",
                "_links": links,
            }
        )
    return listing


def _content_links(
    repo: Repository, path: str, ref: str, base: str, *, git_kind: str, sha: str, html_kind: str
) -> JSON:
    api = f"{base}/repos/{repo.full_name}"
    return {
        "self": f"{api}/contents/{quote(path)}?ref={quote(ref, safe='')}",
        "git": f"{api}/git/{git_kind}/{sha}",
        "html": f"{base}/{repo.full_name}/{html_kind}/{quote(ref)}/{quote(path)}",
    }


def git_commit(repo: Repository, commit: Commit, base: str) -> JSON:
    """The git commit object of a contents write (`file-commit.commit`)."""
    api = f"{base}/repos/{repo.full_name}"
    return {
        "sha": commit.sha,
        "node_id": node_id("C", int(commit.sha[:8], 16)),
        "url": f"{api}/git/commits/{commit.sha}",
        "html_url": f"{base}/{repo.full_name}/commit/{commit.sha}",
        "author": _signature(commit.author),
        "committer": _signature(commit.committer),
        "tree": {"sha": commit.tree_sha, "url": f"{api}/git/trees/{commit.tree_sha}"},
        "message": commit.message,
        "parents": [
            {
                "url": f"{api}/git/commits/{parent}",
                "html_url": f"{base}/{repo.full_name}/commit/{parent}",
                "sha": parent,
            }
            for parent in commit.parents
        ],
        "verification": _unsigned(),
    }


def file_commit(
    repo: Repository, commit: Commit, path: str, data: bytes | None, ref: str, base: str
) -> JSON:
    """The answer to a contents write (`file-commit`); `data` None after a delete."""
    content = None
    if data is not None:
        content = content_file(repo, path, commit.files[path], data, ref, base, with_content=False)
    return {"content": content, "commit": git_commit(repo, commit, base)}


def _signature(signature: Signature) -> JSON:
    return {"name": signature.name, "email": signature.email, "date": signature.date}


def _unsigned() -> JSON:
    return {
        "verified": False,
        "reason": "unsigned",
        "signature": None,
        "payload": None,
        "verified_at": None,
    }


# -- commits --------------------------------------------------------------------------------


def commit_item(
    repo: Repository, commit: Commit, author: JSON | None, committer: JSON | None, base: str
) -> JSON:
    """A commit as the commits API and a branch's head show it (`commit`, without the
    `stats` and `files` of a single-commit read); `author`/`committer` are the GitHub users
    the signatures belong to, None when no user has their email."""
    api = f"{base}/repos/{repo.full_name}"
    return {
        "sha": commit.sha,
        "node_id": node_id("C", int(commit.sha[:8], 16)),
        "commit": {
            "author": _signature(commit.author),
            "committer": _signature(commit.committer),
            "message": commit.message,
            "tree": {"sha": commit.tree_sha, "url": f"{api}/git/trees/{commit.tree_sha}"},
            "url": f"{api}/git/commits/{commit.sha}",
            "comment_count": 0,
            "verification": _unsigned(),
        },
        "url": f"{api}/commits/{commit.sha}",
        "html_url": f"{base}/{repo.full_name}/commit/{commit.sha}",
        "comments_url": f"{api}/commits/{commit.sha}/comments",
        "author": author,
        "committer": committer,
        "parents": [
            {
                "sha": parent,
                "url": f"{api}/commits/{parent}",
                "html_url": f"{base}/{repo.full_name}/commit/{parent}",
            }
            for parent in commit.parents
        ],
    }


def listed_commit(state: GitHubState, repo: Repository, commit: Commit, base: str) -> JSON:
    """An item of `GET .../commits`, its signatures tied to users by email as GitHub does."""
    author = state.user_by_email(commit.author.email)
    committer = state.user_by_email(commit.committer.email)
    return commit_item(
        repo,
        commit,
        simple_user(author, base) if author else None,
        simple_user(committer, base) if committer else None,
        base,
    )


# -- branches -------------------------------------------------------------------------------


def short_branch(repo: Repository, name: str, commit: Commit, base: str) -> JSON:
    """An item of `GET .../branches` (`short-branch`)."""
    api = f"{base}/repos/{repo.full_name}"
    protection = repo.protections.get(name)
    return {
        "name": name,
        "commit": {"sha": commit.sha, "url": f"{api}/commits/{commit.sha}"},
        "protected": protection is not None,
        "protection": _protection_summary(protection),
        "protection_url": f"{api}/branches/{quote(name, safe='')}/protection",
    }


def branch(state: GitHubState, repo: Repository, name: str, commit: Commit, base: str) -> JSON:
    """`GET .../branches/{branch}` (`branch-with-protection`), with the full head commit."""
    api = f"{base}/repos/{repo.full_name}"
    bot = simple_user(state.get_user(BOT_LOGIN), base)
    protection = repo.protections.get(name)
    return {
        "name": name,
        "commit": commit_item(repo, commit, bot, bot, base),
        "_links": {
            "self": f"{api}/branches/{quote(name, safe='')}",
            "html": f"{base}/{repo.full_name}/tree/{quote(name)}",
        },
        "protected": protection is not None,
        "protection": _protection_summary(protection),
        "protection_url": f"{api}/branches/{quote(name, safe='')}/protection",
    }


def _protection_summary(protection: BranchProtection | None) -> JSON:
    checks = protection.required_status_checks if protection else None
    if checks is None:
        return {
            "enabled": protection is not None,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        }
    return {
        "enabled": True,
        "required_status_checks": {
            "enforcement_level": "everyone"
            if protection and protection.enforce_admins
            else "non_admins",
            "contexts": checks.contexts,
            "checks": [{"context": context, "app_id": app_id} for context, app_id in checks.checks],
        },
    }


def protection(
    state: GitHubState, repo: Repository, branch_name: str, rules: BranchProtection, base: str
) -> JSON:
    """`GET`/`PUT .../branches/{branch}/protection` (`branch-protection` / `protected-branch`)."""
    url = f"{base}/repos/{repo.full_name}/branches/{quote(branch_name, safe='')}/protection"
    body: JSON = {"url": url}
    checks = rules.required_status_checks
    if checks is not None:
        body["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": checks.strict,
            "contexts": checks.contexts,
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": context, "app_id": app_id} for context, app_id in checks.checks],
        }
    reviews = rules.required_pull_request_reviews
    if reviews is not None:
        review_body: JSON = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": reviews.dismiss_stale_reviews,
            "require_code_owner_reviews": reviews.require_code_owner_reviews,
            "required_approving_review_count": reviews.required_approving_review_count,
            "require_last_push_approval": reviews.require_last_push_approval,
        }
        if reviews.dismissal_users or reviews.dismissal_teams:
            review_body["dismissal_restrictions"] = {
                "url": f"{url}/dismissal_restrictions",
                "users_url": f"{url}/dismissal_restrictions/users",
                "teams_url": f"{url}/dismissal_restrictions/teams",
                "users": _users(state, reviews.dismissal_users, base),
                "teams": _teams(state, repo.owner, reviews.dismissal_teams, base),
                "apps": [],
            }
        if reviews.bypass_users or reviews.bypass_teams:
            review_body["bypass_pull_request_allowances"] = {
                "users": _users(state, reviews.bypass_users, base),
                "teams": _teams(state, repo.owner, reviews.bypass_teams, base),
                "apps": [],
            }
        body["required_pull_request_reviews"] = review_body
    body["required_signatures"] = {"url": f"{url}/required_signatures", "enabled": False}
    body["enforce_admins"] = {"url": f"{url}/enforce_admins", "enabled": rules.enforce_admins}
    for toggle in TOGGLES:
        body[toggle] = {"enabled": rules.toggle(toggle)}
    if rules.restrictions is not None:
        body["restrictions"] = {
            "url": f"{url}/restrictions",
            "users_url": f"{url}/restrictions/users",
            "teams_url": f"{url}/restrictions/teams",
            "apps_url": f"{url}/restrictions/apps",
            "users": _users(state, rules.restrictions.users, base),
            "teams": _teams(state, repo.owner, rules.restrictions.teams, base),
            "apps": [],
        }
    return body


def _users(state: GitHubState, logins: tuple[str, ...], base: str) -> list[JSON]:
    return [simple_user(state.get_user(login), base) for login in logins]


def _teams(state: GitHubState, org: str, slugs: tuple[str, ...], base: str) -> list[JSON]:
    return [team(state, state.get_team(org, slug), base) for slug in slugs]
