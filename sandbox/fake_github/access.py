"""GitHub's rules for who may do what on a repository: collaborators and environments.

A person's permission on a repository is the highest of what they were given directly
(a collaborator) and what their teams have; the bot Paved acts as is an owner of the
organization, so it is admin everywhere. The organization's base permission grants
nothing (`default_repository_permission` is `none`), so a person without a direct grant
or a team has no access: what access grants need to see.

Environments carry the protection rules GitHub enforces before a job deploys to them:
required reviewers (teams or users with access to the repository), a wait timer and a
deployment branch policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.fake_github.errors import NotFound, ValidationFailed, field_error
from sandbox.fake_github.models import PERMISSIONS, Environment, Repository, User, utc_now
from sandbox.fake_github.world import BOT_LOGIN, World

MAX_WAIT_TIMER = 43_200  # minutes: 30 days
MAX_REVIEWERS = 6
MAX_ENVIRONMENT_NAME = 255
AFFILIATIONS = ("outside", "direct", "all")


def highest(permissions: list[str]) -> str | None:
    """The strongest of `permissions` (GitHub's order), or None when there is none."""
    return max(permissions, key=PERMISSIONS.index) if permissions else None


class AccessRules(World):
    """Collaborators, effective permissions and deployment environments."""

    # -- collaborators ---------------------------------------------------------------------

    def add_collaborator(self, repository: Repository, login: str, permission: str) -> User:
        """`PUT .../collaborators/{username}`: grant `permission` directly, or change it.

        GitHub invites people from outside the organization (201 with an invitation) and
        adds members at once (204); every person of the fake is a member, so it adds.
        """
        with self.lock:
            user = self.get_user(login)
            if permission not in PERMISSIONS:
                raise ValidationFailed(
                    errors=[
                        field_error(
                            "Collaborator",
                            "permission",
                            "invalid",
                            f"permission must be one of {', '.join(PERMISSIONS)}",
                        )
                    ]
                )
            self._check_writable(repository)
            repository.collaborators[user.login] = permission
            return user

    def remove_collaborator(self, repository: Repository, login: str) -> None:
        """`DELETE .../collaborators/{username}`; removing a non-collaborator is no error."""
        with self.lock:
            user = self.get_user(login)
            repository.collaborators.pop(user.login, None)

    def effective_permission(self, repository: Repository, login: str) -> str | None:
        """What `login` may do on `repository`: the highest of a direct grant and team
        permissions (admin for the bot, an owner of the organization); None for no access."""
        with self.lock:
            user = self.get_user(login)
            if user.login == BOT_LOGIN:
                return "admin"
            granted = (
                [repository.collaborators[user.login]]
                if user.login in repository.collaborators
                else []
            )
            for team in self.teams.values():
                if (
                    team.organization.lower() == repository.owner.lower()
                    and user.login in team.members
                    and repository.id in team.repositories
                ):
                    granted.append(team.repositories[repository.id])
            return highest(granted)

    def list_collaborators(
        self, repository: Repository, affiliation: str = "all", permission: str | None = None
    ) -> list[tuple[User, str]]:
        """`GET .../collaborators`: people with access and their permission, by id.

        `direct` lists direct grants only, `outside` those of people outside the
        organization, `all` everyone with access (teams and owners included);
        `permission` keeps those whose highest permission it is.
        """
        with self.lock:
            if affiliation not in AFFILIATIONS:
                raise ValidationFailed(
                    errors=[field_error("Collaborator", "affiliation", "invalid")]
                )
            organization = self.organizations.get(repository.owner.lower())
            members = organization.members if organization is not None else set()
            if affiliation == "all":
                logins = {BOT_LOGIN, *repository.collaborators}
                for team in self.teams.values():
                    if repository.id in team.repositories:
                        logins.update(team.members)
            elif affiliation == "direct":
                logins = set(repository.collaborators)
            else:
                logins = {login for login in repository.collaborators if login not in members}
            people = []
            for login in logins:
                level = self.effective_permission(repository, login)
                if level is not None and permission in (None, level):
                    people.append((self.get_user(login), level))
            return sorted(people, key=lambda pair: pair[0].id)

    # -- environments ----------------------------------------------------------------------

    def get_environment(self, repository: Repository, name: str) -> Environment:
        """An environment by name (case-insensitive, as on GitHub)."""
        with self.lock:
            environment = repository.environments.get(name.lower())
            if environment is None:
                raise NotFound()
            return environment

    def list_environments(self, repository: Repository) -> list[Environment]:
        """A repository's environments, by name."""
        with self.lock:
            return sorted(repository.environments.values(), key=lambda env: env.name.lower())

    def put_environment(
        self, repository: Repository, name: str, changes: Mapping[str, Any]
    ) -> Environment:
        """`PUT .../environments/{environment_name}`: create the environment, or apply the
        fields sent to it (a field not sent keeps its value; a null clears it)."""
        with self.lock:
            self._check_writable(repository)
            if not name.strip() or len(name) > MAX_ENVIRONMENT_NAME:
                raise ValidationFailed(
                    errors=[field_error("Environment", "name", "invalid", "name is invalid")]
                )
            wait_timer = changes.get("wait_timer")
            if wait_timer is not None and not 0 <= wait_timer <= MAX_WAIT_TIMER:
                raise ValidationFailed(
                    errors=[
                        field_error(
                            "Environment",
                            "wait_timer",
                            "invalid",
                            f"wait_timer must be between 0 and {MAX_WAIT_TIMER}",
                        )
                    ]
                )
            reviewers = [
                (reviewer["type"], reviewer["id"]) for reviewer in changes.get("reviewers") or []
            ]
            self._check_reviewers(repository, reviewers)
            policy = changes.get("deployment_branch_policy")
            branch_policy = (
                None
                if policy is None
                else (policy["protected_branches"], policy["custom_branch_policies"])
            )
            if branch_policy is not None and branch_policy[0] == branch_policy[1]:
                raise ValidationFailed(
                    errors=[
                        field_error(
                            "Environment",
                            "deployment_branch_policy",
                            "invalid",
                            "exactly one of protected_branches and custom_branch_policies "
                            "must be true",
                        )
                    ]
                )
            now = utc_now()
            environment = repository.environments.get(name.lower())
            if environment is None:
                environment = Environment(
                    id=self._next_id(), name=name, created_at=now, updated_at=now
                )
                repository.environments[name.lower()] = environment
            if "wait_timer" in changes:
                environment.wait_timer = wait_timer or 0
            if "prevent_self_review" in changes:
                environment.prevent_self_review = bool(changes["prevent_self_review"])
            if "reviewers" in changes:
                environment.reviewers = reviewers
            if "deployment_branch_policy" in changes:
                environment.branch_policy = branch_policy
            for rule, present in (
                ("branch_policy", environment.branch_policy is not None),
                ("required_reviewers", bool(environment.reviewers)),
                ("wait_timer", environment.wait_timer > 0),
            ):
                if present:
                    environment.rule_ids.setdefault(rule, self._next_id())
            environment.updated_at = now
            return environment

    def delete_environment(self, repository: Repository, name: str) -> None:
        """`DELETE .../environments/{environment_name}` (404 when there is none)."""
        with self.lock:
            self.get_environment(repository, name)
            del repository.environments[name.lower()]

    def user_by_id(self, user_id: int) -> User | None:
        """A user by numeric id, or None."""
        with self.lock:
            return next((user for user in self.users.values() if user.id == user_id), None)

    def _check_reviewers(self, repository: Repository, reviewers: list[tuple[str, int]]) -> None:
        if len(reviewers) > MAX_REVIEWERS:
            raise ValidationFailed(
                errors=[
                    field_error(
                        "Environment",
                        "reviewers",
                        "invalid",
                        f"at most {MAX_REVIEWERS} reviewers may be listed",
                    )
                ]
            )
        for kind, reviewer_id in reviewers:
            if kind == "Team":
                team = self.teams.get(reviewer_id)
                allowed = (
                    team is not None
                    and team.organization.lower() == repository.owner.lower()
                    and repository.id in team.repositories
                )
            else:
                user = self.user_by_id(reviewer_id)
                allowed = (
                    user is not None
                    and self.effective_permission(repository, user.login) is not None
                )
            if not allowed:
                raise ValidationFailed(
                    errors=[
                        field_error(
                            "Environment",
                            "reviewers",
                            "invalid",
                            f"{kind} {reviewer_id} does not exist or has no access to "
                            f"{repository.full_name}: reviewers need at least read access",
                        )
                    ]
                )
