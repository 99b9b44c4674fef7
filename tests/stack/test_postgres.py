"""The postgres database mode (issue 10): a real PostgreSQL cluster under PAVED_HOME,
started, checked, listed, stopped; the mode remembered; Prefect's server running on it.

The cluster comes from Debian's PostgreSQL 15 server binaries, as in the registry tests;
without them these tests skip (`make postgres` installs them, `make test` does it first).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from paved.cli import app
from paved.processes import ComponentFailed, process_alive
from paved.settings import Settings
from paved.stack import _leave_the_other_mode, stack_status, start_stack, stop_stack

PG_BIN = Path("/usr/lib/postgresql/15/bin")
needs_postgres = pytest.mark.skipif(
    not (PG_BIN / "initdb").is_file(),
    reason=f"PostgreSQL 15 server binaries not found in {PG_BIN} (`make postgres` installs them)",
)

runner = CliRunner()


@pytest.fixture
def home(settings: Settings, clean_env: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PAVED_HOME the postgres OS user can reach (the `settings` fixture's ports).

    tmp_path lies under /tmp/pytest-of-<user>, mode 0700: when the tests run as root, the
    cluster runs as `postgres`, who could not reach a home there."""
    directory = Path(tempfile.mkdtemp(prefix="paved-stack-pg-"))
    directory.chmod(0o755)
    home = directory / "home"
    clean_env.setenv("PAVED_HOME", str(home))
    try:
        yield home
    finally:
        # Whatever mode was remembered, stop_stack stops the cluster too.
        stop_stack(Settings())
        shutil.rmtree(directory, ignore_errors=True)


def _on_postgres() -> Settings:
    return Settings(database="postgres")


def _databases(settings: Settings) -> set[str]:
    url = f"postgresql://paved@{settings.host}:{settings.postgres_port}/postgres"
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT datname FROM pg_database").fetchall()
    return {row[0] for row in rows}


def _show(settings: Settings, parameter: str) -> str:
    url = f"postgresql://paved@{settings.host}:{settings.postgres_port}/postgres"
    with psycopg.connect(url) as connection:
        row = connection.execute(f"SHOW {parameter}").fetchone()
    assert row is not None
    return str(row[0])


