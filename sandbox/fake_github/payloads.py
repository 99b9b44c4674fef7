"""Request bodies of the endpoints the fake serves, as GitHub documents them.

Unknown fields are ignored (GitHub ignores them too); known fields are type-checked
strictly, and a body that does not fit answers 422 "Invalid request.", like GitHub.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.fake_github.errors import ValidationFailed
from sandbox.fake_github.git import Signature
from sandbox.fake_github.models import utc_now
from sandbox.fake_github.protection import (
    TOGGLES,
    BranchProtection,
    PushRestrictions,
    ReviewRules,
    StatusChecks,
)


class Payload(BaseModel):
    """Base of every request body: strict types, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class RepositorySettings(Payload):
    """Settings both creating and editing a repository accept."""

    description: str | None = None
    homepage: str | None = None
    private: bool | None = None
    visibility: Literal["public", "private"] | None = None
    has_issues: bool | None = None
    has_projects: bool | None = None
    has_wiki: bool | None = None
    has_downloads: bool | None = None
    has_discussions: bool | None = None
    is_template: bool | None = None
    allow_squash_merge: bool | None = None
    allow_merge_commit: bool | None = None
    allow_rebase_merge: bool | None = None
    allow_auto_merge: bool | None = None
    delete_branch_on_merge: bool | None = None
    allow_update_branch: bool | None = None
    use_squash_pr_title_as_default: bool | None = None
    squash_merge_commit_title: Literal["PR_TITLE", "COMMIT_OR_PR_TITLE"] | None = None
    squash_merge_commit_message: Literal["PR_BODY", "COMMIT_MESSAGES", "BLANK"] | None = None
    merge_commit_title: Literal["PR_TITLE", "MERGE_MESSAGE"] | None = None
    merge_commit_message: Literal["PR_BODY", "PR_TITLE", "BLANK"] | None = None
    allow_forking: bool | None = None
    web_commit_signoff_required: bool | None = None

    def visibility_or(self, default: str) -> str:
        """The visibility asked for: `visibility` wins over the older `private` flag."""
        if self.visibility is not None:
            return self.visibility
        if self.private is not None:
            return "private" if self.private else "public"
        return default


class CreateRepository(RepositorySettings):
    """`POST /orgs/{org}/repos`."""

    name: str
    auto_init: bool = False
    team_id: int | None = None
    # Accepted but not applied: the fake has no .gitignore or license templates.
    gitignore_template: str | None = None
    license_template: str | None = None

    def settings(self) -> dict[str, object]:
        """Every field given; the state keeps those that are repository settings."""
        return self.model_dump(exclude_none=True)


class UpdateRepository(RepositorySettings):
    """`PATCH /repos/{owner}/{repo}`: only the fields sent change."""

    name: str | None = None
    default_branch: str | None = None
    archived: bool | None = None

    def changes(self) -> dict[str, object]:
        """The fields the caller sent; a JSON null clears description or homepage and is
        ignored elsewhere (it cannot unset a flag)."""
        return {
            key: getattr(self, key)
            for key in self.model_fields_set
            if getattr(self, key) is not None or key in ("description", "homepage")
        }


class GenerateRepository(Payload):
    """`POST /repos/{template_owner}/{template_repo}/generate`."""

    name: str
    owner: str | None = None
    description: str | None = None
    include_all_branches: bool = False
    private: bool = False


class GitIdentity(Payload):
    """An author or committer given with a contents write."""

    name: str
    email: str
    date: str | None = None

    def signature(self) -> Signature:
        """As a git signature, dated now unless a date was given."""
        return Signature(self.name, self.email, self.date or utc_now())


class ContentWrite(Payload):
    """Fields shared by creating, updating and deleting a file."""

    message: str
    branch: str | None = None
    committer: GitIdentity | None = None
    author: GitIdentity | None = None

    def author_signature(self) -> Signature | None:
        """The author given, if any."""
        return self.author.signature() if self.author else None

    def committer_signature(self) -> Signature | None:
        """The committer given, if any."""
        return self.committer.signature() if self.committer else None


class PutContent(ContentWrite):
    """`PUT /repos/{owner}/{repo}/contents/{path}`."""

    content: str
    sha: str | None = None

    def decoded(self) -> bytes:
        """The new file content (422 when `content` is not base64, as on GitHub)."""
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("content is not valid Base64") from None


class DeleteContent(ContentWrite):
    """`DELETE /repos/{owner}/{repo}/contents/{path}`."""

    sha: str


class ReplaceTopics(Payload):
    """`PUT /repos/{owner}/{repo}/topics`."""

    names: list[str]


