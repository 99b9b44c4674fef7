"""Settings of the local stack, read from `PAVED_*` environment variables.

A plain pydantic model that reads its variables itself, as pydantic-settings' BaseSettings
would (names in any case, arguments over the environment, defaults validated too):
importing pydantic-settings costs every `paved` command some 60 ms of a start-up budget of
half a second (issue 10/12).

Every process of the stack is handed the same settings through its environment
(`Settings.prefect_env`), so a flow run started by the worker finds the same fake GitHub,
moto, broker and registry as the `paved` command that started the stack.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import sandbox

if TYPE_CHECKING:
    from paved.stack_secrets import StackSecrets

__all__ = ["DATABASE_MODE_FILE", "Database", "Settings", "remembered_database"]

Database = Literal["sqlite", "postgres"]

DATABASE_MODE_FILE = "database"
# Seconds between a flow run's heartbeats (Prefect's minimum is 30), and without one after
# which the automation of paved.automations marks the run Crashed: three missed beats, so a
# run slowed by a busy machine is not taken for dead.
HEARTBEAT_SECONDS = 30
CRASH_AFTER_SECONDS = 90
# A run a worker has taken (Pending, Submitting) but not started may wait that long for
# its process without being taken for dead: a busy worker, a pod pulling its image, a
# server answering 503 under a burst (the SQLite stack's burst of 50 kept runs Pending for
# minutes; they were alive).
START_AFTER_SECONDS = 600
"""Under `home`: the database mode the stack was last started in (`sqlite` or `postgres`)."""


def remembered_database(home: Path) -> Database | None:
    """The mode `paved up` last ran the stack under `home` in; None if never started."""
    try:
        mode = (home / DATABASE_MODE_FILE).read_text().strip()
    except OSError:
        return None
    if mode == "sqlite":
        return "sqlite"
    if mode == "postgres":
        return "postgres"
    return None


TOPOLOGY_FILE = "topology"


def remembered_scale(home: Path) -> bool | None:
    """Whether `paved up` last ran the stack under `home` scaled out; None if never said."""
    try:
        topology = (home / TOPOLOGY_FILE).read_text().strip()
    except OSError:
        return None
    return topology == "scale" if topology in ("scale", "single") else None


# sandbox.launch.DEFAULT_SEED_FILE, without importing sandbox.launch (and httpx with it):
# every `paved` command reads these settings, few launch anything.
DEFAULT_SEED_FILE = Path(sandbox.__file__).with_name("seed.yaml")


_PREFIX = "PAVED_"


class Settings(BaseModel):
    """Where the local stack lives and which loopback ports it listens on; each field is
    read from `PAVED_<FIELD>` when not given."""

    # validate_default: the defaults go through the validators too (relative paths made
    # absolute), as BaseSettings does.
    model_config = ConfigDict(extra="forbid", validate_default=True)

    home: Path = Field(
        default=Path(".paved"),
        description="State of the local stack: Prefect's database, registry, logs, PID files. "
        "Relative paths are taken from the current directory.",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Loopback address every component binds to and is reached at.",
    )
    gateway_port: int = Field(
        default=4200,
        ge=1,
        le=65535,
        description="The gateway: the one address people reach (Prefect's UI and API, signed in).",
    )
    prefect_port: int = Field(
        default=4201,
        ge=1,
        le=65535,
        description="Prefect's own API and UI, behind the gateway; it requires the auth string.",
    )
    github_port: int = Field(default=4280, ge=1, le=65535, description="Fake GitHub REST API.")
    aws_port: int = Field(default=4566, ge=1, le=65535, description="moto server (all AWS APIs).")
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="Tansu Kafka broker.")
    notify_port: int = Field(
        default=4290, ge=1, le=65535, description="Webhook sink that records notifications."
    )
    database: Database = Field(
        default="sqlite",
        description="Where Prefect's server and the registry keep their data: SQLite files "
        "under `home`, or a local PostgreSQL cluster under <home>/postgres (`paved up "
        "--postgres`). When not given, the mode the stack was last started in (remembered "
        "under `home`), else sqlite.",
    )
    postgres_port: int = Field(
        default=4232,
        ge=1,
        le=65535,
        description="The local PostgreSQL cluster (database mode postgres only).",
    )
    scale: bool = Field(
        default=False,
        description="Run the topology a company runs (`paved up --scale`): PostgreSQL, Redis "
        "for Prefect's messaging, two Prefect API servers without services behind a "
        "balancer, Prefect's services in a process of their own, three workers. Implies "
        "database postgres. When not given, as the stack was last started.",
    )
    redis_port: int = Field(
        default=4379, ge=1, le=65535, description="Redis, for Prefect's messaging (scale only)."
    )
    prefect_api_first_port: int = Field(
        default=4211,
        ge=1,
        le=65534,
        description="The scale topology's two Prefect API servers listen on this port and "
        "the next; the balancer on `prefect_port` relays to them.",
    )
    postgres_bin: Path = Field(
        default=Path("/usr/lib/postgresql/15/bin"),
        description="PostgreSQL's server binaries (initdb, postgres): Debian's postgresql-15, "
        "as the tests use (`make postgres` installs it).",
    )
    work_pool: str = Field(
        default="paved-local", min_length=1, description="Prefect process work pool to serve."
    )
    work_pool_concurrency: int = Field(
        default=6,
        ge=1,
        le=100,
        description=(
            "Flow runs the local worker runs at once; the rest wait in the queue. The local "
            "Prefect server's SQLite answers 503 when too many runs write at once."
        ),
    )
    warm_worker: bool = Field(
        default=True,
        description="Serve the work pool with Paved's warm process worker (`python -m "
        "paved.warm_worker`): flow runs forked from a process that has already imported "
        "Prefect and the flows, instead of two new interpreters per run (issue 10: 2 to 3 s "
        "less per run). Runs see changes to the code a flow imports only once the worker "
        "restarts: `paved status` then calls it out of date and `paved up` restarts it. "
        "False: Prefect's own process worker.",
    )
    admin_team: str = Field(
        default="platform",
        min_length=1,
        description="Slug of the team whose active members administer Paved: they alone edit "
        "blocks, deployments, work pools, variables, automations and concurrency limits.",
    )
    registry_url: str = Field(
        default="",
        description="SQLAlchemy URL of the registry; default: the SQLite file <home>/registry.db.",
    )
    seed_file: Path = Field(
        default=DEFAULT_SEED_FILE,
        description="People, teams and template loaded into fake GitHub and the registry.",
    )
    project_dir: Path = Field(
        default_factory=Path.cwd,
        description="The checkout holding prefect.yaml; the worker runs flows from here.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, given: Any) -> Any:
        """`PAVED_*` variables (their names in any case) for the fields not given."""
        if not isinstance(given, dict):
            return given
        variables = {
            name.upper(): value
            for name, value in os.environ.items()
            if name.upper().startswith(_PREFIX)
        }
        found = {
            field: variables[f"{_PREFIX}{field.upper()}"]
            for field in cls.model_fields
            if f"{_PREFIX}{field.upper()}" in variables
        }
        return {**found, **given}

    @field_validator("home", "seed_file", "project_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Children run with other working directories: hand them absolute paths only.
        return path.expanduser().resolve()

    @model_validator(mode="after")
    def _default_database_and_registry_url(self) -> Settings:
        # Neither given nor in the environment: the stack keeps the mode it was started in,
        # so `paved status` and `paved down` look at the same stack as the last `paved up`.
        if "scale" not in self.model_fields_set:
            self.scale = bool(remembered_scale(self.home))
        if self.scale:
            if "database" in self.model_fields_set and self.database != "postgres":
                raise ValueError("the scale topology runs on PostgreSQL: database must be postgres")
            self.database = "postgres"
        if "database" not in self.model_fields_set:
            self.database = remembered_database(self.home) or "sqlite"
        if not self.registry_url:
            if self.database == "postgres":
                self.registry_url = self.postgres_url("registry", driver="psycopg")
            else:
                self.registry_url = f"sqlite:///{self.home / 'registry.db'}"
        return self

    @property
    def postgres_dir(self) -> Path:
        """The local PostgreSQL cluster: its data directory and server log live here."""
        return self.home / "postgres"

    def postgres_url(self, database: str, *, driver: str = "psycopg") -> str:
        """SQLAlchemy URL of `database` on the local cluster. No password: the cluster
        trusts connections from the loopback address, and listens on no other."""
        return f"postgresql+{driver}://paved@{self.host}:{self.postgres_port}/{database}"

    @property
    def prefect_database_url(self) -> str:
        """Where Prefect's server keeps its data: SQLite under `prefect_home`, or the
        `prefect` database of the local cluster (asyncpg, Prefect's PostgreSQL driver)."""
        if self.database == "postgres":
            return self.postgres_url("prefect", driver="asyncpg")
        return f"sqlite+aiosqlite:///{self.prefect_home / 'prefect.db'}"

    @property
    def gateway_url(self) -> str:
        """The gateway: the Prefect UI, signed in with GitHub."""
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def gateway_api_url(self) -> str:
        """The Prefect API as people reach it: through the gateway."""
        return f"{self.gateway_url}/api"

    @property
    def secrets_file(self) -> Path:
        """The stack's own secrets (Prefect's auth string, the session key...), mode 0600."""
        return self.home / "secrets.json"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def prefect_ui_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def github_url(self) -> str:
        """The base URL PyGithub is given."""
        return f"http://{self.host}:{self.github_port}"

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def notify_url(self) -> str:
        """The webhook sink: notification blocks post to <notify_url>/hooks/<handle>."""
        return f"http://{self.host}:{self.notify_port}"

    def notify_hook_url(self, handle: str) -> str:
        """Where the notification block of `handle` posts."""
        return f"{self.notify_url}/hooks/{handle}"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.home / "pids"

    def paved_env(self) -> dict[str, str]:
        """These settings as `PAVED_*` variables: a child process reads back the same."""
        return {f"{_PREFIX}{name.upper()}": str(value) for name, value in self.model_dump().items()}

    def stack_secrets(self) -> StackSecrets:
        """This stack's secrets (made on first use, kept under `home`)."""
        # Imported here: most commands never read the stack's secrets.
        from paved.stack_secrets import load_stack_secrets

        return load_stack_secrets(self.secrets_file)

    def prefect_auth_headers(self) -> dict[str, str]:
        """Headers with which the stack's own HTTP calls reach Prefect's server directly."""
        auth_string = self.stack_secrets().prefect_auth_string.get_secret_value()
        return {"Authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}

    def prefect_env(self, secrets: StackSecrets | None = None) -> dict[str, str]:
        """Variables to set, over the inherited environment, for every Prefect process of
        this stack (server, worker, deploys, flow runs): they hold Prefect's auth string.
        People never get these: they reach Prefect through the gateway.

        Only the variables Paved sets: merge them as `{**os.environ, **prefect_env()}`.
        """
        secrets = secrets if secrets is not None else self.stack_secrets()
        auth_string = secrets.prefect_auth_string.get_secret_value()
        return {
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_API_URL": self.prefect_api_url,
            # The server answers 401 to anything without it (but /health and /ready)...
            "PREFECT_SERVER_API_AUTH_STRING": auth_string,
            # ...and the stack's own clients (worker, flow runs, deploys) send it.
            "PREFECT_API_AUTH_STRING": auth_string,
            # The UI is served through the gateway, and calls the API there.
            "PREFECT_UI_API_URL": self.gateway_api_url,
            # Failure notices and approval requests link to the run in the UI, at the gateway.
            "PREFECT_UI_URL": self.gateway_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.prefect_database_url,
            # The default 10 s poll makes every request wait up to 10 s for the worker; with
            # the warm worker a run starts within 0.1 s of being picked up, so the poll is
            # most of the wait: 0.5 s (one light read, twice a second).
            "PREFECT_WORKER_QUERY_SECONDS": "0.5",
            # Every flow run sends a heartbeat event this often (Prefect's minimum); the
            # automation of paved.automations marks a run Crashed once they stop.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
            # SQLite answers 503 under concurrent writes and clients back off silently.
            "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
            # The SQLite-backed server answers 503 under bursts of writes; clients back
            # off and retry rather than failing the run (PostgreSQL is the cure at volume).
            "PREFECT_CLIENT_MAX_RETRIES": "10",
            **(self.scale_prefect_env() if self.scale else {}),
            **self.paved_env(),
        }

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}"

    @property
    def prefect_api_ports(self) -> tuple[int, int]:
        """The scale topology's API servers."""
        return self.prefect_api_first_port, self.prefect_api_first_port + 1

    def scale_prefect_env(self) -> dict[str, str]:
        """What several Prefect servers and workers share beyond the database: events,
        the cache and concurrency leases in Redis (prefect-redis), and the Docket of
        Prefect's background work; the schema is migrated once, apart, not by each server."""
        return {
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_URL": f"{self.redis_url}/0",
            "PREFECT_SERVER_DOCKET_URL": f"{self.redis_url}/1",
            "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
        }
