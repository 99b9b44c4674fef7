"""Engines, sessions and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, String, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from registry import queries
from registry.db import (
    alembic_config,
    cached_engine,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    normalize_url,
    session_scope,
)
from registry.models import Base, JournalEntry, Person, Provider, ResourceStatus, Team


def _schema_diff(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


# --- URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_use_psycopg_3(scheme: str) -> None:
    url = normalize_url(f"{scheme}://paved:secret@db.internal:5432/registry")
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "secret" and url.database == "registry"


def test_explicit_drivers_are_kept() -> None:
    assert normalize_url("postgresql+psycopg://h/db").drivername == "postgresql+psycopg"


def test_relative_sqlite_path_is_pinned_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///state/registry.db")
    try:
        assert engine.url.database == str(tmp_path / "state" / "registry.db")
        monkeypatch.chdir("/")  # a worker's pull step changes directory
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert (tmp_path / "state" / "registry.db").exists()
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_left_alone() -> None:
    assert normalize_url("sqlite://").database in (None, "")
    assert normalize_url("sqlite:///:memory:").database == ":memory:"


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert normalize_url("sqlite:///~/r.db").database == str(tmp_path / "r.db")


# --- engines and sessions -----------------------------------------------------------


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(Team(slug="ghost", name="Ghost", cost_center="cc", lead_id=999_999))
    with pytest.raises(IntegrityError):
        session.flush()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_one_cached_engine_per_url_keeps_the_pragmas(tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    engine = cached_engine(first)
    assert cached_engine(first) is engine
    assert cached_engine(second) is not engine
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_sqlite_transactions_cover_ddl_and_savepoints(tmp_path: Path) -> None:
    # Python's sqlite3 would autocommit DDL; make_engine makes it transactional.
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.rollback()
        assert "t" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _person(handle: str) -> Person:
    return Person(handle=handle, name=handle.title(), email=f"{handle}@acme.example")


def test_session_scope_commits_on_success(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(_person("zoe"))
    with session_scope(engine) as session:
        assert session.query(Person).filter_by(handle="zoe").one().name == "Zoe"


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(_person("zoe"))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.query(Person).filter_by(handle="zoe").one_or_none() is None


def test_objects_stay_readable_after_commit(engine: Engine) -> None:
    with session_scope(engine) as session:
        person = _person("zoe")
        session.add(person)
    assert person.handle == "zoe" and person.id is not None


def test_timestamps_come_back_timezone_aware_in_utc(engine: Engine) -> None:
    started = datetime(2026, 11, 26, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        session.add(
            JournalEntry(
                flow_run_id="r1",
                action="github:repo:create",
                requester="alice",
                team="t",
                service="s",
                parameters={},
                state="Running",
                started_at=started,
            )
        )
    with session_scope(engine) as session:
        entry = session.query(JournalEntry).one()
        assert entry.started_at == started
        assert entry.started_at.tzinfo == UTC
        assert entry.recorded_at.tzinfo == UTC


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(
        JournalEntry(
            flow_run_id="r1",
            action="a",
            requester="alice",
            team="t",
            service="s",
            parameters={},
            state="Running",
            started_at=datetime(2026, 1, 1),
        )
    )
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


# --- migrations ---------------------------------------------------------------------


def test_migrate_reaches_head_and_is_idempotent(empty_registry_url: str) -> None:
    assert current_revision(empty_registry_url) is None
    migrate(empty_registry_url)
    assert current_revision(empty_registry_url) == head_revision()
    migrate(empty_registry_url)
    assert current_revision(empty_registry_url) == head_revision()


def test_migrations_create_exactly_the_models(empty_registry_url: str) -> None:
    migrate(empty_registry_url)
    engine = make_engine(empty_registry_url)
    try:
        assert _schema_diff(engine, Base.metadata) == []
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_the_schema_comparison_would_notice_a_drift(engine: Engine) -> None:
    # Guard the guard: a column type changed in the models must show up as a difference.
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["people"].c.handle.type = String(60)
    assert _schema_diff(engine, drifted) != []


def test_current_revision_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "registry.db"
    assert current_revision(f"sqlite:///{missing}") is None
    assert not missing.exists()


def test_the_migration_history_is_linear_and_date_prefixed() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]
    for revision in script.walk_revisions():
        assert not revision.is_merge_point, revision.revision
        assert re.match(r"\d{4}_\d{2}_\d{2}_\d{4}_", Path(revision.path).name), revision.path


def test_percent_in_password_survives_the_alembic_config() -> None:
    config = alembic_config("postgresql://paved:p%40ss%25@127.0.0.1/registry")
    assert "p%40ss%25" in (config.get_main_option("sqlalchemy.url") or "")


def test_enums_are_stored_as_their_lowercase_values(seeded: Session) -> None:
    queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    queries.upsert_resource(
        seeded,
        service="hello",
        provider=Provider.GITHUB,
        kind="github_repository",
        name="acme/hello",
        status=ResourceStatus.PROVISIONING,
    )
    row = seeded.execute(
        text(
            "SELECT s.status, s.lifecycle, r.provider, r.status FROM services s "
            "JOIN resources r ON r.service_id = s.id"
        )
    ).one()
    assert tuple(row) == ("provisioning", "experimental", "github", "provisioning")
