"""deploy/ checked without a cluster: what can be proven on this machine (docs/deploy.md,
"What was checked here").

- The Helm values validate against the charts' own values.schema.json (copied, unchanged,
  into deploy/reference/prefect-helm/: a clone of the project has no ../shared).
- The environment the server values set names real Prefect settings.
- The base job template is valid for the Kubernetes worker (prefect-kubernetes's own
  models, and the server's check of a work pool's template), and runs Paved's image.
- The Dockerfile installs and lays out what prefect.yaml's deployments need, where the
  guide says PAVED_PROJECT_DIR points.
- The gateway's manifest gives every setting paved/gateway/config.py requires, and the
  Ingress reaches the gateway only.
- deploy/save_blocks.py refuses a missing variable before saving anything.

Hermetic and fast: no network, no Prefect server, no cluster.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
REFERENCE = DEPLOY / "reference" / "prefect-helm"
SERVER_VALUES = DEPLOY / "helm" / "prefect-server.values.yaml"
WORKER_VALUES = DEPLOY / "helm" / "prefect-worker.values.yaml"
JOB_TEMPLATE = DEPLOY / "kubernetes" / "base-job-template.json"
GATEWAY_MANIFEST = DEPLOY / "kubernetes" / "gateway.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
BLOCKS_SCRIPT = DEPLOY / "save_blocks.py"
GUIDE = ROOT / "docs" / "deploy.md"

PAVED_IMAGE = "registry.example.com/platform/paved:0.1.0"
PAVED_UID = 10001
WORKER_AUTH_STRING = "paved:the-workers-own"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_job_template() -> dict[str, Any]:
    template: dict[str, Any] = json.loads(JOB_TEMPLATE.read_text())
    return template


def chart_schema(chart: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((REFERENCE / chart / "values.schema.json").read_text())
    return schema


def schema_errors(values: Any, schema: dict[str, Any]) -> list[str]:
    """Every error of `values` against `schema`, under the drafts Helm has validated with.

    The charts' schemas say `"$schema": "http://json-schema.org/schema#"` (no draft): Helm
    up to 3.17 checked values with draft 7, Helm 3.18 and later with draft 2020-12; values
    must pass both.
    """
    errors: list[str] = []
    for validator_class in (jsonschema.Draft7Validator, jsonschema.Draft202012Validator):
        validator_class.check_schema(schema)
        errors += [
            f"{validator_class.__name__}: "
            f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator_class(schema).iter_errors(values)
        ]
    return errors


# --- The reference copy -------------------------------------------------------------------


def test_the_reference_copy_holds_both_charts_and_says_where_it_is_from() -> None:
    for chart in ("prefect-server", "prefect-worker"):
        assert (REFERENCE / chart / "values.yaml").is_file()
        assert (REFERENCE / chart / "values.schema.json").is_file()
    assert "Apache License" in (REFERENCE / "LICENSE").read_text()
    readme = (REFERENCE / "README.md").read_text()
    assert "github.com/PrefectHQ/prefect-helm" in readme
    assert "tests/deploy" in readme


@pytest.mark.parametrize("chart", ["prefect-server", "prefect-worker"])
def test_the_charts_own_defaults_validate_against_their_schema(chart: str) -> None:
    # A sanity check of the copy and of the validator: the chart's values.yaml passes.
    defaults = load_yaml(REFERENCE / chart / "values.yaml")
    assert schema_errors(defaults, chart_schema(chart)) == []


# --- Helm values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values_file", "chart"),
    [(SERVER_VALUES, "prefect-server"), (WORKER_VALUES, "prefect-worker")],
)
def test_values_validate_against_the_charts_schema(values_file: Path, chart: str) -> None:
    values = load_yaml(values_file)
    schema = chart_schema(chart)
    assert schema_errors(values, schema) == []
    # The schemas allow unknown top-level keys; a misspelt one would be silently ignored.
    assert set(values) <= set(schema["properties"])


def _literal_passwords(node: Any, path: str = "") -> list[str]:
    """Paths of non-empty values under keys that hold secrets in the charts."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in {"password", "authString", "connectionString"} and value:
                found.append(here)
            found.extend(_literal_passwords(value, here))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_literal_passwords(item, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("values_file", [SERVER_VALUES, WORKER_VALUES])
def test_values_hold_no_secret(values_file: Path) -> None:
    assert _literal_passwords(load_yaml(values_file)) == []


def test_server_values_ask_for_the_production_topology() -> None:
    values = load_yaml(SERVER_VALUES)
    assert values["server"]["replicaCount"] >= 2
    assert values["backgroundServices"]["runAsSeparateDeployment"] is True
    assert values["migrations"]["enabled"] is True
    # External PostgreSQL from a Secret, nothing bundled.
    assert values["postgresql"]["enabled"] is False
    assert values["sqlite"]["enabled"] is False
    assert values["externalDatabase"]["existingSecret"]
    assert values["secret"]["create"] is False
    # The auth string from a Secret.
    assert values["server"]["basicAuth"] == {"enabled": True, "existingSecret": "prefect-auth"}
    # Redis for messaging, on the background services.
    messaging = values["backgroundServices"]["messaging"]
    assert messaging["broker"] == messaging["cache"] == "prefect_redis.messaging"
    assert messaging["redis"]["existingSecret"]
    # People reach Prefect through the gateway only.
    assert values["ingress"]["enabled"] is False
    assert values["httproute"]["enabled"] is False
    assert values["server"]["uiConfig"]["prefectUiApiUrl"].endswith("/api")


def _env_of(entries: list[dict[str, Any]]) -> dict[str, str]:
    """An env list as the container would see it; a valueFrom stands for a dummy value."""
    return {
        entry["name"]: str(entry["value"]) if "value" in entry else "redis://redis.invalid:6379/0"
        for entry in entries
    }


def _prefect_settings_under(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from prefect.settings import Settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_api_replicas_env_names_real_prefect_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values = load_yaml(SERVER_VALUES)
    env = _env_of(values["global"]["prefect"]["env"] + values["server"]["env"])
    settings = _prefect_settings_under(env, monkeypatch)
    assert settings.server.events.messaging_broker == "prefect_redis.messaging"
    assert settings.server.events.messaging_cache == "prefect_redis.messaging"
    assert settings.server.concurrency.lease_storage == "prefect_redis.lease_storage"
    assert settings.server.database.migrate_on_start is False
    assert settings.server.analytics_enabled is False
    # The Redis URL from the Secret reaches prefect-redis under the name it reads.
    from prefect_redis.client import RedisMessagingSettings

    assert RedisMessagingSettings().url == env["PREFECT_REDIS_MESSAGING_URL"]


def test_background_services_env_names_real_prefect_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = load_yaml(SERVER_VALUES)
    env = _env_of(values["global"]["prefect"]["env"] + values["backgroundServices"]["env"])
    settings = _prefect_settings_under(env, monkeypatch)
    assert settings.server.concurrency.lease_storage == "prefect_redis.lease_storage"
    assert settings.server.database.migrate_on_start is False


def test_worker_values_poll_the_paved_kubernetes_pool_with_the_job_template() -> None:
    values = load_yaml(WORKER_VALUES)
    config = values["worker"]["config"]
    assert config["type"] == "kubernetes"
    assert config["workPool"] == "paved"
    assert values["worker"]["apiConfig"] == "selfHostedServer"
    assert values["worker"]["selfHostedServerApiConfig"]["basicAuth"] == {
        "enabled": True,
        "existingSecret": "prefect-auth",
    }
    # The same template as deploy/kubernetes/base-job-template.json, not a drifting copy.
    assert config["baseJobTemplate"]["configuration"] == load_job_template()


# --- The base job template -----------------------------------------------------------------


def test_job_template_passes_the_servers_work_pool_check() -> None:
    from prefect.server.schemas.actions import WorkPoolCreate

    pool = WorkPoolCreate(name="paved", type="kubernetes", base_job_template=load_job_template())
    assert pool.base_job_template["job_configuration"]


def test_job_template_variables_are_the_kubernetes_workers() -> None:
    from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerVariables

    template = load_job_template()
    variables = template["variables"]
    default = KubernetesWorker.get_default_base_job_template()["variables"]
    assert set(variables["properties"]) == set(default["properties"])
    # Every default validates, as a deployment with no job variables of its own
    # (prefect.yaml sets none) is checked by Prefect...
    defaults = {
        name: spec["default"] for name, spec in variables["properties"].items() if "default" in spec
    }
    schema = copy.deepcopy(variables)
    schema["required"] = [name for name in schema.get("required", []) if name not in defaults]
    jsonschema.validate({}, schema)
    jsonschema.validate(defaults, variables)
    # ...and by the worker's own model of its variables.
    KubernetesWorkerVariables.model_validate(defaults)


def _job_configuration() -> Any:
    """The job the worker would run for a flow run of a deployment with no job variables."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun
    from prefect.settings import PREFECT_API_AUTH_STRING, temporary_settings
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    async def build() -> Any:
        # The template refers to no block or Prefect variable, so this client is never
        # called: passing it keeps Prefect from starting a temporary server.
        client = PrefectClient("http://127.0.0.1:9/api")
        return await KubernetesWorkerJobConfiguration.from_template_and_values(
            load_job_template(), {}, client=client
        )

    configuration = asyncio.run(build())
    # As in the worker's pod, which holds the server's auth string (from Secret prefect-auth).
    with temporary_settings(updates={PREFECT_API_AUTH_STRING: WORKER_AUTH_STRING}):
        configuration.prepare_for_flow_run(
            FlowRun(id=uuid.uuid4(), name="steady-otter", flow_id=uuid.uuid4())
        )
    return configuration


def test_job_runs_paved_image_with_heartbeats_secrets_and_a_non_root_user() -> None:
    from paved.settings import HEARTBEAT_SECONDS

    configuration = _job_configuration()
    manifest = configuration.job_manifest
    assert manifest["kind"] == "Job"
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == PAVED_IMAGE
    assert container["args"] == ["prefect", "flow-run", "execute"]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    # The crash-detection automation (paved.automations) relies on these beats.
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(HEARTBEAT_SECONDS)
    assert env["PREFECT_UI_URL"].startswith("https://")
    # Prefect's own files in the image's home, whatever PREFECT_HOME the worker has.
    assert env["PREFECT_HOME"].startswith("/home/paved/")
    # The worker passes its settings on to each Job, its auth string too, in clear in the
    # Job's manifest: the template drops it, and the flow run reads it from the Secret.
    assert "PREFECT_API_AUTH_STRING" not in env
    assert WORKER_AUTH_STRING not in json.dumps(manifest)
    assert container["envFrom"] == [{"secretRef": {"name": "paved-flow-runs"}}]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsUser"] == PAVED_UID
    assert pod["serviceAccountName"] == "paved-flow-runs"
    assert manifest["metadata"]["namespace"] == "paved"
    # No secret is written into the template: secrets come through envFrom only.
    defaults = load_job_template()["variables"]["properties"]["env"]["default"]
    assert defaults["PREFECT_API_AUTH_STRING"] is None


# --- The image -----------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _instructions(name: str) -> list[str]:
    return [argument for instruction, argument in _dockerfile_instructions() if instruction == name]


def _guide_project_dir() -> str:
    found = set(re.findall(r"PAVED_PROJECT_DIR=(\S+)", GUIDE.read_text()))
    assert len(found) == 1, f"docs/deploy.md sets PAVED_PROJECT_DIR to {found}"
    return found.pop()


def test_dockerfile_workdir_is_the_project_dir_the_guide_deploys_with() -> None:
    (workdir,) = _instructions("WORKDIR")
    assert workdir == _guide_project_dir() == "/opt/paved"
    # prefect.yaml's pull step is what reads it, and stays as it is.
    assert '"{{ $PAVED_PROJECT_DIR }}"' in (ROOT / "prefect.yaml").read_text()


def test_dockerfile_installs_the_project_without_extras_as_a_non_root_user() -> None:
    assert _instructions("FROM") == ["python:3.11-slim"]
    runs = " ".join(_instructions("RUN"))
    assert "pip install . " in runs + " "
    assert "[" not in runs  # no extras: the sandbox's stand-ins stay out of the image
    (user,) = _instructions("USER")
    assert user == str(PAVED_UID)


def test_dockerfile_copies_what_pip_install_and_the_deployments_need() -> None:
    copied = {
        source.rstrip("/") for argument in _instructions("COPY") for source in argument.split()[:-1]
    }
    # Every package setuptools installs (pyproject's packages.find), and what it reads.
    assert {
        "pyproject.toml",
        "README.md",
        "paved",
        "flows",
        "tasks",
        "blocks",
        "registry",
    } <= copied
    assert "sandbox" in copied  # paved.settings imports the sandbox package
    # Every deployment's entrypoint lies in a copied directory, prefect.yaml beside them.
    deployments = load_yaml(ROOT / "prefect.yaml")["deployments"]
    assert {d["entrypoint"].split("/", 1)[0] for d in deployments} <= copied
    assert "prefect.yaml" in copied
    assert "deploy/save_blocks.py" in copied


# --- The gateway ---------------------------------------------------------------------------


def _gateway_documents() -> dict[str, dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(GATEWAY_MANIFEST.read_text()) if doc]
    return {doc["kind"]: doc for doc in documents}


def test_gateway_runs_paved_gateway_with_every_required_setting() -> None:
    from paved.gateway.config import GatewayConfig

    deployment = _gateway_documents()["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "paved.gateway"]
    assert container["image"] == PAVED_IMAGE
    names = {entry["name"] for entry in container["env"]}
    fields = {
        f"PAVED_GATEWAY_{name.upper()}": info for name, info in GatewayConfig.model_fields.items()
    }
    assert names <= set(fields), f"unknown settings: {names - set(fields)}"
    required = {name for name, info in fields.items() if info.is_required()}
    assert required <= names, f"missing settings: {required - names}"
    # Secret settings come from Secrets, never written in the manifest (the OAuth client
    # id, not secret, comes from the same Secret as its secret: both change together).
    for entry in container["env"]:
        if "SecretStr" in str(fields[entry["name"]].annotation):
            assert "valueFrom" in entry, entry["name"]
    # Listens on every address of the pod, on the port its Service targets.
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert env["PAVED_GATEWAY_HOST"] == "0.0.0.0"
    assert env["PAVED_GATEWAY_SECURE_COOKIES"] == "true"
    (port,) = container["ports"]
    assert str(port["containerPort"]) == env["PAVED_GATEWAY_PORT"]


def test_gateway_reaches_the_same_prefect_service_as_the_worker() -> None:
    deployment = _gateway_documents()["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    worker_api = load_yaml(WORKER_VALUES)["worker"]["selfHostedServerApiConfig"]["apiUrl"]
    assert f"{env['PAVED_GATEWAY_PREFECT_URL']}/api" == worker_api
    server = load_yaml(SERVER_VALUES)
    assert f":{server['service']['port']}" in worker_api


def test_the_ingress_points_at_the_gateway_never_at_prefect() -> None:
    documents = _gateway_documents()
    service = documents["Service"]
    assert (
        service["spec"]["selector"] == (documents["Deployment"]["spec"]["selector"]["matchLabels"])
    )
    backends = [
        path["backend"]["service"]["name"]
        for rule in documents["Ingress"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends == [service["metadata"]["name"]]
    assert not any("prefect" in backend for backend in backends)


# --- The blocks script ---------------------------------------------------------------------


def _complete_environment() -> dict[str, str]:
    return {
        # A port nothing listens on: if the script ever tried to save, it would fail loudly.
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
        "PREFECT_API_AUTH_STRING": "paved:not-a-secret",
        "PAVED_GITHUB_ORGANIZATION": "acme",
        "PAVED_GITHUB_TOKEN": "not-a-token",
        "PAVED_AWS_REGION": "eu-west-1",
        "PAVED_KAFKA_BOOTSTRAP_SERVERS": "b-1.kafka.invalid:9096",
        "PAVED_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PAVED_KAFKA_USERNAME": "paved",
        "PAVED_KAFKA_PASSWORD": "not-a-password",
        "PAVED_REGISTRY_URL": "postgresql+psycopg://paved@db.invalid:5432/registry",
    }


def _run_blocks_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Prefect made unimportable: a refusal must come before anything could be saved.
    runner = (
        "import runpy, sys; sys.modules['prefect'] = None; "
        f"sys.argv = [{str(BLOCKS_SCRIPT)!r}]; "
        f"runpy.run_path({str(BLOCKS_SCRIPT)!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", runner],
        env={**env, "PATH": os.environ.get("PATH", "")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_blocks_script_with_an_empty_environment_refuses_naming_every_variable() -> None:
    completed = _run_blocks_script({})
    assert completed.returncode == 2, completed.stderr
    assert "nothing was saved" in completed.stderr
    for name in _required():
        assert name in completed.stderr
    assert completed.stdout == ""


def _required() -> list[str]:
    """deploy/save_blocks.py's REQUIRED variables (deploy/ is not a package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("paved_deploy_save_blocks", BLOCKS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.REQUIRED)


@pytest.mark.parametrize("missing", _required())
def test_blocks_script_refuses_one_missing_variable_before_saving(missing: str) -> None:
    env = _complete_environment()
    del env[missing]
    completed = _run_blocks_script(env)
    assert completed.returncode == 2, completed.stderr
    assert f"  {missing}:" in completed.stderr
    assert "nothing was saved" in completed.stderr
    assert completed.stdout == ""


def test_blocks_script_refuses_half_an_aws_key_pair_before_saving() -> None:
    env = {**_complete_environment(), "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}
    completed = _run_blocks_script(env)
    assert completed.returncode == 2, completed.stderr
    assert "AWS_SECRET_ACCESS_KEY" in completed.stderr
    assert "nothing was saved" in completed.stderr


def test_blocks_script_refuses_an_unknown_sasl_mechanism_before_saving() -> None:
    env = {**_complete_environment(), "PAVED_KAFKA_SASL_MECHANISM": "GSSAPI"}
    completed = _run_blocks_script(env)
    assert completed.returncode == 2, completed.stderr
    assert "kafka_sasl_mechanism" in completed.stderr


def test_the_guide_names_every_variable_the_blocks_script_requires() -> None:
    guide = GUIDE.read_text()
    for name in _required():
        assert name in guide, name
