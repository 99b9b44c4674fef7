"""Cost records, budgets, and what the weekly cost audit reads out of them.

Spend arrives from Cost Explorer grouped by the ``paved:service`` and ``paved:team`` tags
and is kept per ISO week (``record_costs``, idempotent per week and tag pair). The
analysis joins it to the registry, the single key from resource to accountable person:
totals per service, team and accountable owner; budgets per service and team; growth
over both a relative and an absolute threshold week over week; and the spend no
``paved:service`` tag explains, with the person who probably answers for it when a
``paved:team`` tag or a known team names them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from registry.errors import PolicyViolation
from registry.models import CostRecord, Service, ServiceStatus, Team

__all__ = [
    "CostAnalysis",
    "CostRow",
    "ServiceCost",
    "TeamCost",
    "UnattributedCost",
    "analyse_week",
    "cost_series",
    "record_costs",
    "set_budget",
]

ZERO = Decimal(0)


@dataclass(frozen=True)
class CostRow:
    """One week's spend for one tag pair, as Cost Explorer reports it ('' = no tag)."""

    week_start: date
    service: str
    team: str
    amount: Decimal
    unit: str = "USD"


def record_costs(session: Session, *, rows: Iterable[CostRow]) -> int:
    """Store ``rows``, replacing whatever was stored for the same weeks (a re-run of the
    audit, or Cost Explorer revising its estimate, converges). Returns rows stored."""
    merged: dict[tuple[date, str, str], CostRow] = {}
    for row in rows:
        if row.week_start.weekday() != 0:
            raise PolicyViolation(f"cost week {row.week_start} does not start on a Monday")
        key = (row.week_start, row.service, row.team)
        if key in merged:
            row = CostRow(*key, amount=merged[key].amount + row.amount, unit=row.unit)
        merged[key] = row
    weeks = {week for week, _, _ in merged}
    if weeks:
        session.execute(delete(CostRecord).where(CostRecord.week_start.in_(weeks)))
    session.add_all(
        CostRecord(
            week_start=row.week_start,
            service=row.service,
            team=row.team,
            amount=row.amount,
            unit=row.unit,
        )
        for row in merged.values()
    )
    session.flush()
    return len(merged)


def set_budget(
    session: Session,
    *,
    weekly_usd: Decimal | None,
    service: str | None = None,
    team: str | None = None,
) -> None:
    """Set (None: clear) the weekly budget of one service or one team."""
    if (service is None) == (team is None):
        raise PolicyViolation("set a budget on exactly one of a service or a team")
    if weekly_usd is not None and weekly_usd < 0:
        raise PolicyViolation(f"a budget cannot be negative: {weekly_usd}")
    target: Service | Team | None
    if service is not None:
        target = session.scalar(select(Service).where(Service.name == service))
        what = f"service {service!r}"
    else:
        target = session.scalar(select(Team).where(Team.slug == team))
        what = f"team {team!r}"
    if target is None:
        raise PolicyViolation(f"no {what} in the registry")
    target.weekly_budget_usd = weekly_usd
    session.flush()


def cost_series(session: Session, *, since: date) -> dict[date, dict[str, Decimal]]:
    """Spend per week per team tag since ``since`` ('' becomes "untagged"), for charts."""
    series: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for record in session.scalars(select(CostRecord).where(CostRecord.week_start >= since)):
        series[record.week_start][record.team or "untagged"] += record.amount
    return {week: dict(teams) for week, teams in sorted(series.items())}


@dataclass(frozen=True)
class ServiceCost:
    """One service's week against its budget and its previous week."""

    service: str
    team: str
    owner: str
    cost_watcher: str | None
    amount: Decimal
    previous: Decimal
    budget: Decimal | None
    over_budget: bool
    anomalous: bool


@dataclass(frozen=True)
class TeamCost:
    """One team's week (all its tagged spend) against its budget and previous week."""

    team: str
    lead: str | None
    amount: Decimal
    previous: Decimal
    budget: Decimal | None
    over_budget: bool
    anomalous: bool


@dataclass(frozen=True)
class UnattributedCost:
    """Spend no registered service explains, and who probably answers for it."""

    service_tag: str
    team_tag: str
    amount: Decimal
    probable_owner: str | None
    reason: str


@dataclass(frozen=True)
class CostAnalysis:
    """The cost audit's reading of one week."""

    week_start: date
    unit: str
    total: Decimal
    untagged: Decimal
    services: list[ServiceCost]
    teams: list[TeamCost]
    by_owner: dict[str, Decimal]
    unattributed: list[UnattributedCost]

    @property
    def untagged_share(self) -> float:
        """The share of the week's spend without a ``paved:service`` tag."""
        return float(self.untagged / self.total) if self.total else 0.0


