"""The local stack behind `paved up`, `paved down` and `paved status`.

    component  what runs                                   healthy when
    github     Paved's fake GitHub (sandbox.fake_github)    GET /_fake/health -> 200
    aws        moto server                                  GET /moto-api/ -> 200
    kafka      Tansu broker, in memory                      TCP connect
    notify     webhook sink (sandbox.webhook_sink)          GET /_sink/health -> 200
    postgres   PostgreSQL cluster in <home>/postgres        a connection succeeds
               (database mode postgres only: paved/postgres.py)
    prefect    prefect server start, SQLite in <home>      GET /api/health -> 200
               (or the cluster's `prefect` database)
               (it answers 401 to anything without the stack's auth string)
    gateway    python -m paved.gateway: sign-in with        GET /_paved/health -> 200
               GitHub in front of Prefect's UI and API
    worker     prefect worker, process pool                 online in Prefect, heartbeat
                                                            from this very process
    registry   not a process: the registry database         schema at Alembic head

The scale topology (`paved up --scale`, docs/local-stack.md) adds redis (redis-server), two
API servers prefect-api-1/2 (`prefect server start --no-services`, after one migration),
prefect-services (`prefect server services start`) and worker-2/3; its `prefect` is the
balancer in front of the API servers (paved.balancer).

Components start in that order and stop in reverse. Starting is idempotent: a healthy
component is left alone, a stale, broken or outdated one is replaced. The database mode
(`Settings.database`) is remembered under <home>: the stack keeps it until `paved up
--sqlite` or `--postgres` switches it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from types import ModuleType

import httpx
from pydantic import BaseModel, Field

from paved.postgres import SUPERUSER, ensure_cluster, ensure_databases, postgres_spec
from paved.processes import (
    ComponentFailed,
    ManagedProcess,
    PortInUse,
    StackError,
    StartResult,
    pid_file_path,
    read_pid_file,
)
from paved.settings import (
    DATABASE_MODE_FILE,
    TOPOLOGY_FILE,
    Settings,
    remembered_database,
    remembered_scale,
)
from paved.stack_secrets import StackSecrets
from sandbox import launch
from sandbox.launch import LaunchSpec, Probe, http_probe

__all__ = [
    "COMPONENTS",
    "WORKER_NAME",
    "ComponentFailed",
    "ComponentStatus",
    "PortInUse",
    "StackError",
    "StackStatus",
    "managed_processes",
    "stack_status",
    "start_stack",
    "stop_stack",
]

WORKER_NAME = "paved-local-worker"
OAUTH_CLIENT_ID = "paved-gateway"
"""The gateway's OAuth app at the sandbox's fake GitHub."""
COMPONENTS = (
    "github",
    "aws",
    "kafka",
    "notify",
    "postgres",
    "redis",
    "prefect-api-1",
    "prefect-api-2",
    "prefect-services",
    "prefect",
    "gateway",
    "worker",
    "worker-2",
    "worker-3",
    "registry",
)
"""Every component, in start order; postgres is one in the postgres database mode only,
and redis, prefect-api-*, prefect-services and worker-2/3 in the scale topology only (where
`prefect` is the balancer in front of the API servers)."""
SCALE_ONLY = frozenset(
    {"redis", "prefect-api-1", "prefect-api-2", "prefect-services", "worker-2", "worker-3"}
)
_STOP_ORDER = (
    "worker",
    "worker-2",
    "worker-3",
    "gateway",
    "prefect",
    "prefect-services",
    "prefect-api-1",
    "prefect-api-2",
    "redis",
    "postgres",
    "notify",
    "kafka",
    "aws",
    "github",
)
_STATUS_ORDER = (
    "gateway",
    "prefect",
    "prefect-api-1",
    "prefect-api-2",
    "prefect-services",
    "worker",
    "worker-2",
    "worker-3",
    "github",
    "aws",
    "kafka",
    "notify",
    "postgres",
    "redis",
    "registry",
)

Progress = Callable[[str, str], None]
"""Told (component, message) while the stack starts: "starting" before each component,
then what was done ("started in 8.3 s (pid 4242)", "already running (pid 4242)")."""


class ComponentStatus(BaseModel):
    """One component of the local stack as `paved status` reports it."""

    name: str
    healthy: bool
    url: str | None = Field(default=None, description="Where clients reach it.")
    ui_url: str | None = Field(default=None, description="Its web UI, if it has one.")
    api_url: str | None = Field(default=None, description="Its API, if it serves one apart.")
    pid: int | None = Field(default=None, description="Its process, if it runs one.")
    detail: str | None = Field(default=None, description="Why it is not healthy.")


class StackStatus(BaseModel):
    """Every component of the local stack, in the order `paved status` shows them."""

    components: dict[str, ComponentStatus]
    home: str
    database: str = Field(
        default="sqlite", description="Where Prefect and the registry keep data: sqlite|postgres."
    )
    topology: str = Field(
        default="single",
        description="single: one Prefect server and worker; scale: see `paved up --scale`.",
    )

    @property
    def healthy(self) -> bool:
        return all(component.healthy for component in self.components.values())


def _prefect_spec(settings: Settings, secrets: StackSecrets) -> LaunchSpec:
    return _prefect_server_spec(settings, secrets, name="prefect", port=settings.prefect_port)


def _prefect_server_spec(
    settings: Settings, secrets: StackSecrets, *, name: str, port: int, services: bool = True
) -> LaunchSpec:
    """`prefect server start` on `port`; without `services`, the API alone (the scale
    topology runs the loop services once, in prefect-services)."""
    return LaunchSpec(
        name=name,
        argv=(
            launch.venv_script("prefect"),
            "server",
            "start",
            "--host",
            settings.host,
            "--port",
            str(port),
            *(() if services else ("--no-services",)),
        ),
        health=lambda: http_probe(f"http://{settings.host}:{port}/api/health"),
        port=port,
        host=settings.host,
        env={**settings.prefect_env(secrets), "PYTHONUNBUFFERED": "1"},
        cwd=settings.project_dir,
        # Migrating a fresh SQLite database takes ~10-22 s on a small machine.
        startup_timeout=120.0,
    )


# --- the scale topology: Redis, two API servers, their services, a balancer -------------


def _redis_spec(settings: Settings) -> LaunchSpec:
    directory = settings.home / "redis"
    if settings.scale:
        directory.mkdir(parents=True, exist_ok=True)
    return LaunchSpec(
        name="redis",
        # Debian's redis-server (`make redis` installs it). Prefect's messages are
        # transient: no snapshots, no append-only file.
        argv=(
            "redis-server",
            "--bind",
            settings.host,
            "--port",
            str(settings.redis_port),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            # Keep its command line as started: the stack recognises its processes by it.
            "--set-proc-title",
            "no",
        ),
        health=lambda: launch.tcp_probe(settings.host, settings.redis_port),
        port=settings.redis_port,
        host=settings.host,
        startup_timeout=20.0,
    )


def _prefect_api_spec(settings: Settings, secrets: StackSecrets, number: int) -> LaunchSpec:
    return _prefect_server_spec(
        settings,
        secrets,
        name=f"prefect-api-{number}",
        port=settings.prefect_api_ports[number - 1],
        services=False,
    )


def _prefect_services_spec(settings: Settings, secrets: StackSecrets) -> LaunchSpec:
    def alive() -> Probe:
        # No port of its own: healthy while it runs, and the database and Redis it works
        # with answer.
        return launch.tcp_probe(settings.host, settings.redis_port)

    return LaunchSpec(
        name="prefect-services",
        argv=(launch.venv_script("prefect"), "server", "services", "start"),
        health=alive,
        env={**settings.prefect_env(secrets), "PYTHONUNBUFFERED": "1"},
        cwd=settings.project_dir,
        startup_timeout=60.0,
    )


def _balancer_spec(settings: Settings) -> LaunchSpec:
    upstreams: list[str] = []
    for port in settings.prefect_api_ports:
        upstreams += ["--upstream", f"{settings.host}:{port}"]
    return LaunchSpec(
        name="prefect",
        argv=(
            sys.executable,
            "-m",
            "paved.balancer",
            "--listen",
            f"{settings.host}:{settings.prefect_port}",
            *upstreams,
        ),
        health=lambda: http_probe(f"{settings.prefect_api_url}/health"),
        port=settings.prefect_port,
        host=settings.host,
        env={"PYTHONUNBUFFERED": "1"},
        cwd=settings.project_dir,
        startup_timeout=30.0,
    )


def _migrate_prefect(settings: Settings) -> str:
    """Prefect's schema, migrated once and apart (its API servers do not migrate on start,
    so two of them never race to)."""
    started = time.monotonic()
    done = subprocess.run(
        [launch.venv_script("prefect"), "server", "database", "upgrade", "-y"],
        env={**os.environ, **settings.prefect_env()},
        cwd=settings.project_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise ComponentFailed(
            "prefect-api-1", "migrating Prefect's database failed:\n" + done.stderr[-2000:]
        )
    return f"Prefect's database migrated in {time.monotonic() - started:.1f} s; "


def _gateway_spec(settings: Settings, secrets: StackSecrets) -> LaunchSpec:
    env = {
        "PAVED_GATEWAY_HOST": settings.host,
        "PAVED_GATEWAY_PORT": str(settings.gateway_port),
        "PAVED_GATEWAY_PREFECT_URL": settings.prefect_ui_url,
        "PAVED_GATEWAY_PREFECT_AUTH_STRING": secrets.prefect_auth_string.get_secret_value(),
        # The fake GitHub serves the REST API and the OAuth web flow on one address.
        "PAVED_GATEWAY_GITHUB_API_URL": settings.github_url,
        "PAVED_GATEWAY_GITHUB_WEB_URL": settings.github_url,
        "PAVED_GATEWAY_OAUTH_CLIENT_ID": OAUTH_CLIENT_ID,
        "PAVED_GATEWAY_OAUTH_CLIENT_SECRET": secrets.oauth_client_secret.get_secret_value(),
        "PAVED_GATEWAY_SESSION_KEY": secrets.session_key.get_secret_value(),
        "PAVED_GATEWAY_REGISTRY_URL": settings.registry_url,
        "PAVED_GATEWAY_ADMIN_TEAM": settings.admin_team,
        "PYTHONUNBUFFERED": "1",
    }
    return LaunchSpec(
        name="gateway",
        argv=(sys.executable, "-m", "paved.gateway"),
        health=lambda: http_probe(f"{settings.gateway_url}/_paved/health"),
        port=settings.gateway_port,
        host=settings.host,
        env=env,
        cwd=settings.project_dir,
        startup_timeout=30.0,
    )


def worker_name(component: str) -> str:
    """The name a worker component registers in Prefect: `worker` is paved-local-worker,
    `worker-2` paved-local-worker-2 (the scale topology runs three)."""
    return WORKER_NAME + component.removeprefix("worker")


def _worker_spec(
    settings: Settings, secrets: StackSecrets, component: str = "worker"
) -> LaunchSpec:
    return LaunchSpec(
        name=component,
        argv=_worker_argv(settings, worker_name(component)),
        health=lambda: _worker_probe(settings, component),
        env={**settings.prefect_env(secrets), "PYTHONUNBUFFERED": "1"},
        # Flow runs start in the worker's directory: the checkout with prefect.yaml.
        cwd=settings.project_dir,
        startup_timeout=60.0,
        stop_timeout=20.0,
    )


# The code a warm worker's runs have imported once and for all.
_WARM_CODE = ("flows", "tasks", "registry", "blocks", "sandbox")


def code_version(project_dir: Path) -> str:
    """The newest modification time (ns) among the project's Python modules a flow run
    imports: it changes whenever that code does."""
    newest = 0
    for package in _WARM_CODE:
        for path in (project_dir / package).rglob("*.py"):
            newest = max(newest, path.stat().st_mtime_ns)
    return str(newest)


def _worker_argv(settings: Settings, name: str = WORKER_NAME) -> tuple[str, ...]:
    """Prefect's process worker, or Paved's warm one (same pool, type and name).

    The warm worker's command line carries the code's version: after an edit to flows/,
    tasks/, registry/, blocks/ or sandbox/, its runs would still run the code it imported
    at start, so `paved status` calls it out of date and `paved up` restarts it."""
    if settings.warm_worker:
        return (
            sys.executable,
            "-m",
            "paved.warm_worker",
            "--pool",
            settings.work_pool,
            "--name",
            name,
            "--code-version",
            code_version(settings.project_dir),
        )
    return (
        launch.venv_script("prefect"),
        "worker",
        "start",
        "--pool",
        settings.work_pool,
        "--type",
        "process",
        "--name",
        name,
    )


def _worker_probe(settings: Settings, component: str = "worker") -> Probe:
    """Online in Prefect, with a heartbeat sent after our worker process was started.

    Prefect keeps a stopped worker ONLINE until its heartbeat expires (a minute or more),
    so the status alone would call a freshly restarted worker healthy before it is.
    """
    record = read_pid_file(pid_file_path(settings.pids_dir, component))
    if record is None:
        return Probe(False, "no PID file")
    name = worker_name(component)
    url = f"{settings.prefect_api_url}/work_pools/{settings.work_pool}/workers/filter"
    try:
        response = httpx.post(
            url,
            json={},
            headers=settings.prefect_auth_headers(),
            timeout=launch.PROBE_TIMEOUT,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        return Probe(False, f"POST {url} failed: {exc or type(exc).__name__}")
    if response.status_code == 404:
        return Probe(False, f"work pool {settings.work_pool!r} does not exist yet")
    if response.status_code != 200:
        return Probe(False, f"POST {url} answered {response.status_code}")
    for worker in response.json():
        if worker.get("name") != name:
            continue
        if worker.get("status") != "ONLINE":
            return Probe(False, f"Prefect reports the worker {worker.get('status')}")
        heartbeat = datetime.fromisoformat(str(worker.get("last_heartbeat_time")))
        if heartbeat.timestamp() < record.started_at:
            return Probe(False, "no heartbeat from this worker process yet")
        return Probe(True)
    return Probe(False, f"no worker {name!r} registered in pool {settings.work_pool!r}")


def managed_processes(settings: Settings, *, starting: bool = True) -> dict[str, ManagedProcess]:
    """The stack's processes by component name, in start order.

    Only `starting` makes the stack's secrets when it has none: looking at a stack that
    was never started (status, stop) changes nothing on disk.
    """
    cwd = settings.project_dir
    if starting or settings.secrets_file.exists():
        secrets = settings.stack_secrets()
    else:
        secrets = StackSecrets.unset()
    specs_and_settings = (
        (
            launch.fake_github(
                host=settings.host,
                port=settings.github_port,
                seed_file=settings.seed_file,
                cwd=cwd,
                token_secret=secrets.github_token_secret.get_secret_value(),
                oauth_client_id=OAUTH_CLIENT_ID,
                oauth_client_secret=secrets.oauth_client_secret.get_secret_value(),
            ),
            "PAVED_GITHUB_PORT",
        ),
        (launch.moto(host=settings.host, port=settings.aws_port, cwd=cwd), "PAVED_AWS_PORT"),
        (launch.tansu(host=settings.host, port=settings.kafka_port, cwd=cwd), "PAVED_KAFKA_PORT"),
        (
            launch.webhook_sink(host=settings.host, port=settings.notify_port, cwd=cwd),
            "PAVED_NOTIFY_PORT",
        ),
        # Always known, so that `paved down` also stops a cluster left by the other mode.
        (postgres_spec(settings), "PAVED_POSTGRES_PORT"),
        (_redis_spec(settings), "PAVED_REDIS_PORT"),
        (_prefect_api_spec(settings, secrets, 1), "PAVED_PREFECT_API_FIRST_PORT"),
        (_prefect_api_spec(settings, secrets, 2), "PAVED_PREFECT_API_FIRST_PORT"),
        (_prefect_services_spec(settings, secrets), None),
        (
            _balancer_spec(settings) if settings.scale else _prefect_spec(settings, secrets),
            "PAVED_PREFECT_PORT",
        ),
        (_gateway_spec(settings, secrets), "PAVED_GATEWAY_PORT"),
        (_worker_spec(settings, secrets), None),
        (_worker_spec(settings, secrets, "worker-2"), None),
        (_worker_spec(settings, secrets, "worker-3"), None),
    )
    return {
        spec.name: ManagedProcess(
            spec, pids_dir=settings.pids_dir, logs_dir=settings.logs_dir, port_setting=setting
        )
        for spec, setting in specs_and_settings
    }


def _urls(settings: Settings) -> dict[str, dict[str, str]]:
    return {
        "gateway": {"url": settings.gateway_url, "api_url": settings.gateway_api_url},
        "prefect": {"url": settings.prefect_api_url, "ui_url": settings.prefect_ui_url},
        "github": {"url": settings.github_url},
        "aws": {"url": settings.aws_endpoint_url},
        "kafka": {"url": settings.kafka_bootstrap},
        "notify": {"url": settings.notify_url},
        "postgres": {"url": f"postgresql://{SUPERUSER}@{settings.host}:{settings.postgres_port}"},
        "redis": {"url": settings.redis_url},
        **{
            f"prefect-api-{number}": {"url": f"http://{settings.host}:{port}/api"}
            for number, port in enumerate(settings.prefect_api_ports, start=1)
        },
        # A PostgreSQL URL carries a password: status shows it masked.
        "registry": {"url": _without_password(settings.registry_url)},
    }


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def stack_components(settings: Settings) -> tuple[str, ...]:
    """The components of the stack in its database mode and topology, in start order."""
    return tuple(
        name
        for name in COMPONENTS
        if (name != "postgres" or settings.database == "postgres")
        and (name not in SCALE_ONLY or settings.scale)
    )


def _selected(components: Collection[str] | None) -> set[str]:
    if components is None:
        return set(COMPONENTS)
    unknown = set(components) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown components {sorted(unknown)}; known: {list(COMPONENTS)}")
    return set(components)


# --- postgres: the cluster of the postgres database mode -----------------------------------


def _ensure_postgres(settings: Settings, process: ManagedProcess) -> str:
    """Make the cluster if new, start it unless healthy, create its databases; says what
    it did."""
    made = ensure_cluster(settings)
    message = _describe(process.ensure_started())
    try:
        created = ensure_databases(settings)
    except Exception as exc:  # the driver's errors, said with the component's name
        raise ComponentFailed(
            "postgres", f"creating databases failed: {type(exc).__name__}: {exc}"
        ) from exc
    if made:
        message = f"cluster made in {settings.postgres_dir}; {message}"
    if created:
        message += f"; created database(s) {', '.join(created)}"
    return message


def _require_postgres(settings: Settings, postgres: ManagedProcess) -> None:
    probe = postgres.spec.health()
    if not probe.healthy:
        raise ComponentFailed(
            "prefect", f"it keeps its data in PostgreSQL, which is not healthy: {probe.detail}"
        )


def _leave_the_other_mode(settings: Settings, progress: Progress | None) -> None:
    """Stop a stack started in the other database mode before starting this one.

    The stand-ins keep their state in memory: a fake GitHub still holding the repositories
    of the other mode's registry would contradict this mode's (its demo request fails:
    the repository exists and the registry does not know it).
    """
    previous = remembered_database(settings.home)
    was_scaled = bool(remembered_scale(settings.home))
    if (previous is None or previous == settings.database) and was_scaled == settings.scale:
        return
    stopped = stop_stack(settings)
    if stopped and progress is not None:
        before = f"{previous}{' scaled out' if was_scaled else ''}"
        now = f"{settings.database}{' scaled out' if settings.scale else ''}"
        progress(
            "stack",
            f"mode {before} -> {now}: stopped {', '.join(stopped)} first, so the stand-ins "
            "start afresh",
        )


def _remember_database(settings: Settings) -> None:
    """Write down the mode the stack now runs in, for commands run without one."""
    (settings.home / DATABASE_MODE_FILE).write_text(f"{settings.database}\n")
    (settings.home / TOPOLOGY_FILE).write_text("scale\n" if settings.scale else "single\n")


# --- registry: a database, not a process -------------------------------------------------


def _registry_db() -> ModuleType:
    # Imported late: `paved status` must work, and say why, when the registry package or
    # its database driver cannot be imported.
    from registry import db

    return db


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _registry_probe(settings: Settings) -> Probe:
    url = settings.registry_url
    try:
        db = _registry_db()
    except ImportError as exc:
        return Probe(False, f"registry.db cannot be imported: {exc}")
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None and not sqlite_file.exists():
        return Probe(False, f"database file {sqlite_file} does not exist; run `paved up`")
    try:
        current = db.current_revision(url)
        head = db.head_revision()
    except Exception as exc:  # any failure to read it is the status to show
        return Probe(False, f"cannot read the schema revision: {type(exc).__name__}: {exc}")
    if current != head:
        return Probe(False, f"schema at revision {current}, head is {head}; run `paved up`")
    return Probe(True)


def _ensure_registry(settings: Settings) -> str:
    """Migrate the registry to head; says what it did."""
    if _registry_probe(settings).healthy:
        return "up to date"
    try:
        db = _registry_db()
    except ImportError as exc:
        raise ComponentFailed("registry", f"registry.db cannot be imported: {exc}") from exc
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        db.migrate(settings.registry_url)
    except Exception as exc:
        raise ComponentFailed(
            "registry", f"migrating {settings.registry_url} failed: {type(exc).__name__}: {exc}"
        ) from exc
    probe = _registry_probe(settings)
    if not probe.healthy:
        raise ComponentFailed("registry", probe.detail or "not at head after migrating")
    return "migrated to head"


# The sandbox's stand-ins for a provider, each named as its provider; they keep their
# state in memory: one started anew holds nothing that was made in it before.
STAND_IN_PROVIDERS = ("github", "aws", "kafka")


def _forget_what_stand_ins_lost(settings: Settings, emptied: list[str]) -> str | None:
    """The registry forgets the resources of the stand-ins started empty, so it never
    answers for what no longer exists (registry.forget); says what it forgot, if anything."""
    db = _registry_db()
    from registry.forget import forget_provider_resources
    from registry.models import Provider

    engine = db.make_engine(settings.registry_url)
    try:
        with db.session_scope(engine) as session:
            forgotten = forget_provider_resources(
                session, providers=[Provider(name) for name in emptied]
            )
    finally:
        engine.dispose()
    if not forgotten.resources:
        return None
    said = (
        f"{', '.join(emptied)} started empty (the sandbox keeps no provider state across "
        f"restarts), so the registry forgot their {forgotten.resources} resource(s)"
    )
    if forgotten.services:
        said += f" and the services left with none ({_some(forgotten.services)})"
    if forgotten.failed:
        said += f"; re-run the requests of {_some(forgotten.failed)} (now failed)"
    return said + "; the journal keeps their history"


def _some(names: list[str], shown: int = 5) -> str:
    """A few names, and how many more: a line, not a page."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


