"""The registry's tables: who is who, what exists, who answers for it, and what happened.

Typed SQLAlchemy 2.0 models. Every relationship is ``lazy="raise"`` so that no query hides
in attribute access: query functions load what they return explicitly (``selectinload``,
joins). Enumerations are ``StrEnum`` stored as plain strings (``native_enum=False``), so
that adding a value needs no migration and the same migrations run on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AccessGrant",
    "ActionClaim",
    "Base",
    "CostRecord",
    "Dependency",
    "DriftClass",
    "DriftFinding",
    "GrantStatus",
    "JSONType",
    "JournalEntry",
    "Lifecycle",
    "OutboxEvent",
    "Person",
    "Provider",
    "Resource",
    "ResourceStatus",
    "Service",
    "ServiceStatus",
    "Team",
    "TeamMembership",
    "TeamRole",
    "TimestampedModel",
    "UTCDateTime",
    "utc_now",
]

# Explicit names for every constraint and index, so that migrations can refer to them by
# name on every database (SQLite batch mode needs names to alter constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Enum columns are this wide whatever their values, so adding a value never changes the
# column type (and never needs a migration).
ENUM_LENGTH = 32


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back timezone-aware on every database.

    PostgreSQL stores ``timestamp with time zone``; SQLite has no such type and would hand
    back naive datetimes, so values are stored there as naive UTC and UTC is attached again
    when read. Naive datetimes are refused: their meaning depends on the machine.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive UTC on SQLite); refuse naive datetimes."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to the registry: "
                "pass a timezone-aware datetime (e.g. datetime.now(UTC))"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Hand back an aware datetime in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON everywhere, JSONB on PostgreSQL (indexable, compact, compares by value).
JSONType = JSON().with_variant(JSONB(), "postgresql")


def _enum(enum_class: type[StrEnum]) -> Enum:
    """A StrEnum column stored as a VARCHAR holding the member's value."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=ENUM_LENGTH,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class ServiceStatus(StrEnum):
    """Where a service is in its life."""

    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    RETIRED = "retired"


class Lifecycle(StrEnum):
    """How much a service can be relied upon."""

    EXPERIMENTAL = "experimental"
    PRODUCTION = "production"
    DEPRECATED = "deprecated"


class Provider(StrEnum):
    """Who holds a resource."""

    GITHUB = "github"
    AWS = "aws"
    KAFKA = "kafka"


class ResourceStatus(StrEnum):
    """Where a resource is in its life; ``planned`` is written before the provider is called."""

    PLANNED = "planned"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    RETIRING = "retiring"
    RETIRED = "retired"


class TeamRole(StrEnum):
    """A person's role in a team."""

    MEMBER = "member"
    LEAD = "lead"


class GrantStatus(StrEnum):
    """Whether an access grant is in force."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class DriftClass(StrEnum):
    """How what a provider holds differs from what the registry declares."""

    UNMANAGED = "unmanaged"  # exists, not in the registry
    MISSING = "missing"  # in the registry, gone from the provider
    CHANGED = "changed"  # a declared setting differs
    MISTAGGED = "mistagged"  # policy tags missing or wrong
    OWNERLESS = "ownerless"  # no active accountable owner


class Base(DeclarativeBase):
    """The declarative base: one metadata with Paved's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampedModel(Base):
    """An integer id, and when the row was created and last updated (UTC, aware)."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, onupdate=utc_now)


class Person(TimestampedModel):
    """Someone who can ask for things and answer for them. ``handle`` is the GitHub login."""

    __tablename__ = "people"

    handle: Mapped[str] = mapped_column(String(39), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The name of a notification block (Slack webhook, e-mail) to reach this person by.
    notify_channel: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"Person(handle={self.handle!r}, active={self.active})"


class Team(TimestampedModel):
    """A team owns services; its lead approves changes and watches cost by default."""

    __tablename__ = "teams"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # True when the lead was named in Paved on purpose; otherwise the people sync makes
    # the team's GitHub maintainer its lead.
    lead_explicit: Mapped[bool] = mapped_column(default=False)
    cost_center: Mapped[str] = mapped_column(String(64))

    # What the team may spend per week (USD) before its cost watchers hear of it.
    weekly_budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))

    lead: Mapped[Person | None] = relationship(lazy="raise")
    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="team", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Team(slug={self.slug!r})"


class TeamMembership(TimestampedModel):
    """A person's membership of a team."""

    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "person_id"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    role: Mapped[TeamRole] = mapped_column(_enum(TeamRole), default=TeamRole.MEMBER)

    team: Mapped[Team] = relationship(back_populates="memberships", lazy="raise")
    person: Mapped[Person] = relationship(lazy="raise")


