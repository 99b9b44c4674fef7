"""The GitHub organization Paved manages: where its API is, which org, which token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from github import Github

__all__ = ["GitHubOrganization"]


class GitHubOrganization(Block):
    """A GitHub organization (github.com or GitHub Enterprise) that Paved creates repositories in.

    The token belongs to a GitHub App installation or a machine user with admin rights on
    the organization; it never appears in flow parameters or logs.
    """

    _block_type_name = "Paved GitHub Organization"
    _block_type_slug = "paved-github-organization"
    _documentation_url = "https://docs.github.com/en/rest/repos/repos"  # type: ignore[assignment]
    _code_example = """
```python
from blocks.github import GitHubOrganization

github_organization = GitHubOrganization.load("BLOCK_NAME")
client = github_organization.get_client()
```
"""

    api_url: str = Field(
        default="https://api.github.com",
        description="Base URL of the GitHub REST API (https://HOST/api/v3 for GitHub Enterprise).",
    )
    organization: str = Field(description="Login of the organization that owns the repositories.")
    token: SecretStr = Field(description="Token with admin rights on the organization.")
    template_repository: str = Field(
        default="service-template",
        description="Repository in the organization that new repositories are generated from.",
    )
    default_branch: str = Field(
        default="main", description="Default branch that Paved protects on new repositories."
    )
    seconds_between_requests: float = Field(
        default=0.25,
        ge=0,
        description="Pause between API requests, GitHub's advice against secondary rate limits.",
    )
    seconds_between_writes: float = Field(
        default=1.0,
        ge=0,
        description="Pause between writing requests, against GitHub's secondary rate limits.",
    )
    timeout_seconds: float = Field(
        default=15.0, gt=0, description="Timeout of one HTTP request to the GitHub API, in seconds."
    )

    def get_client(self) -> Github:
        """Build a PyGithub client for this organization.

        PyGithub's own retry is switched off: Paved's tasks retry transient failures
        themselves, so every retry is visible in the Prefect UI and in the journal.
        """
        from github import Auth, Github

        return Github(
            base_url=self.api_url.rstrip("/"),
            auth=Auth.Token(self.token.get_secret_value()),
            timeout=int(self.timeout_seconds),
            retry=None,
            per_page=100,
            seconds_between_requests=self.seconds_between_requests,
            seconds_between_writes=self.seconds_between_writes,
        )