# --- the stack ---------------------------------------------------------------------------


def start_stack(
    settings: Settings,
    *,
    components: Collection[str] | None = None,
    progress: Progress | None = None,
) -> StackStatus:
    """Start every component (or those named) that is not already running and healthy.

    Running it again is harmless. Raises `PortInUse` at once when a port is held by
    another program, `ComponentFailed` (with the tail of its log) when a component dies
    or does not become healthy in time; components started before it keep running.
    """
    selected = _selected(components) & set(stack_components(settings))
    if components is not None and "postgres" in components and "postgres" not in selected:
        raise ValueError(
            "postgres is a component of the postgres database mode only (`paved up --postgres`)"
        )
    if components is None:
        _leave_the_other_mode(settings, progress)
    for directory in (settings.home, settings.prefect_home, settings.logs_dir, settings.pids_dir):
        directory.mkdir(parents=True, exist_ok=True)
    _remember_database(settings)
    processes = managed_processes(settings)
    emptied: list[str] = []  # stand-ins started afresh, with nothing of what was made before
    for name in COMPONENTS:
        if name not in selected:
            continue
        if progress is not None:
            progress(name, "starting")
        if name == "registry":
            message = _ensure_registry(settings)
        elif name == "postgres":
            message = _ensure_postgres(settings, processes["postgres"])
        else:
            if name == "prefect" and settings.database == "postgres":
                _require_postgres(settings, processes["postgres"])
            if name.startswith("worker"):
                _require_prefect(settings, processes["prefect"])
            migrated = ""
            if name == "prefect-api-1" and not processes[name].status()[1].healthy:
                migrated = _migrate_prefect(settings)
            result = processes[name].ensure_started()
            message = migrated + _describe(result)
            if name in STAND_IN_PROVIDERS and result.started:
                emptied.append(name)
            # Only with one worker: in the scale topology the other workers' runs are
            # alive, and a dead run is Crashed by the heartbeat automation anyway.
            if name == "worker" and result.started and not settings.scale:
                crashed = crash_orphaned_runs(settings)
                if crashed:
                    message += f"; {crashed} run(s) left by the previous worker marked Crashed"
        if progress is not None:
            progress(name, message)
    if emptied and _registry_probe(settings).healthy:
        forgot = _forget_what_stand_ins_lost(settings, emptied)
        if forgot and progress is not None:
            progress("registry", forgot)
    # Back on SQLite, the whole stack restarted: a cluster of the postgres mode is idle.
    if components is None and settings.database == "sqlite":
        stopped = processes["postgres"].stop()
        if stopped and progress is not None:
            progress("postgres", "stopped: the stack runs on SQLite now")
    return stack_status(settings)


