"""Paved's naming and tagging policy: one module, applied by every action.

Names are DNS-safe so that one name works everywhere a service shows up (repository,
bucket, DNS record, container, topic): ASCII lowercase letters, digits and single
hyphens, starting with a letter and ending with a letter or digit. Resources are named
``<team>-<service>-<purpose>``, topics ``<domain>.<service>.<event>``, and every taggable
resource carries the tags in ``REQUIRED_TAGS``.

Every check raises ``PolicyViolation`` with a message that names the value and the rule
it broke, so the developer can fix the request without reading this file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from registry.errors import PolicyViolation

__all__ = [
    "MANAGED_BY",
    "NAME_MIN",
    "NAME_PATTERN",
    "REQUIRED_TAGS",
    "RESOURCE_NAME_MAX",
    "SERVICE_NAME_MAX",
    "TAG_COST_CENTER",
    "TAG_MANAGED_BY",
    "TAG_OWNER",
    "TAG_SERVICE",
    "TAG_TEAM",
    "TAG_VALUE_MAX",
    "TEAM_SLUG_MAX",
    "TOPIC_PART_MAX",
    "missing_or_wrong_tags",
    "name_schema",
    "policy_tags",
    "resource_name",
    "topic_name",
    "validate_name",
]

NAME_MIN = 2
SERVICE_NAME_MAX = 32
TEAM_SLUG_MAX = 24
# S3 bucket names are at most 63 characters: every resource name must fit one.
RESOURCE_NAME_MAX = 63
TOPIC_PART_MAX = 48
# AWS allows 256 characters in a tag value, the tightest of our providers.
TAG_VALUE_MAX = 256

TAG_SERVICE = "paved:service"
TAG_TEAM = "paved:team"
TAG_OWNER = "paved:owner"
TAG_COST_CENTER = "paved:cost-center"
TAG_MANAGED_BY = "paved:managed-by"
REQUIRED_TAGS = (TAG_SERVICE, TAG_TEAM, TAG_OWNER, TAG_COST_CENTER, TAG_MANAGED_BY)
MANAGED_BY = "paved"

_ALLOWED = "use lowercase letters, digits and hyphens"
# The whole rule in one expression; the checks before it only exist to explain a failure.
# A DNS-safe name, also published as the JSON-schema `pattern` of request fields so the
# Prefect UI's form flags a bad name before the run is even created.
NAME_PATTERN = r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*[a-z0-9]$"
_DNS_NAME = re.compile(NAME_PATTERN.strip("^$"), re.ASCII)
_ALLOWED_CHARACTER = re.compile(r"[a-z0-9-]", re.ASCII)
# S3 reserves these for its own access points and demo buckets.
_S3_RESERVED_PREFIXES = ("sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias",)


def validate_name(value: str, *, what: str = "name", max_length: int = SERVICE_NAME_MAX) -> str:
    """Return ``value`` if it is a DNS-safe name of 2..``max_length`` characters.

    ``what`` names the value in the error ("service name", "team slug"). Raises
    PolicyViolation saying which rule the value broke; nothing is normalised for the
    caller, because a silently changed name would surprise the developer later.
    """
    if not isinstance(value, str):
        raise PolicyViolation(f"{what} must be a string, not {type(value).__name__}")
    shown = f"{what} {value!r}"
    if not value:
        raise PolicyViolation(f"{what} is empty: {_ALLOWED}, {NAME_MIN} to {max_length} characters")
    for character in value:
        if not character.isascii():
            raise PolicyViolation(
                f"{shown} contains a non-ASCII character {_describe(character)}: "
                f"{_ALLOWED} (plain ASCII)"
            )
    if len(value) > max_length:
        raise PolicyViolation(f"{shown} is {len(value)} characters long; the limit is {max_length}")
    if len(value) < NAME_MIN:
        raise PolicyViolation(f"{shown} is too short: use at least {NAME_MIN} characters")
    if any(character.isupper() for character in value):
        raise PolicyViolation(f"{shown} is not allowed: {_ALLOWED}{_suggestion(value, max_length)}")
    forbidden = [c for c in value if not _ALLOWED_CHARACTER.fullmatch(c)]
    if forbidden:
        listed = ", ".join(dict.fromkeys(repr(c) for c in forbidden))
        raise PolicyViolation(
            f"{shown} is not allowed: it contains {listed}; "
            f"{_ALLOWED}{_suggestion(value, max_length)}"
        )
    if not value[0].isalpha():
        raise PolicyViolation(f"{shown} is not allowed: it must start with a letter")
    if value.endswith("-"):
        raise PolicyViolation(f"{shown} is not allowed: it must end with a letter or digit")
    if "--" in value:
        raise PolicyViolation(
            f"{shown} is not allowed: it contains '--'; use single hyphens"
            f"{_suggestion(value, max_length)}"
        )
    if not _DNS_NAME.fullmatch(value):  # pragma: no cover - the checks above are exhaustive
        raise PolicyViolation(f"{shown} is not allowed: {_ALLOWED}")
    return value


def _suggestion(value: str, max_length: int) -> str:
    """`` (try 'my-app')`` when an obvious valid spelling exists, else nothing."""
    candidate = re.sub(r"[^a-z0-9]+", "-", value.lower(), flags=re.ASCII).strip("-")
    if NAME_MIN <= len(candidate) <= max_length and _DNS_NAME.fullmatch(candidate):
        return f" (try {candidate!r})"
    return ""


def _describe(character: str) -> str:
    """``'\u0435' (U+0435 CYRILLIC SMALL LETTER IE)``: enough to spot a look-alike."""
    name = unicodedata.name(character, "")
    code = f"U+{ord(character):04X}"
    return f"{character!r} ({code} {name})" if name else f"{character!r} ({code})"


def name_schema(*, max_length: int) -> dict[str, Any]:
    """JSON-schema keywords for a request field holding a policy name (for UI forms)."""
    return {"pattern": NAME_PATTERN, "minLength": NAME_MIN, "maxLength": max_length}


def resource_name(*, team: str, service: str, purpose: str) -> str:
    """``<team>-<service>-<purpose>``, e.g. ``payments-orders-events``; at most 63 characters.

    Each part must be a valid name on its own; the whole must fit an S3 bucket name.
    """
    validate_name(team, what="team slug", max_length=TEAM_SLUG_MAX)
    validate_name(service, what="service name", max_length=SERVICE_NAME_MAX)
    validate_name(purpose, what="resource purpose", max_length=RESOURCE_NAME_MAX)
    name = f"{team}-{service}-{purpose}"
    if len(name) > RESOURCE_NAME_MAX:
        raise PolicyViolation(
            f"resource name {name!r} is {len(name)} characters long; the limit is "
            f"{RESOURCE_NAME_MAX} (an S3 bucket name): shorten the purpose {purpose!r}"
        )
    if name.startswith(_S3_RESERVED_PREFIXES) or name.endswith(_S3_RESERVED_SUFFIXES):
        raise PolicyViolation(
            f"resource name {name!r} is not allowed: AWS reserves names starting with "
            f"{' or '.join(map(repr, _S3_RESERVED_PREFIXES))} or ending with "
            f"{' or '.join(map(repr, _S3_RESERVED_SUFFIXES))}"
        )
    return name


def topic_name(*, domain: str, service: str, event: str) -> str:
    """``<domain>.<service>.<event>``, e.g. ``payments.orders.order-created``."""
    validate_name(domain, what="topic domain", max_length=TOPIC_PART_MAX)
    validate_name(service, what="service name", max_length=SERVICE_NAME_MAX)
    validate_name(event, what="topic event", max_length=TOPIC_PART_MAX)
    return f"{domain}.{service}.{event}"


def policy_tags(*, service: str, team: str, owner: str, cost_center: str) -> dict[str, str]:
    """The tags every taggable resource carries, in ``REQUIRED_TAGS`` order."""
    values = {
        TAG_SERVICE: service,
        TAG_TEAM: team,
        TAG_OWNER: owner,
        TAG_COST_CENTER: cost_center,
        TAG_MANAGED_BY: MANAGED_BY,
    }
    for key, value in values.items():
        _validate_tag_value(key, value)
    return values


def _validate_tag_value(key: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise PolicyViolation(f"tag {key!r} needs a value, got {value!r}")
    if len(value) > TAG_VALUE_MAX:
        raise PolicyViolation(
            f"tag {key!r} value is {len(value)} characters long; the limit is {TAG_VALUE_MAX}"
        )
    if any(not character.isprintable() for character in value):
        raise PolicyViolation(f"tag {key!r} value {value!r} contains a control character")


def missing_or_wrong_tags(
    actual: Mapping[str, str], expected: Mapping[str, str]
) -> dict[str, tuple[str | None, str]]:
    """The expected tags a resource lacks or has with another value.

    Returns ``{key: (actual value or None if missing, expected value)}``; empty when the
    resource is in order. Tags beyond the expected ones are the owner's business and are
    ignored.
    """
    return {
        key: (actual.get(key), value) for key, value in expected.items() if actual.get(key) != value
    }