@needs_postgres
def test_the_cluster_starts_is_listed_and_stops(home: Path) -> None:
    settings = _on_postgres()
    with pytest.raises(ComponentFailed, match="keeps its data in PostgreSQL"):
        start_stack(settings, components=["prefect"])  # prefect needs the cluster first

    said: dict[str, str] = {}
    status = start_stack(
        settings,
        components=["postgres"],
        progress=lambda name, message: said.update({name: message}),
    )

    assert "cluster made in" in said["postgres"]
    assert "created database(s) prefect, registry" in said["postgres"]
    postgres = status.components["postgres"]
    assert postgres.healthy, postgres.detail
    assert postgres.url == f"postgresql://paved@127.0.0.1:{settings.postgres_port}"
    assert postgres.pid is not None and process_alive(postgres.pid)
    assert status.database == "postgres"
    assert {"prefect", "registry"} <= _databases(settings)
    # Loopback only, over TCP only, trusting that address alone.
    assert _show(settings, "listen_addresses") == "127.0.0.1"
    assert _show(settings, "unix_socket_directories") == ""
    hba = (settings.postgres_dir / "data" / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules == [["host", "all", "all", "127.0.0.1/32", "trust"]]
    if os.geteuid() == 0:  # PostgreSQL refuses root: the postgres OS user runs it
        assert (settings.postgres_dir / "data").owner() == "postgres"

    again: dict[str, str] = {}
    start_stack(
        settings,
        components=["postgres"],
        progress=lambda name, message: again.update({name: message}),
    )
    assert again["postgres"] == f"already running (pid {postgres.pid})"

    assert stop_stack(settings) == ["postgres"]
    assert not process_alive(postgres.pid)
    stopped = stack_status(settings).components["postgres"]
    assert not stopped.healthy and stopped.detail == "not running"

    restarted: dict[str, str] = {}
    start_stack(
        settings,
        components=["postgres"],
        progress=lambda name, message: restarted.update({name: message}),
    )
    # The cluster and its databases outlive a stop.
    assert restarted["postgres"].startswith("started in")
    assert "created" not in restarted["postgres"]


@needs_postgres
def test_the_mode_is_remembered_and_the_urls_point_at_the_cluster(
    home: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("PAVED_DATABASE", "postgres")
    started = runner.invoke(app, ["start", "postgres", "registry"])
    assert started.exit_code == 0, started.output
    assert "✓ registry: migrated to head" in started.output
    clean_env.delenv("PAVED_DATABASE")

    # No flag, no variable: the mode the stack was started in.
    settings = Settings()
    port = settings.postgres_port
    assert settings.database == "postgres"
    assert settings.registry_url == f"postgresql+psycopg://paved@127.0.0.1:{port}/registry"
    prefect_url = settings.prefect_env()["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert prefect_url == f"postgresql+asyncpg://paved@127.0.0.1:{port}/prefect"
    assert settings.paved_env()["PAVED_DATABASE"] == "postgres"  # children see the same

    shown = runner.invoke(app, ["status", "--json"])
    document = json.loads(shown.stdout)
    assert document["database"] == "postgres"
    listed = document["components"]
    assert listed["postgres"]["healthy"] is True
    assert listed["postgres"]["url"] == f"postgresql://paved@127.0.0.1:{port}"
    assert listed["registry"] == {
        **listed["registry"],
        "healthy": True,  # migrated on PostgreSQL, as on SQLite
        "url": f"postgresql+psycopg://paved@127.0.0.1:{port}/registry",
    }
    table = runner.invoke(app, ["status"])
    assert "Database: PostgreSQL (as the stack was last started" in table.output

    stopped = runner.invoke(app, ["down"])
    assert stopped.exit_code == 0, stopped.output
    assert "Database: PostgreSQL" in stopped.output
    assert "Stopped postgres." in stopped.output

    # Back to SQLite: its own data, the cluster's untouched; remembered in turn.
    start_stack(Settings(database="sqlite"), components=["registry"])
    settings = Settings()
    assert settings.database == "sqlite"
    assert settings.registry_url == f"sqlite:///{home.resolve() / 'registry.db'}"
    assert "postgres" not in stack_status(settings).components
    assert (home / "postgres" / "data" / "PG_VERSION").is_file()


@needs_postgres
def test_prefect_runs_on_the_cluster(home: Path) -> None:
    settings = _on_postgres()
    began = time.monotonic()

    status = start_stack(settings, components=["postgres", "prefect"])

    took = time.monotonic() - began
    assert status.components["prefect"].healthy, status.components["prefect"].detail
    print(f"postgres + prefect (fresh cluster, Prefect migrated on it) in {took:.1f} s")
    # Something Prefect's API writes lands in the cluster's prefect database.
    response = httpx.post(
        f"{settings.prefect_api_url}/flows/",
        json={"name": "written-to-postgres"},
        headers=settings.prefect_auth_headers(),
        timeout=30,
        trust_env=False,
    )
    assert response.status_code in (200, 201), response.text
    url = f"postgresql://paved@127.0.0.1:{settings.postgres_port}/prefect"
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM flow WHERE name = 'written-to-postgres'"
        ).fetchone()
    assert row == (1,)
    assert not (settings.prefect_home / "prefect.db").exists()

    assert stop_stack(settings) == ["prefect", "postgres"]  # prefect stops first


@needs_postgres
@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another user")
def test_a_home_the_postgres_user_cannot_reach_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    # tmp_path's parents are 0700 root: the postgres OS user cannot reach into them.
    hidden = Settings(database="postgres", home=tmp_path / "home")

    with pytest.raises(ComponentFailed, match="postgres OS user cannot reach"):
        start_stack(hidden, components=["postgres"])


def test_missing_server_binaries_are_named(settings: Settings, tmp_path: Path) -> None:
    without = Settings(database="postgres", postgres_bin=tmp_path / "nowhere")

    with pytest.raises(ComponentFailed, match="`make postgres` installs"):
        start_stack(without, components=["postgres"])


def test_postgres_and_sqlite_flags_exclude_each_other(settings: Settings) -> None:
    result = runner.invoke(app, ["up", "--postgres", "--sqlite"])

    assert result.exit_code == 2
    assert "exclude each other" in result.output
    assert not settings.home.exists()  # nothing was started or remembered


def test_postgres_cannot_be_started_in_the_sqlite_mode(settings: Settings) -> None:
    result = runner.invoke(app, ["start", "postgres"])

    assert result.exit_code == 2
    assert "postgres is a component of the postgres" in result.output  # rich wraps the rest


def test_switching_modes_stops_the_stack_of_the_other_mode(settings: Settings) -> None:
    start_stack(settings, components=["kafka", "notify"])  # the SQLite stack, remembered
    said: dict[str, str] = {}

    # What `paved up --postgres` does first (the full start is the end-to-end test's).
    _leave_the_other_mode(
        Settings(database="postgres"), lambda name, message: said.update({name: message})
    )

    # The stand-ins keep state in memory: the other mode's would contradict this registry.
    # "mode", not "database mode": the topology (issue 11's --scale) can change too.
    assert said["stack"].startswith("mode sqlite -> postgres: stopped notify, kafka")
    assert not stack_status(settings).components["kafka"].healthy
