"""Fixtures running every registry test on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``PAVED_TEST_POSTGRES_URL`` (a server where that user may create
databases) or, by default, from a throwaway cluster started for the test session from the
PostgreSQL 15 server binaries. Missing binaries fail the tests: they never skip.

Each test starts from an empty registry at Alembic head. On SQLite it is a copy of a file
migrated once per session; on PostgreSQL it is one database migrated once per session,
with every table emptied before each test (a database per test costs ~300 ms, emptying
~10 ms). Migration tests get a brand-new, never migrated database instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from registry.db import make_engine, migrate, normalize_url
from registry.models import Base
from registry.seed import SeedData, apply_seed, load_seed

PG_BIN = Path(os.environ.get("PAVED_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Our share of the loopback ports the project hands out (15400-15499), tried in order.
PG_PORTS = range(15440, 15500)
SEED_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "seed.yaml"


# --- a throwaway PostgreSQL cluster -------------------------------------------------


@dataclass
class _Cluster:
    directory: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username="paved",
            host="127.0.0.1",
            port=self.port,
            database="postgres",
        )

    def stop(self) -> None:
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_postgres(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    # initdb refuses to run as root, and CI and sessions run as root.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *command], check=check, capture_output=True, text=True, timeout=120
    )


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _start_cluster() -> _Cluster:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(
            f"PostgreSQL 15 server binaries not found in {PG_BIN}: the registry tests run on "
            "PostgreSQL too. Run `make test`, which installs postgresql-15, or set "
            "PAVED_TEST_POSTGRES_URL to a server where you may create databases.",
            pytrace=False,
        )
    directory = Path(tempfile.mkdtemp(prefix="paved-test-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, user="postgres", group="postgres")
    directory.chmod(0o700)
    cluster = _Cluster(directory)
    initdb = _as_postgres(
        [str(PG_BIN / "initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "paved"],
        check=False,
    )
    if initdb.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"initdb failed: {initdb.stderr.strip()}", pytrace=False)
    log = directory / "server.log"
    failures: list[str] = []
    for port in PG_PORTS:
        if not _port_is_free(port):
            continue
        # Durability is pointless for a cluster that lives as long as the test session.
        options = (
            f"-p {port} -k {directory} -h 127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(cluster.data), "-l", str(log)]
        started = _as_postgres([*pg_ctl, "-w", "-t", "60", "-o", options, "start"], check=False)
        if started.returncode == 0:
            cluster.port = port
            return cluster
        server_log = log.read_text(errors="replace") if log.exists() else ""
        failures.append(f"port {port}: {started.stderr.strip()}\n{server_log[-2000:]}")
        # Another process took the port between our probe and the server's bind: next.
        if "could not bind" not in server_log and "already in use" not in server_log:
            break
    shutil.rmtree(directory, ignore_errors=True)
    pytest.fail("could not start a PostgreSQL test cluster:\n" + "\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """Admin URL of a PostgreSQL server for the session (database ``postgres``)."""
    external = os.environ.get("PAVED_TEST_POSTGRES_URL")
    if external:
        yield normalize_url(external)
        return
    started = time.monotonic()
    cluster = _start_cluster()
    print(f"PostgreSQL test cluster on port {cluster.port} in {time.monotonic() - started:.1f}s")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_admin(postgres_server: URL) -> Iterator[Engine]:
    """An engine for CREATE/DROP DATABASE, which cannot run inside a transaction."""
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        yield admin
    finally:
        admin.dispose()


@contextmanager
def _database(admin: Engine) -> Iterator[URL]:
    name = f"paved_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_database(postgres_admin: Engine) -> Iterator[URL]:
    """A brand-new, empty PostgreSQL database (no schema) for one test."""
    with _database(postgres_admin) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_registry(postgres_admin: Engine) -> Iterator[Engine]:
    """An engine on a PostgreSQL database migrated to head, shared by the session's tests."""
    with _database(postgres_admin) as url:
        migrate(url)
        engine = create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _empty_every_table(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        # A test that leaked an open transaction must fail the next one, not hang it.
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        # Sequences restart too, so ids are what they would be in a new database.
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("registry-template") / "registry.db"
    migrate(f"sqlite:///{path}")
    return path


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


# --- per-test registries ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, never migrated registry database, on each database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url: URL = request.getfixturevalue("postgres_database")
    return _render(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty registry at Alembic head, on each database."""
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    shared: Engine = request.getfixturevalue("postgres_registry")
    _empty_every_table(shared)
    return _render(shared.url)


@pytest.fixture
def engine(registry_url: str) -> Iterator[Engine]:
    """An engine on this test's registry."""
    registry_engine = make_engine(registry_url)
    try:
        yield registry_engine
    finally:
        registry_engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on an empty registry; rolled back at the end of the test."""
    with Session(engine, expire_on_commit=False) as registry_session:
        try:
            yield registry_session
        finally:
            registry_session.rollback()


@pytest.fixture(scope="session")
def seed_data() -> SeedData:
    """The sandbox seed: alice and bob in platform (lead alice), carol and dave in
    payments (lead carol), erin in no team."""
    return load_seed(SEED_FILE)


@pytest.fixture
def seeded(session: Session, seed_data: SeedData) -> Session:
    """A session on a registry holding the sandbox's people and teams."""
    apply_seed(session, seed=seed_data)
    return session