ORPHANED_MESSAGE = (
    "The worker running this flow run stopped before it finished (paved down, or a crash); "
    "marked Crashed when a new worker started so its slot is free. Re-run the request."
)


def crash_orphaned_runs(settings: Settings) -> int:
    """Mark Crashed the runs of the work pool that a previous worker left Pending or
    Running; returns how many.

    A process worker's runs die with it, but Prefect keeps their last state, and a run
    that stays Running holds its deployment's concurrency slot: every later scheduled
    run of that deployment would wait for it forever. Only runs whose state is older
    than the new worker process are touched, so a run it has just picked up is not.
    `journal:reconcile` then journals their end.
    """
    record = read_pid_file(pid_file_path(settings.pids_dir, "worker"))
    if record is None:
        return 0
    api = settings.prefect_api_url
    body = {
        "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}},
        "work_pools": {"name": {"any_": [settings.work_pool]}},
        "limit": 200,
    }
    headers = settings.prefect_auth_headers()
    response = httpx.post(
        f"{api}/flow_runs/filter", json=body, headers=headers, timeout=30, trust_env=False
    )
    response.raise_for_status()
    crashed = 0
    for run in response.json():
        changed = datetime.fromisoformat(str(run["state"]["timestamp"]))
        if changed.timestamp() >= record.started_at:
            continue
        state = {"type": "CRASHED", "name": "Crashed", "message": ORPHANED_MESSAGE}
        answer = httpx.post(
            f"{api}/flow_runs/{run['id']}/set_state",
            json={"state": state},
            headers=headers,
            timeout=30,
            trust_env=False,
        )
        answer.raise_for_status()
        crashed += answer.json().get("status") == "ACCEPT"
    return crashed


