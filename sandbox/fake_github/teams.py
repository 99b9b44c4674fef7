"""GitHub's rules for teams: memberships and repository permissions."""

from __future__ import annotations

from sandbox.fake_github.errors import NotFound, ValidationFailed, field_error
from sandbox.fake_github.models import PERMISSIONS, Repository, Team, User, utc_now
from sandbox.fake_github.world import BOT_LOGIN, World


class TeamRules(World):
    """Organization members, team lists, memberships (member or maintainer) and
    repository permissions."""

    def organization_members(self, organization: str, *, role: str = "all") -> list[User]:
        """`GET /orgs/{org}/members`: members by login; the bot Paved acts as is the one
        `admin` (its token has admin rights on the organization), everyone else `member`."""
        with self.lock:
            org = self.get_organization(organization)
            logins = sorted(org.members, key=str.lower)
            if role != "all":
                logins = [login for login in logins if (login == BOT_LOGIN) == (role == "admin")]
            return [self.get_user(login) for login in logins]

    def add_organization_member(
        self, organization: str, login: str, *, name: str | None, email: str | None
    ) -> User:
        """Someone joins the organization; a login GitHub does not know yet signs up first."""
        with self.lock:
            org = self.get_organization(organization)
            user = self.users.get(login.lower())
            if user is None:
                user = User(
                    id=self._next_id(), login=login, name=name, email=email, created_at=utc_now()
                )
                self.users[login.lower()] = user
            org.members.add(user.login)
            return user

    def remove_organization_member(self, organization: str, login: str) -> None:
        """Someone leaves the organization, and so every team of it; their GitHub account
        (and token) stays, as on GitHub."""
        with self.lock:
            org = self.get_organization(organization)
            user = self.get_user(login)
            org.members.discard(user.login)
            for team in self.teams.values():
                if team.organization == org.login:
                    team.members.pop(user.login, None)

    def list_teams(self, organization: str) -> list[Team]:
        """The teams of an organization, by name (GitHub lists them alphabetically)."""
        with self.lock:
            login = self.get_organization(organization).login
            teams = [team for team in self.teams.values() if team.organization == login]
            return sorted(teams, key=lambda team: team.name.lower())

    def set_membership(self, team: Team, login: str, role: str = "member") -> str:
        """`PUT .../memberships/{username}`: add a member or change their role."""
        with self.lock:
            user = self.get_user(login)
            if role not in ("member", "maintainer"):
                raise ValidationFailed(errors=[field_error("TeamMember", "role", "invalid")])
            team.members[user.login] = role
            team.updated_at = utc_now()
            return role

    def remove_membership(self, team: Team, login: str) -> None:
        """`DELETE .../memberships/{username}`; removing a non-member is not an error."""
        with self.lock:
            user = self.get_user(login)
            team.members.pop(user.login, None)

    def membership(self, team: Team, login: str) -> tuple[User, str]:
        """A member and their role (404 when the user is not in the team)."""
        with self.lock:
            user = self.get_user(login)
            role = team.members.get(user.login)
            if role is None:
                raise NotFound()
            return user, role

    def set_team_permission(self, team: Team, owner: str, name: str, permission: str) -> None:
        """`PUT .../teams/{team_slug}/repos/{owner}/{repo}`: grant or change a team's access."""
        with self.lock:
            repository = self.get_repository(owner, name)
            if permission not in PERMISSIONS:
                raise ValidationFailed(errors=[field_error("Team", "permission", "invalid")])
            if repository.owner.lower() != team.organization.lower():
                raise ValidationFailed(
                    errors=[
                        field_error(
                            "Team",
                            "repository",
                            "custom",
                            "Repository is not owned by the team's organization",
                        )
                    ]
                )
            team.repositories[repository.id] = permission

    def team_permission(self, team: Team, owner: str, name: str) -> tuple[Repository, str]:
        """The repository and the team's permission on it (404 when the team has no access)."""
        with self.lock:
            repository = self.get_repository(owner, name)
            permission = team.repositories.get(repository.id)
            if permission is None:
                raise NotFound()
            return repository, permission

    def remove_team_permission(self, team: Team, owner: str, name: str) -> None:
        """`DELETE .../teams/{team_slug}/repos/{owner}/{repo}`."""
        with self.lock:
            repository = self.get_repository(owner, name)
            team.repositories.pop(repository.id, None)

    def team_repositories(self, team: Team) -> list[tuple[Repository, str]]:
        """The repositories a team has access to, with its permission on each."""
        with self.lock:
            return [
                (self.repositories[repository_id], permission)
                for repository_id, permission in team.repositories.items()
                if repository_id in self.repositories
            ]
