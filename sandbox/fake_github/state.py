"""The fake's world, in memory: accounts, teams, repositories and their git objects.

`GitHubState` is where GitHub's rules live (what exists, what a call may change, which
error GitHub answers): seeding and repositories here, contents in `contents`, teams in
`teams`, storage and lookups in `world`. Every public method takes `lock`, so the state is
safe to use from the server's threads and from a test's thread at once; a caller that
reads several objects to build one answer holds `lock` around all of it (it is reentrant).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.fake_github.access import AccessRules
from sandbox.fake_github.contents import ContentRules
from sandbox.fake_github.errors import Forbidden, ValidationFailed, field_error
from sandbox.fake_github.models import (
    REPOSITORY_SETTING_DEFAULTS,
    Environment,
    Organization,
    Repository,
    Team,
    User,
    utc_now,
)
from sandbox.fake_github.seed import DEFAULT_SEED_PATH, check_seed, load_seed_file
from sandbox.fake_github.teams import TeamRules
from sandbox.fake_github.world import ARCHIVED_MESSAGE, BOT_EMAIL, BOT_LOGIN

__all__ = ["BOT_LOGIN", "GitHubState"]

MAX_REPOSITORY_NAME = 100


class GitHubState(ContentRules, TeamRules, AccessRules):
    """Everything the fake GitHub knows; reset to its seed on demand."""

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        """Build the world from `seed` (the shape of `sandbox/seed.yaml`), or empty."""
        self.lock = threading.RLock()
        self._seed: dict[str, Any] = (
            check_seed(copy.deepcopy(dict(seed))) if seed is not None else {}
        )
        self._clear()
        self._load(self._seed)

    @classmethod
    def from_seed_file(cls, path: str | Path = DEFAULT_SEED_PATH) -> GitHubState:
        """A state seeded from a YAML seed file (by default `sandbox/seed.yaml`)."""
        return cls(load_seed_file(path))

    # -- seeding ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every change: back to the seed the state was built or last re-seeded with."""
        with self.lock:
            self._clear()
            self._load(self._seed)

    def replace_seed(self, seed: Mapping[str, Any]) -> None:
        """Replace the whole world with one built from `seed` (raises `SeedError` if malformed)."""
        checked = check_seed(copy.deepcopy(dict(seed)))
        with self.lock:
            self._seed = checked
            self._clear()
            self._load(checked)

    def _load(self, seed: Mapping[str, Any]) -> None:
        now = utc_now()
        self._add_user(BOT_LOGIN, "Paved", BOT_EMAIL, now)
        for person in seed.get("people", []):
            self._add_user(person["handle"], person.get("name"), person.get("email"), now)
        spec = seed.get("organization")
        if not spec:
            return
        organization = Organization(
            id=self._next_id(),
            login=spec["login"],
            name=spec.get("name"),
            created_at=now,
            members={BOT_LOGIN, *(person["handle"] for person in seed.get("people", []))},
        )
        self.organizations[organization.login.lower()] = organization
        for team_spec in seed.get("teams", []):
            team = Team(
                id=self._next_id(),
                organization=organization.login,
                slug=team_spec["slug"],
                name=team_spec.get("name", team_spec["slug"]),
                description=team_spec.get("description", ""),
                created_at=now,
                updated_at=now,
            )
            team.members = {login: "member" for login in team_spec.get("members", [])}
            if team_spec.get("lead"):
                team.members[team_spec["lead"]] = "maintainer"
            self.teams[team.id] = team
        template_name = spec.get("template_repository")
        if template_name:
            template = self._new_repository(
                organization.login,
                template_name,
                description="Golden-path service template",
                visibility="private",
                is_template=True,
            )
            files = {path: text.encode() for path, text in spec.get("template_files", {}).items()}
            self._commit_files(template, template.default_branch, files, "Initial commit")

    def _add_user(self, login: str, name: str | None, email: str | None, now: str) -> None:
        self.users[login.lower()] = User(
            id=self._next_id(), login=login, name=name, email=email, created_at=now
        )

    # -- repositories ----------------------------------------------------------------------

    def list_repositories(self, owner: str) -> list[Repository]:
        """The repositories an account owns, oldest first."""
        with self.lock:
            self.get_account(owner)
            return [
                repo for repo in self.repositories.values() if repo.owner.lower() == owner.lower()
            ]

    def create_repository(
        self,
        owner: str,
        name: str,
        *,
        description: str | None = None,
        homepage: str | None = None,
        visibility: str = "public",
        is_template: bool = False,
        auto_init: bool = False,
        settings: Mapping[str, Any] | None = None,
        team_id: int | None = None,
    ) -> Repository:
        """`POST /orgs/{org}/repos`: a new, empty repository (one commit with `auto_init`)."""
        with self.lock:
            organization = self.get_organization(owner)
            team = None
            if team_id is not None:
                team = self.teams.get(team_id)
                if team is None or team.organization != organization.login:
                    raise ValidationFailed(
                        "Repository creation failed.",
                        errors=[field_error("Repository", "team_id", "invalid")],
                    )
            repository = self._new_repository(
                organization.login,
                name,
                description=description,
                homepage=homepage,
                visibility=visibility,
                is_template=is_template,
                settings=settings,
            )
            if auto_init:
                readme = f"# {repository.name}\n" + (f"\n{description}\n" if description else "")
                self._commit_files(
                    repository,
                    repository.default_branch,
                    {"README.md": readme.encode()},
                    "Initial commit",
                )
            if team is not None:
                team.repositories[repository.id] = "pull"
            return repository

    def generate_repository(
        self,
        template_owner: str,
        template_name: str,
        *,
        owner: str,
        name: str,
        description: str | None = None,
        private: bool = False,
        include_all_branches: bool = False,
    ) -> Repository:
        """`POST /repos/{template_owner}/{template_repo}/generate`: a copy of a template's files."""
        with self.lock:
            template = self.get_repository(template_owner, template_name)
            if not template.is_template:
                raise ValidationFailed(
                    "Repository creation failed.",
                    errors=[
                        field_error(
                            "Repository",
                            "template",
                            "custom",
                            f"{template.full_name} is not a template repository",
                        )
                    ],
                )
            account = self.get_account(owner)
            repository = self._new_repository(
                account.login,
                name,
                description=description,
                visibility="private" if private else "public",
            )
            repository.template_id = template.id
            branches = (
                template.branches
                if include_all_branches
                else {
                    branch: sha
                    for branch, sha in template.branches.items()
                    if branch == template.default_branch
                }
            )
            for branch, head in branches.items():
                files = {
                    path: self.objects.blobs[sha]
                    for path, sha in self.objects.commits[head].files.items()
                }
                self._commit_files(repository, branch, files, "Initial commit")
            repository.default_branch = template.default_branch
            return repository

    def update_repository(self, owner: str, name: str, changes: Mapping[str, Any]) -> Repository:
        """`PATCH /repos/{owner}/{repo}`: apply the fields the caller sent."""
        with self.lock:
            repository = self.get_repository(owner, name)
            changes = dict(changes)
            new_name = changes.pop("name", None)
            if new_name is not None and new_name == repository.name:
                new_name = None
            if repository.archived and (new_name is not None or set(changes) - {"archived"}):
                raise Forbidden(ARCHIVED_MESSAGE)
            if new_name is not None:
                new_name = self._check_new_name(
                    repository.owner, new_name, resource_id=repository.id
                )
            if (
                "default_branch" in changes
                and changes["default_branch"] != repository.default_branch
            ):
                branch = changes["default_branch"]
                if not repository.is_empty and branch not in repository.branches:
                    raise ValidationFailed(
                        errors=[
                            field_error(
                                "Repository",
                                "default_branch",
                                "invalid",
                                f"Branch {branch} not found",
                            )
                        ]
                    )
                repository.default_branch = branch
            if "visibility" in changes:
                repository.visibility = changes["visibility"]
            elif "private" in changes:
                repository.visibility = "private" if changes["private"] else "public"
            for key in ("description", "homepage"):
                if key in changes:
                    setattr(repository, key, changes[key])
            if "is_template" in changes:
                repository.is_template = bool(changes["is_template"])
            if "archived" in changes:
                repository.archived = bool(changes["archived"])
            for key, value in changes.items():
                if key in REPOSITORY_SETTING_DEFAULTS:
                    repository.settings[key] = value
            if new_name is not None:
                repository.name = new_name
            repository.updated_at = utc_now()
            return repository

    def delete_repository(self, owner: str, name: str) -> None:
        """`DELETE /repos/{owner}/{repo}`: the repository and every team's access to it."""
        with self.lock:
            repository = self.get_repository(owner, name)
            del self.repositories[repository.id]
            for team in self.teams.values():
                team.repositories.pop(repository.id, None)

    def _new_repository(
        self,
        owner: str,
        name: str,
        *,
        description: str | None = None,
        homepage: str | None = None,
        visibility: str = "public",
        is_template: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> Repository:
        name = self._check_new_name(owner, name)
        now = utc_now()
        repository = Repository(
            id=self._next_id(),
            owner=owner,
            name=name,
            description=description,
            homepage=homepage,
            visibility=visibility,
            is_template=is_template,
            created_at=now,
            updated_at=now,
            pushed_at=now,
        )
        repository.settings.update(
            {k: v for k, v in (settings or {}).items() if k in REPOSITORY_SETTING_DEFAULTS}
        )
        self.repositories[repository.id] = repository
        return repository

    def _check_new_name(self, owner: str, name: str, resource_id: int | None = None) -> str:
        """GitHub's rules for a repository name; returns the name as GitHub would store it."""
        problem = None
        if not name.strip():
            problem = "name can't be blank"
        elif "/" in name:
            problem = "name can't contain '/'"
        elif len(name) > MAX_REPOSITORY_NAME:
            problem = f"name is too long (maximum is {MAX_REPOSITORY_NAME} characters)"
        elif name in (".", ".."):
            problem = "name is reserved"
        if problem:
            raise ValidationFailed(
                "Repository creation failed.",
                errors=[field_error("Repository", "name", "custom", problem)],
            )
        # GitHub quietly turns every other character into a hyphen.
        name = re.sub(r"[^A-Za-z0-9._-]", "-", name)
        for repository in self.repositories.values():
            if (
                repository.id != resource_id
                and repository.full_name.lower() == f"{owner}/{name}".lower()
            ):
                raise ValidationFailed(
                    "Repository creation failed.",
                    errors=[
                        field_error(
                            "Repository", "name", "custom", "name already exists on this account"
                        )
                    ],
                )
        return name

    # -- debugging -------------------------------------------------------------------------

    def _environment_summary(self, environment: Environment) -> dict[str, Any]:
        reviewers = []
        for kind, reviewer_id in environment.reviewers:
            if kind == "Team":
                team = self.teams.get(reviewer_id)
                name = team.slug if team is not None else None
            else:
                user = self.user_by_id(reviewer_id)
                name = user.login if user is not None else None
            reviewers.append({"type": kind, "id": reviewer_id, "name": name})
        policy = environment.branch_policy
        return {
            "wait_timer": environment.wait_timer,
            "prevent_self_review": environment.prevent_self_review,
            "reviewers": reviewers,
            "deployment_branch_policy": None
            if policy is None
            else {"protected_branches": policy[0], "custom_branch_policies": policy[1]},
        }

    def snapshot(self) -> dict[str, Any]:
        """A plain JSON dump of the world, for tests and debugging (`GET /_fake/state`)."""
        with self.lock:
            teams_by_repository: dict[int, dict[str, str]] = {}
            for team in self.teams.values():
                for repository_id, permission in team.repositories.items():
                    teams_by_repository.setdefault(repository_id, {})[team.slug] = permission
            repositories = []
            for repository in self.repositories.values():
                files = [] if repository.is_empty else sorted(self.resolve_ref(repository).files)
                repositories.append(
                    {
                        "full_name": repository.full_name,
                        "name": repository.name,
                        "owner": repository.owner,
                        "description": repository.description,
                        "private": repository.private,
                        "visibility": repository.visibility,
                        "archived": repository.archived,
                        "is_template": repository.is_template,
                        "template": (
                            template.full_name
                            if (template := self.template_of(repository))
                            else None
                        ),
                        "topics": list(repository.topics),
                        "default_branch": repository.default_branch,
                        "branches": dict(repository.branches),
                        "files": files,
                        "protection": {
                            branch: protection.summary()
                            for branch, protection in repository.protections.items()
                        },
                        "team_permissions": teams_by_repository.get(repository.id, {}),
                        "collaborators": dict(repository.collaborators),
                        "environments": {
                            environment.name: self._environment_summary(environment)
                            for environment in self.list_environments(repository)
                        },
                    }
                )
            return {
                "organizations": [
                    {"login": org.login, "name": org.name, "members": sorted(org.members)}
                    for org in self.organizations.values()
                ],
                "users": sorted(user.login for user in self.users.values()),
                "teams": [
                    {
                        "organization": team.organization,
                        "slug": team.slug,
                        "name": team.name,
                        "members": dict(team.members),
                        "repositories": {
                            self.repositories[repository_id].full_name: permission
                            for repository_id, permission in team.repositories.items()
                            if repository_id in self.repositories
                        },
                    }
                    for team in self.teams.values()
                ],
                "repositories": repositories,
            }
