"""How fast the registry answers at scale: who-owns, transitive deps, the journal report.

Seeds 10,000 services holding 100,000 resources (bulk inserts), with service -> service
dependency chains (and a cycle per chain) plus resource dependencies, into a new SQLite
file, and into PostgreSQL too when ``--postgres-url`` names an empty database. Then:

- who-owns: 1,000 ``ownership_of`` lookups of mixed kinds (service name, resource name,
  external id, URL), a session each, as the CLI does; p50 and p99.
- deps: ``deps(transitive=True)`` for 200 services; p50 and p99.
- journal report: 10,000 journal entries over 12 weeks (runs of mixed actions, teams,
  states and durations, most journaled Running then their end, some manual tasks), then
  ``build_report`` and ``requests_per_week`` over the 12 weeks, and the chart drawn from
  them, as `paved journal report --chart` does; best of 3.

- the CLI as a person runs it: `paved who-owns` and `paved deps --transitive` as whole
  processes (a new interpreter and engine each), p50/p99 over 50 calls, the first call
  of each kept out as a warm-up.

Targets: who-owns p99 < 5 ms, transitive deps p99 < 50 ms, journal report < 10 s (the
median of 3 runs). `--json FILE` writes the figures, with `cli_p50_ms`/`cli_p99_ms`.
A script, not a test: it prints figures and asserts nothing about speed.

    .venv/bin/python -m tests.perf.bench_registry [--postgres-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from flows.journal.report import journal_chart_png
from registry.db import make_engine, migrate
from registry.graph import deps
from registry.models import (
    Dependency,
    JournalEntry,
    Person,
    Provider,
    Resource,
    ResourceStatus,
    Service,
    ServiceStatus,
    Team,
    TeamMembership,
    TeamRole,
)
from registry.ownership import ownership_of
from registry.reports import MANUAL_ACTION, build_report, requests_per_week

SERVICES = 10_000
RESOURCES_PER_SERVICE = 10
PEOPLE = 500
TEAMS = 50
CHAIN = 8  # services s, s+1, ... s+7 depend on the next; the last on the first
LINK_EVERY = 2
LOOKUPS = 1_000
CLI_CALLS = 50  # `paved who-owns` / `paved deps` processes, each a new interpreter
PAVED = str(Path(sys.executable).parent / "paved")
DEPS_SAMPLES = 200
WHO_OWNS_P99_MS = 5.0
DEPS_P99_MS = 50.0
JOURNAL_ENTRIES = 10_000
JOURNAL_WEEKS = 12
JOURNAL_REPORT_S = 10.0
_ACTIONS = [
    "service:create",
    "github:repo:create",
    "github:pipeline:create",
    "aws:compute:create",
    "aws:storage:create",
    "kafka:topics:create",
    "access:grant",
    "service:transfer",
]
_ENDS = ["Completed"] * 16 + ["Failed"] * 2 + ["Crashed", "Cancelled"]
_MANUAL_CATEGORIES = ["dns", "database", "credentials", "firewall", "certificates"]
_ERRORS = [
    "TransientProviderError: github 502 on create repository",
    "PermanentProviderError: aws AccessDenied on create bucket",
    "PolicyViolation: topic name does not follow <domain>.<service>.<event>",
]

# (provider, kind, external id, url) of a service's i-th resource.
_KINDS: list[tuple[Provider, str]] = [
    (Provider.GITHUB, "github_repository"),
    (Provider.AWS, "s3_bucket"),
    (Provider.AWS, "ecr_repository"),
    (Provider.AWS, "iam_role"),
    (Provider.KAFKA, "kafka_topic"),
]


def _resource(service_id: int, index: int) -> dict[str, Any]:
    provider, kind = _KINDS[index % len(_KINDS)]
    name = f"svc-{service_id}-{kind}-{index}"
    if provider is Provider.GITHUB:
        external_id, url = f"acme/{name}", f"https://github.example/acme/{name}"
    elif provider is Provider.AWS:
        external_id, url = f"arn:aws:s3:::{name}", None
    else:
        external_id, url = f"{name}.events.v1", None
    return {
        "service_id": service_id,
        "provider": provider,
        "kind": kind,
        "name": name,
        "external_id": external_id,
        "url": url,
        "spec": {},
        "tags": {"service": f"svc-{service_id}"},
        "status": ResourceStatus.ACTIVE,
    }


def seed(engine: Engine) -> None:
    """Bulk-insert the people, teams, services, resources and dependencies."""
    rng = random.Random(7)
    with Session(engine) as session, session.begin():
        session.execute(
            insert(Person),
            [
                {"id": i, "handle": f"dev{i}", "name": f"Dev {i}", "email": f"dev{i}@x.example"}
                for i in range(1, PEOPLE + 1)
            ],
        )
        session.execute(
            insert(Team),
            [
                {
                    "id": t,
                    "slug": f"team-{t}",
                    "name": f"Team {t}",
                    "lead_id": t,
                    "cost_center": "cc",
                }
                for t in range(1, TEAMS + 1)
            ],
        )
        session.execute(
            insert(TeamMembership),
            [
                {
                    "team_id": (p - 1) % TEAMS + 1,
                    "person_id": p,
                    "role": TeamRole.LEAD if p <= TEAMS else TeamRole.MEMBER,
                }
                for p in range(1, PEOPLE + 1)
            ],
        )
        session.execute(
            insert(Service),
            [
                {
                    "id": s,
                    "name": f"svc-{s}",
                    "team_id": (s - 1) % TEAMS + 1,
                    "owner_id": (s - 1) % PEOPLE + 1,
                    "change_approver_id": (s - 1) % TEAMS + 1,
                    "oncall_id": (s - 1) % PEOPLE + 1,
                    "cost_watcher_id": (s - 1) % TEAMS + 1,
                    "status": ServiceStatus.ACTIVE,
                }
                for s in range(1, SERVICES + 1)
            ],
        )
        batch: list[dict[str, Any]] = []
        for s in range(1, SERVICES + 1):
            batch.extend(_resource(s, index) for index in range(RESOURCES_PER_SERVICE))
            if len(batch) >= 10_000:
                session.execute(insert(Resource), batch)
                batch = []
        if batch:
            session.execute(insert(Resource), batch)
        edges: set[tuple[int, int]] = set()
        for start in range(1, SERVICES + 1, CHAIN):
            members = list(range(start, min(start + CHAIN, SERVICES + 1)))
            edges.update(zip(members, members[1:] + members[:1], strict=True))
            # One chain in LINK_EVERY also calls into another chain, so some closures
            # cross chains (and grow to hundreds of services when links line up).
            if (start // CHAIN) % LINK_EVERY == 0:
                edges.add((members[-1], rng.randrange(1, SERVICES + 1)))
        dependencies = [
            {"service_id": a, "depends_on_service_id": b, "kind": "uses"}
            for a, b in sorted(edges)
            if a != b
        ]
        # Each service uses one resource of another service (ids follow insertion order).
        dependencies.extend(
            {
                "service_id": s,
                "depends_on_resource_id": rng.randrange(1, SERVICES * RESOURCES_PER_SERVICE + 1),
                "kind": "reads",
            }
            for s in range(1, SERVICES + 1)
        )
        session.execute(insert(Dependency), dependencies)
    # Planner statistics, as a live registry has them (PostgreSQL's autovacuum would get
    # there on its own, later); without them PostgreSQL may walk the graph by scans.
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _journal_rows(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """JOURNAL_ENTRIES rows over JOURNAL_WEEKS weeks, as runs journal them: automated
    runs a Running row then (most of them) their end; manual tasks one Completed row."""
    rows: list[dict[str, Any]] = []
    run = 0
    while len(rows) < JOURNAL_ENTRIES:
        run += 1
        started = now - timedelta(seconds=rng.uniform(60, JOURNAL_WEEKS * 7 * 86_400))
        common = {
            "flow_run_id": f"bench-run-{run}",
            "requester": f"dev{rng.randrange(1, PEOPLE + 1)}",
            "team": f"team-{rng.randrange(1, TEAMS + 1)}",
            "service": f"svc-{rng.randrange(1, SERVICES + 1)}",
            "started_at": started,
        }
        if rng.random() < 0.1:
            minutes = rng.choice([5, 15, 30, 60, 120])
            category = rng.choice(_MANUAL_CATEGORIES)
            rows.append(
                {
                    **common,
                    "action": MANUAL_ACTION,
                    "parameters": {"what": f"by hand: {category}", "category": category},
                    "state": "Completed",
                    "ended_at": started,
                    "duration_seconds": minutes * 60.0,
                    "manual": True,
                    "minutes_spent": float(minutes),
                }
            )
            continue
        action = rng.choice(_ACTIONS)
        running = {**common, "action": action, "parameters": {"name": common["service"]}}
        rows.append({**running, "state": "Running"})
        if rng.random() < 0.03:
            continue  # still running, or its worker crashed before it could say
        seconds = rng.lognormvariate(3.0, 0.8)
        end = rng.choice(_ENDS)
        rows.append(
            {
                **running,
                "state": end,
                "ended_at": started + timedelta(seconds=seconds),
                "duration_seconds": seconds,
                "error": rng.choice(_ERRORS) if end == "Failed" else None,
            }
        )
    return rows[:JOURNAL_ENTRIES]


def seed_journal(engine: Engine, now: datetime) -> int:
    """Bulk-insert the journal; returns how many runs it holds."""
    # Every row with every column: one executemany statement for all of them.
    defaults = {
        "ended_at": None,
        "duration_seconds": None,
        "error": None,
        "manual": False,
        "minutes_spent": None,
    }
    rows = [{**defaults, **row} for row in _journal_rows(random.Random(13), now)]
    with Session(engine) as session, session.begin():
        for start in range(0, len(rows), 5_000):
            session.execute(insert(JournalEntry), rows[start : start + 5_000])
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return len({row["flow_run_id"] for row in rows})


def bench_journal(engine: Engine) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    runs = seed_journal(engine, now)
    print(
        f"seeded {JOURNAL_ENTRIES:,} journal entries ({runs:,} runs) over {JOURNAL_WEEKS} "
        f"weeks in {time.perf_counter() - started:.1f}s"
    )
    since = now - timedelta(weeks=JOURNAL_WEEKS)
    timings: list[tuple[float, float, float]] = []
    for _ in range(3):
        with Session(engine) as session:
            t0 = time.perf_counter()
            report = build_report(session, since=since)
            t1 = time.perf_counter()
            weeks = requests_per_week(session, since=since)
            t2 = time.perf_counter()
        journal_chart_png(weeks, since=since)
        timings.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
        if report.runs != runs or sum(sum(w.values()) for w in weeks.values()) != runs:
            raise SystemExit("the report does not count every seeded run once")
    # The median run of the three (by total), not the best: a figure a user would get.
    report_s, series_s, chart_s = sorted(timings, key=sum)[1]
    total = report_s + series_s + chart_s
    verdict = "ok" if total < JOURNAL_REPORT_S else "SLOW"
    print(
        f"journal report over {runs:,} runs: {total:.2f} s (build_report {report_s:.2f} s, "
        f"weekly series {series_s:.3f} s, chart {chart_s:.2f} s; "
        f"target < {JOURNAL_REPORT_S:g} s: {verdict}; median of 3)"
    )
    return total


def _lookups(rng: random.Random) -> list[str]:
    things = []
    for n in range(LOOKUPS):
        s = rng.randrange(1, SERVICES + 1)
        resource = _resource(s, rng.randrange(RESOURCES_PER_SERVICE))
        form = n % 4
        if form == 0:
            things.append(f"svc-{s}")
        elif form == 1:
            things.append(resource["name"])
        elif form == 2:
            things.append(resource["external_id"])
        else:
            github = _resource(s, 0)
            things.append(f"{github['url']}.git")
    return things


def _timed(engine: Engine, calls: list[Callable[[Session], object]]) -> list[float]:
    durations = []
    for call in calls:
        started = time.perf_counter()
        with Session(engine) as session:
            answer = call(session)
        durations.append((time.perf_counter() - started) * 1000)
        if answer is None:
            raise SystemExit("a lookup found nothing: the seed and the lookups disagree")
    return durations


def _closures(engine: Engine, names: list[str]) -> list[list[object]]:
    with Session(engine) as session:
        return [list(deps(session, service=name, transitive=True)) for name in names]


def _percentiles(durations: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _cli_ms(url: str, commands: list[list[str]]) -> list[float]:
    """Each `paved ...` command's wall clock in ms, as a whole process against the
    registry at `url` (a new interpreter and engine per call, as a person gets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}
    env["PAVED_REGISTRY_URL"] = url
    durations = []
    for command in commands:
        started = time.perf_counter()
        done = subprocess.run([PAVED, *command], env=env, capture_output=True, text=True)
        durations.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"paved {' '.join(command)} failed: {done.stdout}{done.stderr}")
    return durations


