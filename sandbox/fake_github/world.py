"""The storage of the fake's world and the lookups every rule needs.

`World` holds the accounts, teams, repositories and git objects, and the reentrant `lock`
every public method of the state takes; the rules themselves live in `contents`, `teams`
and `state`, which all build on it.
"""

from __future__ import annotations

import threading

from sandbox.fake_github.errors import Forbidden, NotFound
from sandbox.fake_github.git import ObjectStore
from sandbox.fake_github.models import Organization, Repository, Team, User

BOT_LOGIN = "paved-bot"
"""The user every token authenticates as (`GET /user`)."""

BOT_EMAIL = f"{BOT_LOGIN}@users.noreply.github.com"
ARCHIVED_MESSAGE = "Repository was archived so is read-only."
DOCS = "https://docs.github.com/rest"


class World:
    """Accounts, teams, repositories and git objects, with lookups that raise `NotFound`."""

    lock: threading.RLock
    users: dict[str, User]  # by lowercased login
    organizations: dict[str, Organization]  # by lowercased login
    teams: dict[int, Team]
    repositories: dict[int, Repository]
    objects: ObjectStore
    _last_id: int

    def _clear(self) -> None:
        # Ids restart with the world, so a reset fake hands out the same ids again.
        self._last_id = 1000
        self.users = {}
        self.organizations = {}
        self.teams = {}
        self.repositories = {}
        self.objects = ObjectStore()

    def _next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def authenticated_user(self) -> User:
        """The user every token stands for: the bot Paved acts as."""
        return self.get_user(BOT_LOGIN)

    def get_user(self, login: str) -> User:
        """A user by login (case-insensitive)."""
        with self.lock:
            user = self.users.get(login.lower())
            if user is None:
                raise NotFound()
            return user

    def get_account(self, login: str) -> User | Organization:
        """A user or, failing that, an organization (GitHub serves both under /users)."""
        with self.lock:
            account = self.users.get(login.lower()) or self.organizations.get(login.lower())
            if account is None:
                raise NotFound()
            return account

    def get_organization(self, login: str) -> Organization:
        """An organization by login (case-insensitive)."""
        with self.lock:
            organization = self.organizations.get(login.lower())
            if organization is None:
                raise NotFound()
            return organization

    def organization_by_id(self, organization_id: int) -> Organization:
        """An organization by its numeric id."""
        with self.lock:
            for organization in self.organizations.values():
                if organization.id == organization_id:
                    return organization
            raise NotFound()

    def get_repository(self, owner: str, name: str) -> Repository:
        """A repository by owner and name (case-insensitive, as on GitHub)."""
        with self.lock:
            wanted = f"{owner}/{name}".lower()
            for repository in self.repositories.values():
                if repository.full_name.lower() == wanted:
                    return repository
            raise NotFound()

    def repository_by_id(self, repository_id: int) -> Repository | None:
        """A repository by numeric id, or None."""
        with self.lock:
            return self.repositories.get(repository_id)

    def template_of(self, repository: Repository) -> Repository | None:
        """The template a repository was generated from, if it still exists."""
        with self.lock:
            return (
                None
                if repository.template_id is None
                else self.repositories.get(repository.template_id)
            )

    def get_team(self, organization: str, slug: str) -> Team:
        """A team by organization and slug."""
        with self.lock:
            self.get_organization(organization)
            team = self._find_team(organization, slug)
            if team is None:
                raise NotFound()
            return team

    def team_by_id(self, team_id: int) -> Team:
        """A team by numeric id (the form of the `url` GitHub gives teams)."""
        with self.lock:
            team = self.teams.get(team_id)
            if team is None:
                raise NotFound()
            return team

    def _find_team(self, organization: str, slug: str) -> Team | None:
        for team in self.teams.values():
            if team.organization.lower() == organization.lower() and team.slug == slug.lower():
                return team
        return None

    def _check_writable(self, repository: Repository) -> None:
        if repository.archived:
            raise Forbidden(ARCHIVED_MESSAGE)
