"""The dependency graph both ways, closure in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry import queries
from registry.errors import NotFound
from registry.graph import DependencyRow


def _service(session: Session, name: str) -> None:
    queries.get_or_create_service(session, name=name, team="platform", owner="bob")


@pytest.fixture
def graph(seeded: Session) -> Session:
    """web -> api -> db-svc -> web (a cycle), api -> topic, db-svc -> bucket; lone has none."""
    for name in ("web", "api", "db-svc", "lone"):
        _service(seeded, name)
    queries.upsert_resource(
        seeded,
        service="api",
        provider="kafka",
        kind="kafka_topic",
        name="orders.events.v1",
        external_id="orders.events.v1",
        status="active",
    )
    queries.upsert_resource(
        seeded,
        service="db-svc",
        provider="aws",
        kind="s3_bucket",
        name="acme-data",
        external_id="arn:aws:s3:::acme-data",
        status="active",
    )
    queries.add_dependency(seeded, service="web", depends_on_service="api")
    queries.add_dependency(seeded, service="api", depends_on_service="db-svc")
    queries.add_dependency(seeded, service="db-svc", depends_on_service="web", kind="calls")
    queries.add_dependency(
        seeded, service="api", depends_on_resource=("kafka", "kafka_topic", "orders.events.v1")
    )
    queries.add_dependency(
        seeded, service="db-svc", depends_on_resource=("aws", "s3_bucket", "acme-data")
    )
    return seeded


def _edges(rows: list[DependencyRow]) -> list[tuple[str, str, int]]:
    return [(row.service, row.target, row.depth) for row in rows]


def test_direct_deps_are_the_service_own_edges(graph: Session) -> None:
    rows = queries.deps(graph, service="api")
    assert _edges(rows) == [("api", "orders.events.v1", 1), ("api", "db-svc", 1)]
    topic = rows[0]
    assert (topic.target_type, topic.provider, topic.resource_kind, topic.external_id) == (
        "resource",
        "kafka",
        "kafka_topic",
        "orders.events.v1",
    )
    assert rows[1].target_type == "service"
    assert rows[1].provider is None


def test_transitive_deps_follow_services_and_stop_on_a_cycle(graph: Session) -> None:
    rows = queries.deps(graph, service="web", transitive=True)
    # By depth, then service, then resources before services.
    assert _edges(rows) == [
        ("web", "api", 1),
        ("api", "orders.events.v1", 2),
        ("api", "db-svc", 2),
        ("db-svc", "acme-data", 3),
        ("db-svc", "web", 3),
    ]
    # The cycle's edge back to web is listed once, with its kind.
    back = [row for row in rows if row.target == "web"]
    assert [(row.kind, row.depth) for row in back] == [("calls", 3)]


def test_a_two_service_cycle_terminates(seeded: Session) -> None:
    _service(seeded, "aa")
    _service(seeded, "bb")
    queries.add_dependency(seeded, service="aa", depends_on_service="bb")
    queries.add_dependency(seeded, service="bb", depends_on_service="aa")
    assert _edges(queries.deps(seeded, service="aa", transitive=True)) == [
        ("aa", "bb", 1),
        ("bb", "aa", 2),
    ]
    assert _edges(queries.dependents(seeded, thing="aa")) == [("bb", "aa", 1), ("aa", "bb", 2)]


def test_depth_is_the_shortest_path(seeded: Session) -> None:
    # aa -> bb -> cc -> dd and aa -> dd: dd's own edges are at depth 2, not 4.
    for name in ("aa", "bb", "cc", "dd", "ee"):
        _service(seeded, name)
    for source, target in (("aa", "bb"), ("bb", "cc"), ("cc", "dd"), ("aa", "dd"), ("dd", "ee")):
        queries.add_dependency(seeded, service=source, depends_on_service=target)
    assert _edges(queries.deps(seeded, service="aa", transitive=True)) == [
        ("aa", "bb", 1),
        ("aa", "dd", 1),
        ("bb", "cc", 2),
        ("dd", "ee", 2),
        ("cc", "dd", 3),
    ]


def test_transitive_closure_matches_a_python_walk(seeded: Session) -> None:
    # A layered graph with diamonds and a long chain: every reachable edge, once.
    names = [f"s{i}" for i in range(12)]
    for name in names:
        _service(seeded, name)
    edges = {(i, j) for i in range(12) for j in (i + 1, i + 3) if j < 12}
    for i, j in sorted(edges):
        queries.add_dependency(seeded, service=names[i], depends_on_service=names[j])
    depth = {0: 0}
    frontier = [0]
    while frontier:
        following = []
        for node in frontier:
            for i, j in sorted(edges):
                if i == node and j not in depth:
                    depth[j] = depth[node] + 1
                    following.append(j)
        frontier = following
    expected = sorted((depth[i] + 1, names[i], names[j]) for i, j in edges if i in depth)
    rows = queries.deps(seeded, service="s0", transitive=True)
    assert sorted((row.depth, row.service, row.target) for row in rows) == expected


def test_a_service_without_dependencies_has_none(graph: Session) -> None:
    assert queries.deps(graph, service="lone", transitive=True) == []
    assert queries.dependents(graph, thing="lone") == []


def test_deps_of_an_unknown_service(graph: Session) -> None:
    with pytest.raises(NotFound, match="no service 'nope'"):
        queries.deps(graph, service="nope", transitive=True)


def test_dependents_of_a_service_are_transitive(graph: Session) -> None:
    assert _edges(queries.dependents(graph, thing="db-svc")) == [
        ("api", "db-svc", 1),
        ("web", "api", 2),
        ("db-svc", "web", 3),
    ]


def test_dependents_of_a_resource_by_name_and_external_id(graph: Session) -> None:
    by_name = queries.dependents(graph, thing="acme-data")
    assert _edges(by_name) == [
        ("db-svc", "acme-data", 1),
        ("api", "db-svc", 2),
        ("web", "api", 3),
        ("db-svc", "web", 4),
    ]
    assert queries.dependents(graph, thing="arn:aws:s3:::acme-data") == by_name


def test_dependents_of_an_unknown_thing(graph: Session) -> None:
    with pytest.raises(NotFound, match="no service or resource 'nope'"):
        queries.dependents(graph, thing="nope")