def _anomalous(
    amount: Decimal, previous: Decimal, *, growth_ratio: float, growth_usd: Decimal
) -> bool:
    # Both thresholds: +300% on $2 is noise, +$500 on $100,000 is noise too.
    growth = amount - previous
    if growth < growth_usd:
        return False
    return previous == ZERO or float(growth / previous) >= growth_ratio


def analyse_week(
    session: Session,
    *,
    week_start: date,
    growth_ratio: float = 0.5,
    growth_usd: Decimal = Decimal(50),
) -> CostAnalysis:
    """Read the week starting ``week_start`` against budgets and the week before."""
    previous_start = week_start - timedelta(days=7)
    records = session.scalars(
        select(CostRecord).where(CostRecord.week_start.in_((week_start, previous_start)))
    ).all()
    now: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    before: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    units = {r.unit for r in records if r.week_start == week_start} or {"USD"}
    for record in records:
        target = now if record.week_start == week_start else before
        target[(record.service, record.team)] += record.amount

    services = {
        s.name: s
        for s in session.scalars(
            select(Service).options(
                selectinload(Service.team).selectinload(Team.lead),
                selectinload(Service.owner),
                selectinload(Service.cost_watcher),
            )
        )
    }
    teams = {t.slug: t for t in session.scalars(select(Team).options(selectinload(Team.lead)))}

    def per_service(amounts: dict[tuple[str, str], Decimal]) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for (service_tag, _), amount in amounts.items():
            if service_tag in services:
                totals[service_tag] += amount
        return totals

    def per_team(amounts: dict[tuple[str, str], Decimal]) -> dict[str, Decimal]:
        # A service's spend counts for the team that owns it now, whatever the team tag
        # said when it was billed; spend of unknown services counts for its team tag.
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for (service_tag, team_tag), amount in amounts.items():
            service = services.get(service_tag)
            team = service.team.slug if service else team_tag
            if team in teams:
                totals[team] += amount
        return totals

    service_now, service_before = per_service(now), per_service(before)
    service_rows: list[ServiceCost] = []
    by_owner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for name in sorted(set(service_now) | set(service_before)):
        service = services[name]
        amount, previous = service_now.get(name, ZERO), service_before.get(name, ZERO)
        budget = service.weekly_budget_usd
        watcher = service.cost_watcher or service.team.lead
        service_rows.append(
            ServiceCost(
                service=name,
                team=service.team.slug,
                owner=service.owner.handle,
                cost_watcher=watcher.handle if watcher else None,
                amount=amount,
                previous=previous,
                budget=budget,
                over_budget=budget is not None and amount > budget,
                anomalous=_anomalous(
                    amount, previous, growth_ratio=growth_ratio, growth_usd=growth_usd
                ),
            )
        )
        by_owner[service.owner.handle] += amount

    team_now, team_before = per_team(now), per_team(before)
    team_rows = []
    for slug in sorted(set(team_now) | set(team_before)):
        team = teams[slug]
        amount, previous = team_now.get(slug, ZERO), team_before.get(slug, ZERO)
        team_rows.append(
            TeamCost(
                team=slug,
                lead=team.lead.handle if team.lead else None,
                amount=amount,
                previous=previous,
                budget=team.weekly_budget_usd,
                over_budget=team.weekly_budget_usd is not None and amount > team.weekly_budget_usd,
                anomalous=_anomalous(
                    amount, previous, growth_ratio=growth_ratio, growth_usd=growth_usd
                ),
            )
        )

    unattributed = []
    for (service_tag, team_tag), amount in sorted(now.items()):
        if service_tag in services:
            continue
        tagged_team = teams.get(team_tag)
        owner: str | None
        if tagged_team is not None and tagged_team.lead is not None:
            owner, reason = tagged_team.lead.handle, f"lead of team {team_tag!r} (paved:team tag)"
        elif service_tag:
            owner, reason = None, f"service tag {service_tag!r} is not in the registry"
        else:
            owner, reason = None, "no paved:service or known paved:team tag"
        if tagged_team is not None and tagged_team.lead is None:
            reason = f"team {team_tag!r} has no lead"
        unattributed.append(
            UnattributedCost(
                service_tag=service_tag,
                team_tag=team_tag,
                amount=amount,
                probable_owner=owner,
                reason=reason,
            )
        )
    retired = {n for n, s in services.items() if s.status is ServiceStatus.RETIRED}
    return CostAnalysis(
        week_start=week_start,
        unit=sorted(units)[0],
        total=sum(now.values(), ZERO),
        untagged=sum((a for (service_tag, _), a in now.items() if not service_tag), ZERO),
        services=[s for s in service_rows if s.service not in retired or s.amount > ZERO],
        teams=team_rows,
        by_owner=dict(by_owner),
        unattributed=unattributed,
    )
