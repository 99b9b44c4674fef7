"""The local PostgreSQL cluster of `paved up --postgres`: Prefect's server and the registry
keep their data in it instead of SQLite files.

The cluster lives under <home>/postgres and is made once with initdb, from the server
binaries the tests use too (Debian's postgresql-15, `make postgres`). PostgreSQL refuses
to run as root, so when `paved` runs as root, initdb and the server run as the `postgres`
OS user, who owns the cluster. It listens on the stack's loopback address only, without a
Unix socket, and trusts that address alone: the URLs it is reached at hold no password.

The server runs in the foreground under the stack's supervision like every other
component (PID file, log, restarted when its settings change), not daemonized by pg_ctl;
it is stopped with SIGINT, PostgreSQL's fast shutdown.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from paved.processes import ComponentFailed
from paved.settings import Settings
from sandbox.launch import PROBE_TIMEOUT, LaunchSpec, Probe

__all__ = [
    "DATABASES",
    "SUPERUSER",
    "ensure_cluster",
    "ensure_databases",
    "os_user",
    "postgres_probe",
    "postgres_spec",
]

SUPERUSER = "paved"
"""The cluster's one role, a superuser: a local stack has no one to keep out."""
DATABASES = ("prefect", "registry")
"""Prefect's server's database and the registry's, made when missing."""
_OS_USER = "postgres"
_INITDB_TIMEOUT_SECONDS = 120


def os_user() -> str | None:
    """The OS user the cluster runs as: `postgres` when we are root (initdb and postgres
    refuse root), else None: whoever runs `paved`."""
    return _OS_USER if os.geteuid() == 0 else None


def _data_dir(settings: Settings) -> Path:
    return settings.postgres_dir / "data"


def _loopback_ip(settings: Settings) -> str:
    """The stack's host as an IP address; a cluster that trusts its clients listens on a
    loopback address only."""
    try:
        address = ipaddress.ip_address(settings.host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ComponentFailed(
            "postgres",
            f"PAVED_HOST={settings.host} is not a loopback IP address; the local cluster "
            "trusts every connection, so it listens on one (e.g. 127.0.0.1) only",
        )
    return str(address)


def postgres_spec(settings: Settings) -> LaunchSpec:
    """The PostgreSQL server of the stack, in the foreground."""
    host = settings.host
    return LaunchSpec(
        name="postgres",
        argv=(
            str(settings.postgres_bin / "postgres"),
            "-D",
            str(_data_dir(settings)),
            "-p",
            str(settings.postgres_port),
            "-c",
            f"listen_addresses={host}",
            # TCP only: a socket path under a deep PAVED_HOME can exceed the 107 bytes a
            # socket name may have, and /var/run/postgresql may not exist.
            "-c",
            "unix_socket_directories=",
            # A crash loses the last moments of writes, never consistency; Prefect writes
            # a lot of small transactions.
            "-c",
            "synchronous_commit=off",
        ),
        health=lambda: postgres_probe(settings),
        port=settings.postgres_port,
        host=host,
        cwd=settings.postgres_dir,
        startup_timeout=60.0,
        stop_timeout=20.0,
        stop_signal=signal.SIGINT,
        user=os_user(),
    )


def postgres_probe(settings: Settings) -> Probe:
    """Healthy when a connection to the cluster's `postgres` database succeeds."""
    # Imported here: only the postgres mode pays for the driver.
    import psycopg

    try:
        with psycopg.connect(_conninfo(settings, "postgres")):
            return Probe(True)
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Probe(False, f"cannot connect to {_server(settings)}: {first_line}")


def _server(settings: Settings) -> str:
    return f"{settings.host}:{settings.postgres_port}"


def _conninfo(settings: Settings, database: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        host=settings.host,
        port=settings.postgres_port,
        user=SUPERUSER,
        dbname=database,
        connect_timeout=max(1, int(PROBE_TIMEOUT)),
    )


def ensure_databases(settings: Settings) -> list[str]:
    """Create `DATABASES` that do not exist yet on the running cluster; returns their names."""
    import psycopg
    from psycopg import sql

    created = []
    with psycopg.connect(_conninfo(settings, "postgres"), autocommit=True) as connection:
        for name in DATABASES:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if found is None:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
    return created


# --- the cluster on disk -----------------------------------------------------------------


def ensure_cluster(settings: Settings) -> bool:
    """Make the cluster under <home>/postgres unless it exists; True when made now.

    Its client authentication is written every time: trust for the stack's loopback
    address, nothing else.
    """
    binaries = settings.postgres_bin
    if not (binaries / "initdb").is_file():
        raise ComponentFailed(
            "postgres",
            f"PostgreSQL server binaries not found in {binaries}: `make postgres` installs "
            "postgresql-15 (or set PAVED_POSTGRES_BIN)",
        )
    ip = _loopback_ip(settings)
    data = _data_dir(settings)
    made = False
    if not (data / "PG_VERSION").is_file():
        _prepare_directory(settings.postgres_dir)
        _initdb(binaries, data, settings.postgres_dir / "initdb.log")
        made = True
    _write_hba(data, ip)
    return made


def _run_as_cluster_owner(
    argv: list[str], *, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    user = os_user()
    return subprocess.run(
        argv,
        user=user,
        group=None if user is None else _group_of(user),
        extra_groups=None if user is None else [],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _group_of(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def _prepare_directory(directory: Path) -> None:
    """<home>/postgres, owned by the cluster's OS user and reachable by it."""
    directory.mkdir(parents=True, exist_ok=True)
    user = os_user()
    if user is not None:
        shutil.chown(directory, user=user, group=_group_of(user))
    directory.chmod(0o700)
    reachable = _run_as_cluster_owner(["test", "-w", str(directory), "-a", "-x", str(directory)])
    if reachable.returncode != 0:
        raise ComponentFailed(
            "postgres",
            f"the {user} OS user cannot reach {directory}: a directory above it is not "
            "searchable by others (e.g. a 0700 home); set PAVED_HOME to a path it can reach",
        )


def _initdb(binaries: Path, data: Path, log: Path) -> None:
    initdb = _run_as_cluster_owner(
        [
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            # A crash during initdb leaves a cluster to remake, never one to repair.
            "--no-sync",
        ],
        timeout=_INITDB_TIMEOUT_SECONDS,
    )
    log.write_text(initdb.stdout + initdb.stderr)
    if initdb.returncode != 0:
        raise ComponentFailed(
            "postgres",
            f"initdb exited with code {initdb.returncode}",
            log_file=log,
            log_tail="\n".join((initdb.stdout + initdb.stderr).strip().splitlines()[-20:]),
        )


def _write_hba(data: Path, ip: str) -> None:
    prefix = 32 if ipaddress.ip_address(ip).version == 4 else 128
    hba = data / "pg_hba.conf"
    hba.write_text(
        "# Written by paved (paved/postgres.py) at every start: trust the stack's loopback\n"
        "# address, nothing else (the server listens on no other and has no socket).\n"
        "# TYPE  DATABASE  USER  ADDRESS  METHOD\n"
        f"host    all       all   {ip}/{prefix}  trust\n"
    )
    user = os_user()
    if user is not None:
        shutil.chown(hba, user=user, group=_group_of(user))
    hba.chmod(0o600)
