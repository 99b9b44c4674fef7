"""Connecting to the registry database and migrating it.

SQLite (a file, the local default) and PostgreSQL (production) are both first-class: the
same models and the same Alembic migrations serve both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    # Alembic is imported where it is used: a flow run or `paved who-owns` never migrates,
    # and importing it costs about 0.15 s of every process start.
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "SQLITE_BUSY_TIMEOUT_MS",
    "alembic_config",
    "cached_engine",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "normalize_url",
    "session_scope",
    "wipe",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# How long a SQLite writer waits for another writer (a concurrent flow run) to finish.
SQLITE_BUSY_TIMEOUT_MS = 30_000

_IN_MEMORY = ("", ":memory:")


def normalize_url(url: str | URL) -> URL:
    """Return the URL the registry actually connects to.

    - ``postgresql://`` and ``postgres://`` use the psycopg 3 driver.
    - A relative SQLite path is made absolute against the current directory *now*, so the
      engine keeps pointing at the same file if the process later changes directory (a
      Prefect worker's pull step does), and ``~`` is expanded.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in _IN_MEMORY or database.startswith("file:"):
            return parsed
        return parsed.set(database=str(Path(database).expanduser().resolve()))
    return parsed


def make_engine(url: str | URL) -> Engine:
    """Create an engine for the registry at ``url`` (SQLite or PostgreSQL).

    On SQLite: foreign keys are enforced, a writer waits for others instead of failing at
    once, the file uses write-ahead logging, the parent directory is created, and
    transactions really are transactions (see ``_make_sqlite_transactional``).
    """
    resolved = normalize_url(url)
    if resolved.get_backend_name() == "sqlite":
        database = resolved.database or ""
        in_memory = database in _IN_MEMORY or "mode=memory" in str(resolved)
        if not in_memory and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved)
        _make_sqlite_transactional(engine, wal=not in_memory)
        return engine
    return create_engine(resolved, pool_pre_ping=True)


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def cached_engine(url: str) -> Engine:
    """The one engine of this process for the registry at ``url``, made on first use.

    An engine holds a connection pool; making one per registry step cost a connect (and
    SQLite's pragmas) every time. Keyed by the URL as given, so a process that is pointed
    at another registry (a test saving a new block) gets another engine. Never disposed:
    it lives as long as the process.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = make_engine(url)
        return engine


def _make_sqlite_transactional(engine: Engine, *, wal: bool) -> None:
    # Python's sqlite3 driver (3.11) does not BEGIN before SELECT, DDL or SAVEPOINT, so
    # migrations would not be atomic and savepoints would escape the transaction. Take
    # over: the driver emits nothing, SQLAlchemy emits BEGIN IMMEDIATE. IMMEDIATE takes
    # the write lock up front, so a transaction that reads then writes never fails with
    # "database is locked" midway; with WAL, readers outside it are not blocked.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed if the block succeeds and rolled back if it raises.

    Objects stay usable after the commit (``expire_on_commit=False``); relationships that
    were not loaded still raise rather than query behind the caller's back.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration built in code: our migrations, and ``url`` if given.

    Useful for Alembic commands beyond upgrade, e.g. writing the next migration::

        command.revision(alembic_config(url), message="add drift findings", autogenerate=True)
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Date-prefixed files keep the history readable in a directory listing.
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        # ConfigParser interpolates '%': escape it (percent-encoded passwords have them).
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(url: str | URL) -> None:
    """Upgrade the registry at ``url`` to the newest schema. Harmless when already there."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def wipe(url: str | URL) -> None:
    """Drop every table of the registry at ``url``, Alembic's version table included, so
    that `migrate` makes it anew (`paved reset`). Everything in it is lost."""
    from sqlalchemy import MetaData

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            # Reflected, not the models' metadata: tables of an older schema go too.
            existing = MetaData()
            existing.reflect(bind=connection)
            existing.drop_all(bind=connection)
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """The schema revision the registry at ``url`` is at, or None if never migrated.

    Asking about a SQLite file that does not exist does not create it.
    """
    from alembic.runtime.migration import MigrationContext

    resolved = normalize_url(url)
    database = resolved.database or ""
    if (
        resolved.get_backend_name() == "sqlite"
        and database not in _IN_MEMORY
        and not database.startswith("file:")
        and not Path(database).exists()
    ):
        return None
    engine = make_engine(resolved)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
