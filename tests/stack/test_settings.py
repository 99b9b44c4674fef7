"""Settings: defaults, PAVED_* overrides, derived URLs and the environment of children."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from paved.settings import Settings
from sandbox.launch import DEFAULT_SEED_FILE


def test_defaults_are_relative_to_the_current_directory(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.chdir(tmp_path)

    settings = Settings()

    home = tmp_path.resolve() / ".paved"
    assert settings.home == home
    assert settings.project_dir == tmp_path.resolve()
    assert settings.registry_url == f"sqlite:///{home}/registry.db"
    assert settings.seed_file == DEFAULT_SEED_FILE.resolve()
    assert settings.seed_file.is_file()
    assert settings.work_pool == "paved-local"
    assert settings.gateway_url == "http://127.0.0.1:4200"
    assert settings.gateway_api_url == "http://127.0.0.1:4200/api"
    assert settings.prefect_api_url == "http://127.0.0.1:4201/api"
    assert settings.prefect_ui_url == "http://127.0.0.1:4201"
    assert settings.admin_team == "platform"
    assert settings.github_url == "http://127.0.0.1:4280"
    assert settings.aws_endpoint_url == "http://127.0.0.1:4566"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.notify_url == "http://127.0.0.1:4290"
    assert settings.prefect_home == home / "prefect"
    assert settings.logs_dir == home / "logs"
    assert settings.pids_dir == home / "pids"


def test_paved_variables_override_and_derive(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.chdir(tmp_path)
    clean_env.setenv("PAVED_HOME", "state")
    clean_env.setenv("PAVED_PREFECT_PORT", "19420")
    clean_env.setenv("PAVED_GITHUB_PORT", "19480")
    clean_env.setenv("PAVED_AWS_PORT", "19566")
    clean_env.setenv("PAVED_KAFKA_PORT", "19092")
    clean_env.setenv("PAVED_NOTIFY_PORT", "19290")
    clean_env.setenv("PAVED_WORK_POOL", "elsewhere")

    settings = Settings()

    assert settings.home == tmp_path.resolve() / "state"
    assert settings.prefect_api_url == "http://127.0.0.1:19420/api"
    assert settings.prefect_ui_url == "http://127.0.0.1:19420"
    assert settings.github_url == "http://127.0.0.1:19480"
    assert settings.aws_endpoint_url == "http://127.0.0.1:19566"
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.notify_hook_url("carol") == "http://127.0.0.1:19290/hooks/carol"
    assert settings.registry_url == f"sqlite:///{tmp_path.resolve()}/state/registry.db"
    assert settings.work_pool == "elsewhere"


def test_an_explicit_registry_url_is_kept(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAVED_REGISTRY_URL", "postgresql://paved@127.0.0.1:19432/paved")

    assert Settings().registry_url == "postgresql://paved@127.0.0.1:19432/paved"


def test_prefect_env_points_every_prefect_process_at_the_stack(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, prefect_port=19420)

    env = settings.prefect_env()

    assert env["PREFECT_HOME"] == str(tmp_path / "prefect")
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:19420/api"
    # The UI is served through the gateway, and calls the API there.
    assert env["PREFECT_UI_API_URL"] == settings.gateway_api_url
    auth_string = settings.stack_secrets().prefect_auth_string.get_secret_value()
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == env["PREFECT_API_AUTH_STRING"] == auth_string
    assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"
    # Made once: the same home gives the same secrets.
    assert Settings(home=tmp_path).stack_secrets() == settings.stack_secrets()
    assert env["PREFECT_UI_URL"] == settings.gateway_url
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == (
        f"sqlite+aiosqlite:///{tmp_path}/prefect/prefect.db"
    )
    assert env["PREFECT_WORKER_QUERY_SECONDS"] == "0.5"
    assert env["PREFECT_API_LOG_RETRYABLE_ERRORS"] == "true"
    assert all(isinstance(value, str) for value in env.values())


def test_a_child_reads_back_the_same_settings(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    parent = Settings(home=tmp_path / "home", aws_port=19566, project_dir=tmp_path)
    (tmp_path / "elsewhere").mkdir()
    clean_env.chdir(tmp_path / "elsewhere")
    for name, value in parent.prefect_env().items():
        if name.startswith("PAVED_"):
            clean_env.setenv(name, value)

    assert Settings() == parent


def test_invalid_values_are_rejected(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAVED_KAFKA_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="kafka_port"):
        Settings()
    with pytest.raises(ValidationError, match="prefect_port"):
        Settings(prefect_port=70000)


def test_the_database_mode_is_sqlite_by_default_and_remembered(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("PAVED_HOME", str(tmp_path / "home"))
    clean_env.setenv("PAVED_POSTGRES_PORT", "19432")
    assert Settings().database == "sqlite"

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "database").write_text("postgres\n")  # as `paved up --postgres` left it
    remembered = Settings()
    assert remembered.database == "postgres"
    assert remembered.registry_url == "postgresql+psycopg://paved@127.0.0.1:19432/registry"
    assert remembered.prefect_database_url == "postgresql+asyncpg://paved@127.0.0.1:19432/prefect"
    assert remembered.postgres_dir == tmp_path / "home" / "postgres"

    # A flag (an argument) or PAVED_DATABASE beats what was remembered.
    assert Settings(database="sqlite").registry_url == f"sqlite:///{tmp_path}/home/registry.db"
    clean_env.setenv("PAVED_DATABASE", "sqlite")
    on_sqlite = Settings()
    assert on_sqlite.database == "sqlite"
    assert (
        on_sqlite.prefect_database_url == f"sqlite+aiosqlite:///{tmp_path}/home/prefect/prefect.db"
    )
    clean_env.setenv("PAVED_REGISTRY_URL", "postgresql+psycopg://me:secret@db.example/registry")
    assert Settings(database="postgres").registry_url.endswith("@db.example/registry")


def test_an_unknown_database_mode_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAVED_DATABASE", "mysql")

    with pytest.raises(ValidationError, match="database"):
        Settings()