class Service(TimestampedModel):
    """A deployable thing with one accountable owner, and who to call about it."""

    __tablename__ = "services"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    change_approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    oncall_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    cost_watcher_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    status: Mapped[ServiceStatus] = mapped_column(
        _enum(ServiceStatus), default=ServiceStatus.PROVISIONING
    )
    description: Mapped[str] = mapped_column(Text, default="")
    lifecycle: Mapped[Lifecycle] = mapped_column(_enum(Lifecycle), default=Lifecycle.EXPERIMENTAL)
    # What the service may spend per week (USD) before its cost watcher hears of it.
    weekly_budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))

    team: Mapped[Team] = relationship(lazy="raise")
    owner: Mapped[Person] = relationship(foreign_keys=[owner_id], lazy="raise")
    change_approver: Mapped[Person | None] = relationship(
        foreign_keys=[change_approver_id], lazy="raise"
    )
    oncall: Mapped[Person | None] = relationship(foreign_keys=[oncall_id], lazy="raise")
    cost_watcher: Mapped[Person | None] = relationship(foreign_keys=[cost_watcher_id], lazy="raise")

    def __repr__(self) -> str:
        return f"Service(name={self.name!r}, status={self.status.value!r})"


class Resource(TimestampedModel):
    """Something a provider holds for a service: a repository, a bucket, a topic.

    ``name`` is the policy name (the natural key with provider and kind); ``external_id``
    is what the provider calls it (ARN, ``org/repo``, topic name) once it exists. A
    resource without a service is an orphan: found by an audit, claimed by nobody yet.
    """

    __tablename__ = "resources"
    __table_args__ = (UniqueConstraint("provider", "kind", "name"),)

    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True
    )
    provider: Mapped[Provider] = mapped_column(_enum(Provider))
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255), index=True)
    external_id: Mapped[str | None] = mapped_column(String(2048), index=True)
    url: Mapped[str | None] = mapped_column(String(2048), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    status: Mapped[ResourceStatus] = mapped_column(
        _enum(ResourceStatus), default=ResourceStatus.PLANNED
    )
    error: Mapped[str | None] = mapped_column(Text)

    service: Mapped[Service | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"Resource({self.provider.value}/{self.kind}/{self.name}, status={self.status.value!r})"
        )


class Dependency(TimestampedModel):
    """A service depends on exactly one other service or one resource."""

    __tablename__ = "dependencies"
    __table_args__ = (
        CheckConstraint(
            "(depends_on_service_id IS NULL) <> (depends_on_resource_id IS NULL)",
            name="exactly_one_target",
        ),
        # NULLs are distinct in unique constraints on both databases, so each constraint
        # only bites on rows whose target is of its kind.
        UniqueConstraint("service_id", "depends_on_service_id", "kind"),
        UniqueConstraint("service_id", "depends_on_resource_id", "kind"),
    )

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    depends_on_service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    depends_on_resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64), default="uses")
    description: Mapped[str] = mapped_column(Text, default="")

    service: Mapped[Service] = relationship(foreign_keys=[service_id], lazy="raise")
    depends_on_service: Mapped[Service | None] = relationship(
        foreign_keys=[depends_on_service_id], lazy="raise"
    )
    depends_on_resource: Mapped[Resource | None] = relationship(lazy="raise")


class AccessGrant(TimestampedModel):
    """A permission given to a person, on a service, a resource, or neither (global)."""

    __tablename__ = "access_grants"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    permission: Mapped[str] = mapped_column(String(128))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[GrantStatus] = mapped_column(_enum(GrantStatus), default=GrantStatus.ACTIVE)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="raise")
    approver: Mapped[Person | None] = relationship(foreign_keys=[approver_id], lazy="raise")
    service: Mapped[Service | None] = relationship(lazy="raise")
    resource: Mapped[Resource | None] = relationship(lazy="raise")


class JournalEntry(Base):
    """One state change of one run of an action. Append-only: rows are never updated.

    Requester, team and service are plain strings, not foreign keys, so that history
    outlives the people, teams and services it mentions. ``parameters`` must already be
    redacted by the caller.
    """

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_run_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(128), index=True)
    requester: Mapped[str] = mapped_column(String(255))
    team: Mapped[str] = mapped_column(String(255), index=True)
    service: Mapped[str] = mapped_column(String(255))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    manual: Mapped[bool] = mapped_column(default=False)
    minutes_spent: Mapped[float | None]
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    def __repr__(self) -> str:
        return f"JournalEntry({self.flow_run_id}, {self.action}, {self.state})"