class StatusCheck(Payload):
    """A required check, optionally pinned to the app that must report it."""

    context: str
    app_id: int | None = None


class RequiredStatusChecks(Payload):
    """`required_status_checks` of a protection (`contexts` is GitHub's older form)."""

    strict: bool = False
    contexts: list[str] | None = None
    checks: list[StatusCheck] | None = None

    def to_model(self) -> StatusChecks:
        """The stored form; `checks` wins over `contexts` when both are sent."""
        if self.checks is not None:
            checks = tuple((check.context, check.app_id) for check in self.checks)
        else:
            checks = tuple((context, None) for context in self.contexts or [])
        return StatusChecks(strict=self.strict, checks=checks)


class Actors(Payload):
    """Users (logins), teams (slugs) and apps (slugs) named by a protection rule."""

    users: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    apps: list[str] = Field(default_factory=list)


class RequiredReviews(Payload):
    """`required_pull_request_reviews` of a protection."""

    dismissal_restrictions: Actors | None = None
    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    required_approving_review_count: int = 1
    require_last_push_approval: bool = False
    bypass_pull_request_allowances: Actors | None = None

    def to_model(self) -> ReviewRules:
        """The stored form."""
        dismissal = self.dismissal_restrictions or Actors()
        bypass = self.bypass_pull_request_allowances or Actors()
        return ReviewRules(
            dismiss_stale_reviews=self.dismiss_stale_reviews,
            require_code_owner_reviews=self.require_code_owner_reviews,
            required_approving_review_count=self.required_approving_review_count,
            require_last_push_approval=self.require_last_push_approval,
            dismissal_users=tuple(dismissal.users),
            dismissal_teams=tuple(dismissal.teams),
            bypass_users=tuple(bypass.users),
            bypass_teams=tuple(bypass.teams),
        )


class UpdateProtection(Payload):
    """`PUT /repos/{owner}/{repo}/branches/{branch}/protection`.

    The first four fields are required by GitHub but may be null (section off).
    """

    required_status_checks: RequiredStatusChecks | None
    enforce_admins: bool | None
    required_pull_request_reviews: RequiredReviews | None
    restrictions: Actors | None
    required_linear_history: bool | None = None
    allow_force_pushes: bool | None = None
    allow_deletions: bool | None = None
    block_creations: bool | None = None
    required_conversation_resolution: bool | None = None
    lock_branch: bool | None = None
    allow_fork_syncing: bool | None = None

    def to_model(self) -> BranchProtection:
        """The stored form (a null toggle is off)."""
        restrictions = self.restrictions
        return BranchProtection(
            required_status_checks=self.required_status_checks.to_model()
            if self.required_status_checks
            else None,
            enforce_admins=bool(self.enforce_admins),
            required_pull_request_reviews=(
                self.required_pull_request_reviews.to_model()
                if self.required_pull_request_reviews
                else None
            ),
            restrictions=(
                None
                if restrictions is None
                else PushRestrictions(
                    tuple(restrictions.users), tuple(restrictions.teams), tuple(restrictions.apps)
                )
            ),
            toggles=tuple((name, bool(getattr(self, name))) for name in TOGGLES),
        )


class UpdateMembership(Payload):
    """`PUT /orgs/{org}/teams/{team_slug}/memberships/{username}`."""

    role: str = "member"


class UpdateTeamRepository(Payload):
    """`PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}` (GitHub's default is push)."""

    permission: str = "push"


class AddCollaborator(Payload):
    """`PUT /repos/{owner}/{repo}/collaborators/{username}` (GitHub's default is push)."""

    permission: str = "push"


class EnvironmentReviewer(Payload):
    """A required reviewer of an environment: a team or a user, by id."""

    type: Literal["User", "Team"]
    id: int


class DeploymentBranchPolicy(Payload):
    """Which branches may deploy to an environment (exactly one of the two is true)."""

    protected_branches: bool
    custom_branch_policies: bool


class PutEnvironment(Payload):
    """`PUT /repos/{owner}/{repo}/environments/{environment_name}`: only the fields sent
    change; a null clears the field (no reviewers, every branch may deploy)."""

    wait_timer: int | None = None
    prevent_self_review: bool | None = None
    reviewers: list[EnvironmentReviewer] | None = None
    deployment_branch_policy: DeploymentBranchPolicy | None = None

    def changes(self) -> dict[str, object]:
        """The fields the caller sent, as plain values."""
        dumped = self.model_dump()
        return {key: dumped[key] for key in self.model_fields_set}
