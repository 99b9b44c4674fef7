"""Errors raised by provider tasks; retries are decided by class, never by message text.

ProviderError                 a provider call failed; carries provider, operation, resource
├── TransientProviderError    worth retrying: throttling, 5xx, timeouts, dropped connections
└── PermanentProviderError    retrying cannot help: forbidden, invalid, conflicting
    └── ResourceConflict      the resource exists and is not this service's: never adopted
"""

from __future__ import annotations

from tasks.logs import redact

__all__ = [
    "PermanentProviderError",
    "ProviderError",
    "ResourceConflict",
    "TransientProviderError",
]


class ProviderError(Exception):
    """A provider call failed.

    The message names the provider, the operation and the resource, so an SRE reading a
    failed run in the Prefect UI sees at once what broke and where.
    """

    def __init__(self, *, provider: str, operation: str, resource: str, cause: str) -> None:
        # A cause quoting a provider's message may quote a URL with its credentials.
        cause = redact(cause)
        resource = redact(resource)
        self.provider = provider
        self.operation = operation
        self.resource = resource
        self.cause = cause
        super().__init__(f"{provider} {operation} failed for {resource}: {cause}")

    def __reduce__(self) -> tuple[object, ...]:
        # Prefect pickles task exceptions into results; keyword-only __init__ needs this.
        return (_rebuild, (type(self), self.provider, self.operation, self.resource, self.cause))


def _rebuild(
    cls: type[ProviderError], provider: str, operation: str, resource: str, cause: str
) -> ProviderError:
    return cls(provider=provider, operation=operation, resource=resource, cause=cause)


class TransientProviderError(ProviderError):
    """A failure that may pass: the task's retry policy retries exactly this class."""


class PermanentProviderError(ProviderError):
    """A failure that will not pass by retrying: the run fails at once."""


class ResourceConflict(PermanentProviderError):
    """A get-or-create found the resource, but it is not the requesting service's (not
    tagged for it, or unknown to the registry): Paved never adopts, retags or changes it."""
