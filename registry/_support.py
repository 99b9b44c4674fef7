"""Small helpers shared by the query modules (not public API)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from registry.errors import PolicyViolation

__all__ = ["add_unique", "coerce_enum", "eq_or_null", "normalize_handle", "require_text"]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


def normalize_handle(handle: str) -> str:
    """GitHub logins are case-insensitive: the registry keeps and compares them lowercase."""
    return handle.strip().lower()


def coerce_enum(enum_class: type[E], value: E | str, *, what: str) -> E:
    """``value`` as a member of ``enum_class``; PolicyViolation listing the choices if not."""
    try:
        return enum_class(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum_class)
        raise PolicyViolation(f"{what} {value!r} is not one of: {choices}") from None


def require_text(value: str, *, what: str, max_length: int) -> str:
    """``value`` if it is a non-blank string of at most ``max_length`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise PolicyViolation(f"{what} must not be empty")
    if len(value) > max_length:
        raise PolicyViolation(f"{what} is {len(value)} characters long; the limit is {max_length}")
    return value


def eq_or_null(column: InstrumentedAttribute[T | None], value: T | None) -> ColumnElement[bool]:
    """``column = value``, or ``column IS NULL`` when value is None (SQL's NULL <> NULL)."""
    return column.is_(None) if value is None else column == value


def add_unique(session: Session, row: T, *, reload: Callable[[], T | None]) -> T:
    """Insert ``row``; if a concurrent transaction inserted the same natural key first,
    return that row (found by ``reload``) instead of failing.

    The insert runs in a savepoint so that losing the race leaves the caller's
    transaction usable (PostgreSQL aborts a transaction on a failed statement otherwise).
    """
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = reload()
        if existing is None:
            raise
        return existing
    return row
