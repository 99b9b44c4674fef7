"""Paved's naming and tagging policy: one module, applied by every action.

Names are DNS-safe so that one name works everywhere a service shows up (repository,
bucket, DNS record, container, topic): ASCII lowercase letters, digits and single
hyphens, starting with a letter and ending with a letter or digit. Resources are named
``<team>-<service>-<purpose>`` (``-t<N>`` appended when the team slug has N > 1 words, so
that no two (team, service) pairs share a name), topics ``<domain>.<service>.<event>``,
and every taggable resource carries the tags in ``REQUIRED_TAGS``.

Free text (a reason, a description) is rendered through ``one_line`` and
``quoted_markdown``, never as written.

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
    "FREE_TEXT_MAX",
    "MANAGED_BY",
    "NAME_MIN",
    "NAME_PATTERN",
    "REQUIRED_TAGS",
    "RESERVED_TOPIC_DOMAIN",
    "RESOURCE_NAME_MAX",
    "RESOURCE_PURPOSES",
    "SERVICE_NAME_MAX",
    "TAG_COST_CENTER",
    "TAG_MANAGED_BY",
    "TAG_OWNER",
    "TAG_SERVICE",
    "TAG_TEAM",
    "TAG_VALUE_MAX",
    "TEAM_SLUG_MAX",
    "TOPIC_PART_MAX",
    "escape_markdown",
    "log_group_name",
    "missing_or_wrong_tags",
    "name_schema",
    "one_line",
    "parse_resource_name",
    "policy_tags",
    "quoted_markdown",
    "require_one_line",
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
# What each resource is for, the last part of its name. A closed set, none a `-`-suffix
# of another and none ending in a `t<N>` word, so a name splits back into exactly one
# (team, service, purpose): see `parse_resource_name`.
RESOURCE_PURPOSES = frozenset({"app", "data", "deploy", "jobs", "jobs-dlq", "state", "task"})
# Topics of this domain are Paved's own (its registry events): no team may ask for one.
RESERVED_TOPIC_DOMAIN = "paved"
_TEAM_WORDS = re.compile(r"t([0-9]+)", re.ASCII)

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
    """``<team>-<service>-<purpose>``, e.g. ``payments-orders-data``; at most 63 characters.

    Each part must be a valid name on its own, ``purpose`` one of ``RESOURCE_PURPOSES``,
    and the whole must fit an S3 bucket name. When the team slug has hyphens, ``-t<N>``
    (N: its number of words) ends the name: team ``data`` with service ``platform-etl``
    is ``data-platform-etl-app``, team ``data-platform`` with service ``etl`` is
    ``data-platform-etl-app-t2``. The mapping is one-to-one (``parse_resource_name``
    undoes it), and the characters are the ones every provider accepts: S3, SQS,
    DynamoDB, ECR (no ``--``, no ``_``), IAM roles, ECS.
    """
    validate_name(team, what="team slug", max_length=TEAM_SLUG_MAX)
    validate_name(service, what="service name", max_length=SERVICE_NAME_MAX)
    validate_name(purpose, what="resource purpose", max_length=RESOURCE_NAME_MAX)
    if purpose not in RESOURCE_PURPOSES:
        raise PolicyViolation(
            f"resource purpose {purpose!r} is not one of {', '.join(sorted(RESOURCE_PURPOSES))}"
        )
    words = team.count("-") + 1
    name = f"{team}-{service}-{purpose}" + (f"-t{words}" if words > 1 else "")
    if len(name) > RESOURCE_NAME_MAX:
        raise PolicyViolation(
            f"resource name {name!r} is {len(name)} characters long; the limit is "
            f"{RESOURCE_NAME_MAX} (an S3 bucket name): the team slug and service name are "
            "too long together"
        )
    if name.startswith(_S3_RESERVED_PREFIXES) or name.endswith(_S3_RESERVED_SUFFIXES):
        raise PolicyViolation(
            f"resource name {name!r} is not allowed: AWS reserves names starting with "
            f"{' or '.join(map(repr, _S3_RESERVED_PREFIXES))} or ending with "
            f"{' or '.join(map(repr, _S3_RESERVED_SUFFIXES))}"
        )
    return name


def parse_resource_name(name: str) -> tuple[str, str, str]:
    """``(team, service, purpose)`` of a name ``resource_name`` made; PolicyViolation if
    ``name`` is not one."""
    words = name.split("-")
    team_words = 1
    marker = _TEAM_WORDS.fullmatch(words[-1])
    if marker is not None:
        team_words = int(marker.group(1))
        words = words[:-1]
    for purpose in RESOURCE_PURPOSES:
        size = purpose.count("-") + 1
        if words[-size:] == purpose.split("-") and len(words) - size > team_words:
            team = "-".join(words[:team_words])
            service = "-".join(words[team_words:-size])
            if resource_name(team=team, service=service, purpose=purpose) == name:
                return team, service, purpose
    raise PolicyViolation(f"{name!r} is not a name Paved gives a resource")


def log_group_name(*, team: str, service: str) -> str:
    """``/paved/<team>/<service>``: one log group per service (`/` separates the parts,
    which never contain one, so no two services share a log group)."""
    validate_name(team, what="team slug", max_length=TEAM_SLUG_MAX)
    validate_name(service, what="service name", max_length=SERVICE_NAME_MAX)
    return f"/paved/{team}/{service}"


def topic_name(*, domain: str, service: str, event: str) -> str:
    """``<domain>.<service>.<event>``, e.g. ``payments.orders.order-created``.

    One-to-one: the parts never contain a dot. Whether the domain is the requester's to
    use (the owning team's, granted to it, never ``paved``) is the caller's check.
    """
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


# Characters markdown gives a meaning to (links, images, emphasis, code, headings, tables,
# raw HTML): escaped with a backslash so free text shows as typed and never as a link.
_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]()<>`*_!#|])")
_WHITESPACE_RUNS = re.compile(r"\s+")
FREE_TEXT_MAX = 500


def one_line(text: str, max_len: int = FREE_TEXT_MAX) -> str:
    """``text`` on one line (every run of whitespace, newlines included, made one space;
    control characters dropped) and at most ``max_len`` characters, ``…`` marking a cut.
    For free text someone typed, before it reaches a notification, form, artifact or log."""
    flat = _WHITESPACE_RUNS.sub(" ", str(text))
    flat = "".join(c for c in flat if c.isprintable()).strip()
    if len(flat) > max_len:
        return flat[: max(max_len - 1, 0)].rstrip() + "…"
    return flat


def escape_markdown(text: str, max_len: int = FREE_TEXT_MAX) -> str:
    """``one_line(text)`` with every markdown character escaped, for use inside a line
    (a table cell, a sentence): shown exactly as typed, never as a link or image."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text, max_len))


def quoted_markdown(text: str, max_len: int = FREE_TEXT_MAX) -> str:
    """``text`` as a one-line markdown block quote, every markdown character escaped."""
    return "> " + escape_markdown(text, max_len)


def require_one_line(text: str, *, what: str, max_len: int = FREE_TEXT_MAX) -> str:
    """``text`` if it is one line of printable characters, at most ``max_len`` long;
    PolicyViolation otherwise (for request-model validators)."""
    if "\n" in text or "\r" in text:
        raise PolicyViolation(f"{what} must be one line: remove the line breaks")
    if any(not c.isprintable() for c in text):
        raise PolicyViolation(f"{what} contains a control character")
    if len(text) > max_len:
        raise PolicyViolation(f"{what} is {len(text)} characters long; the limit is {max_len}")
    return text