def bench(label: str, url: str) -> dict[str, float]:
    """Seed the registry at `url`, print its figures and return them."""
    figures: dict[str, float] = {}
    print(f"\n== {label}")
    started = time.perf_counter()
    migrate(url)
    engine = make_engine(url)
    try:
        seed(engine)
        print(
            f"seeded {SERVICES:,} services, {SERVICES * RESOURCES_PER_SERVICE:,} resources "
            f"in {time.perf_counter() - started:.1f}s"
        )
        rng = random.Random(11)
        things = _lookups(rng)
        # Warm the pool and the database's caches with a few lookups first.
        _timed(engine, [lambda session, t=t: ownership_of(session, thing=t) for t in things[:20]])
        who = _timed(engine, [lambda session, t=t: ownership_of(session, thing=t) for t in things])
        p50, p99 = _percentiles(who)
        verdict = "ok" if p99 < WHO_OWNS_P99_MS else "SLOW"
        print(
            f"who-owns  {LOOKUPS} lookups: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"(target p99 < {WHO_OWNS_P99_MS:g} ms: {verdict}; in process, one warm engine)"
        )
        figures |= {"who_owns_p50_ms": round(p50, 2), "who_owns_p99_ms": round(p99, 2)}
        names = [f"svc-{rng.randrange(1, SERVICES + 1)}" for _ in range(DEPS_SAMPLES)]
        closure = _timed(
            engine, [lambda session, n=n: deps(session, service=n, transitive=True) for n in names]
        )
        sizes = [len(deps_rows) for deps_rows in _closures(engine, names)]
        print(f"closure sizes (edges): mean {statistics.mean(sizes):.0f}, max {max(sizes)}")
        p50, p99 = _percentiles(closure)
        verdict = "ok" if p99 < DEPS_P99_MS else "SLOW"
        print(
            f"deps --transitive {DEPS_SAMPLES} services: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"(target p99 < {DEPS_P99_MS:g} ms: {verdict}; in process, one warm engine)"
        )
        figures |= {"deps_p50_ms": round(p50, 2), "deps_p99_ms": round(p99, 2)}
        # What a person waits for: `paved who-owns` / `paved deps` as processes. The first
        # call of each is a warm-up (the OS's file cache), kept out of the sample.
        commands = [["who-owns", thing, "--json"] for thing in things[: CLI_CALLS + 1]]
        who_cli = _cli_ms(url, commands)[1:]
        commands = [["deps", name, "--transitive", "--json"] for name in names[: CLI_CALLS + 1]]
        deps_cli = _cli_ms(url, commands)[1:]
        for what, sample in (("who_owns", who_cli), ("deps", deps_cli)):
            p50, p99 = _percentiles(sample)
            figures |= {f"{what}_cli_p50_ms": round(p50, 1), f"{what}_cli_p99_ms": round(p99, 1)}
            print(
                f"paved {what.replace('_', '-')} as a process, {CLI_CALLS} calls: "
                f"p50 {p50:.0f} ms, p99 {p99:.0f} ms"
            )
        figures["cli_p50_ms"] = figures["who_owns_cli_p50_ms"]
        figures["cli_p99_ms"] = figures["who_owns_cli_p99_ms"]
        figures["journal_report_s"] = round(bench_journal(engine), 2)
    finally:
        engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url", help="an EMPTY PostgreSQL database to seed and measure as well"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="paved-bench-") as directory:
        figures["sqlite"] = bench("SQLite", f"sqlite:///{Path(directory) / 'registry.db'}")
    if args.postgres_url:
        figures["postgres"] = bench("PostgreSQL", args.postgres_url)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
