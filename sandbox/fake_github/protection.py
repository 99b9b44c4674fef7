"""Branch protection as the fake stores it: what `PUT .../branches/{branch}/protection` set.

The PUT body (and so PyGithub's `Branch.edit_protection`) replaces the whole protection;
`null` for a section switches it off, as on GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StatusChecks:
    """Checks that must pass before merging; `strict` also requires an up-to-date branch."""

    strict: bool
    checks: tuple[tuple[str, int | None], ...]  # (context, app_id)

    @property
    def contexts(self) -> list[str]:
        """The check names alone (GitHub's deprecated `contexts` list)."""
        return [context for context, _ in self.checks]


@dataclass(frozen=True)
class ReviewRules:
    """Pull request reviews required before merging."""

    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    required_approving_review_count: int = 1
    require_last_push_approval: bool = False
    dismissal_users: tuple[str, ...] = ()
    dismissal_teams: tuple[str, ...] = ()
    bypass_users: tuple[str, ...] = ()
    bypass_teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class PushRestrictions:
    """Who may push to the branch: user logins, team slugs and app slugs."""

    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()


# The on/off settings of a protection, each rendered as {"enabled": bool}.
TOGGLES = (
    "required_linear_history",
    "allow_force_pushes",
    "allow_deletions",
    "block_creations",
    "required_conversation_resolution",
    "lock_branch",
    "allow_fork_syncing",
)


@dataclass(frozen=True)
class BranchProtection:
    """The protection of one branch."""

    required_status_checks: StatusChecks | None
    enforce_admins: bool
    required_pull_request_reviews: ReviewRules | None
    restrictions: PushRestrictions | None
    toggles: tuple[tuple[str, bool], ...] = ()

    def toggle(self, name: str) -> bool:
        """The value of one of the `TOGGLES` (off unless the PUT switched it on)."""
        return dict(self.toggles).get(name, False)

    def summary(self) -> dict[str, Any]:
        """A plain JSON summary for the fake's state dump."""
        checks = self.required_status_checks
        reviews = self.required_pull_request_reviews
        return {
            "required_status_checks": None
            if checks is None
            else {"strict": checks.strict, "contexts": checks.contexts},
            "enforce_admins": self.enforce_admins,
            "required_pull_request_reviews": None
            if reviews is None
            else {
                "dismiss_stale_reviews": reviews.dismiss_stale_reviews,
                "require_code_owner_reviews": reviews.require_code_owner_reviews,
                "required_approving_review_count": reviews.required_approving_review_count,
                "require_last_push_approval": reviews.require_last_push_approval,
            },
            "restrictions": None
            if self.restrictions is None
            else {
                "users": list(self.restrictions.users),
                "teams": list(self.restrictions.teams),
                "apps": list(self.restrictions.apps),
            },
            **{name: self.toggle(name) for name in TOGGLES},
        }