@event.listens_for(JournalEntry, "before_update")
def _refuse_journal_update(_mapper: object, _connection: object, entry: JournalEntry) -> None:
    # The journal is evidence: a changed row would rewrite what happened. A new state of
    # a run is a new row (append_journal), never an edit.
    raise TypeError(
        f"journal entries are append-only: entry {entry.id} of run {entry.flow_run_id!r} "
        "cannot be changed; append a new entry instead"
    )


@event.listens_for(JournalEntry, "before_delete")
def _refuse_journal_delete(_mapper: object, _connection: object, entry: JournalEntry) -> None:
    raise TypeError(
        f"journal entries are append-only: entry {entry.id} of run {entry.flow_run_id!r} "
        "cannot be deleted"
    )


class ActionClaim(Base):
    """A claim on a name by one in-flight run, so two runs cannot make the same thing.

    ``key`` is e.g. ``service:orders``; the unique constraint makes the database the
    referee when two runs claim at once. A claim past ``expires_at`` (its run crashed) or
    whose run has journaled its end may be taken over.
    """

    __tablename__ = "action_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    holder: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"ActionClaim({self.key} by {self.holder})"


class OutboxEvent(Base):
    """A registry change waiting to be published to Kafka (the transactional outbox).

    Written in the same transaction as the change it describes, so an event exists if and
    only if the change was committed. ``version`` counts the events of one service (the
    message key) from 1 up; with ``event_id`` it lets consumers drop the duplicates that
    at-least-once publishing can deliver. ``published_at`` is set once Kafka acknowledged.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (UniqueConstraint("service", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    service: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    def __repr__(self) -> str:
        return f"OutboxEvent({self.event_type} {self.service} v{self.version})"


class DriftFinding(Base):
    """One difference between the registry and a provider, from first seen to resolved.

    ``fingerprint`` (class, provider, kind, identifier) names the same difference across
    audit runs: a run that sees it again moves ``last_seen``; a run that no longer sees
    it sets ``resolved_at``. At most one open finding per fingerprint (a partial unique
    index); a difference that comes back after being resolved opens a new row, so the
    history of each stays. ``owner`` is the person told: the accountable owner, or for
    an ownerless or unmanaged thing the team lead the registry suggests. Names are plain
    strings, like the journal's, so findings outlive the rows they mention.
    """

    __tablename__ = "drift_findings"
    __table_args__ = (
        Index(
            "ix_drift_findings_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(512))
    drift_class: Mapped[DriftClass] = mapped_column(_enum(DriftClass), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(2048))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id", ondelete="SET NULL"))
    service: Mapped[str | None] = mapped_column(String(63), index=True)
    team: Mapped[str | None] = mapped_column(String(63))
    owner: Mapped[str | None] = mapped_column(String(39), index=True)
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    resolution: Mapped[str | None] = mapped_column(String(32))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_id: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        state = "open" if self.resolved_at is None else "resolved"
        return f"DriftFinding({self.drift_class.value} {self.identifier}, {state})"


class CostRecord(Base):
    """Spend of one week for one (service tag, team tag) pair, from Cost Explorer.

    ``service`` and ``team`` are the tag values as billed ('' when the tag is absent), not
    foreign keys: spend on a tag the registry does not know is exactly what the cost
    audit must show. Re-running the audit for the same weeks overwrites the rows.
    """

    __tablename__ = "cost_records"
    __table_args__ = (UniqueConstraint("week_start", "service", "team"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, index=True)
    service: Mapped[str] = mapped_column(String(255))
    team: Mapped[str] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    unit: Mapped[str] = mapped_column(String(8))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    def __repr__(self) -> str:
        who = f"{self.service or '-'}/{self.team or '-'}"
        return f"CostRecord({self.week_start} {who} {self.amount})"


class TeamDomain(TimestampedModel):
    """A Kafka topic domain granted to a team besides its own slug (a team's topics are
    `<domain>.<service>.<event>`); a domain is granted to one team at most."""

    __tablename__ = "team_domains"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(63), unique=True)

    team: Mapped[Team] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"TeamDomain(domain={self.domain!r})"
