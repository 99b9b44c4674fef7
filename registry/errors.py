"""Errors the registry raises, so the CLI and the flows can tell a developer what is wrong.

RegistryError
├── PolicyViolation   a name, tag or value breaks Paved's naming and tagging policy
├── NotAuthorized     a person may not do this (not in the team, inactive, unknown)
├── NotFound          the registry has no such team, person, service or resource
└── Conflict          the request collides with what the registry already holds
"""

from __future__ import annotations

__all__ = ["Conflict", "NotAuthorized", "NotFound", "PolicyViolation", "RegistryError"]


class RegistryError(Exception):
    """Base of every error the registry raises."""


class PolicyViolation(RegistryError, ValueError):
    """A value breaks the naming or tagging policy.

    It subclasses ValueError so that pydantic validators can raise it directly and the
    message reaches the developer as a field error.
    """


class NotAuthorized(RegistryError):
    """The person named in a request may not perform it."""


class NotFound(RegistryError):
    """The registry has no record of the thing asked for."""


class Conflict(RegistryError):
    """The request collides with an existing record (another owner, a concurrent run)."""