def _require_prefect(settings: Settings, prefect: ManagedProcess) -> None:
    probe = prefect.spec.health()
    if not probe.healthy:
        raise ComponentFailed(
            "worker", f"it needs the Prefect API at {settings.prefect_api_url}: {probe.detail}"
        )


def _describe(result: StartResult) -> str:
    if result.started:
        return f"started in {result.seconds:.1f} s (pid {result.pid})"
    return f"already running (pid {result.pid})"


def stop_stack(settings: Settings, *, components: Collection[str] | None = None) -> list[str]:
    """Stop the stack's processes, worker first; returns the names of those stopped.

    PID files are removed; harmless when nothing runs.
    """
    selected = _selected(components)
    processes = managed_processes(settings, starting=False)
    return [name for name in _STOP_ORDER if name in selected and processes[name].stop()]


def stack_status(settings: Settings) -> StackStatus:
    """Whether each component runs and is healthy, where it is reached, and why not."""
    processes = managed_processes(settings, starting=False)
    urls = _urls(settings)
    statuses: dict[str, ComponentStatus] = {}
    shown = stack_components(settings)
    for name in _STATUS_ORDER:
        if name not in shown:
            continue
        pid: int | None = None
        if name == "registry":
            probe = _registry_probe(settings)
        else:
            pid, probe = processes[name].status()
        statuses[name] = ComponentStatus(
            name=name, healthy=probe.healthy, pid=pid, detail=probe.detail, **urls.get(name, {})
        )
    return StackStatus(
        components=statuses,
        home=str(settings.home),
        database=settings.database,
        topology="scale" if settings.scale else "single",
    )
