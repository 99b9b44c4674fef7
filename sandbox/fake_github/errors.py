"""Errors the fake raises, each carrying the HTTP status and body GitHub would send.

    GitHubError                 any answer that is not a success
    ├── BadCredentials          401 {"message": "Bad credentials"}: a token nobody holds
    ├── NotFound                404 {"message": "Not Found"} (or a more precise message)
    ├── Forbidden               403, e.g. writes to an archived repository
    ├── Conflict                409, e.g. a contents write with a stale blob sha
    └── ValidationFailed        422 with GitHub's `errors` list

The app turns every one of them into GitHub's JSON error body; the state raises them, so
the rules about what GitHub refuses live next to the data they protect.
"""

from __future__ import annotations

from typing import Any

GENERIC_DOCS_URL = "https://docs.github.com/rest"


class GitHubError(Exception):
    """An API call GitHub would refuse: an HTTP status and GitHub's error body."""

    status: int = 400
    default_message: str = "Bad Request"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[Any] | None = None,
        documentation_url: str = GENERIC_DOCS_URL,
    ) -> None:
        self.message = message or self.default_message
        self.errors = errors
        self.documentation_url = documentation_url
        super().__init__(f"{self.status} {self.message}")

    def body(self) -> dict[str, Any]:
        """The JSON body GitHub sends with this status."""
        payload: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            payload["errors"] = self.errors
        payload["documentation_url"] = self.documentation_url
        payload["status"] = str(self.status)
        return payload


class BadCredentials(GitHubError):
    """401: the token is not one GitHub handed out (or it was revoked)."""

    status = 401
    default_message = "Bad credentials"


class NotFound(GitHubError):
    """404: the resource does not exist (GitHub also says this for what you may not see)."""

    status = 404
    default_message = "Not Found"


class Forbidden(GitHubError):
    """403: the resource exists but this call is not allowed on it."""

    status = 403
    default_message = "Forbidden"


class Conflict(GitHubError):
    """409: the call raced with another change, e.g. a stale blob sha."""

    status = 409
    default_message = "Conflict"


class ValidationFailed(GitHubError):
    """422: the request is well formed but GitHub refuses its content."""

    status = 422
    default_message = "Validation Failed"


def field_error(resource: str, field: str, code: str, message: str | None = None) -> dict[str, Any]:
    """One entry of a 422 `errors` list, shaped like GitHub's."""
    entry: dict[str, Any] = {"resource": resource, "code": code, "field": field}
    if message is not None:
        entry["message"] = message
    return entry
