"""The Backstage export against Backstage's own entity JSON schemas (both databases).

The schemas come from the npm package `@backstage/catalog-model` pinned in package.json,
installed into node_modules by `make test` (`npm ci`). It ships them as CommonJS modules
(`dist/schema/**/*.schema.json.cjs.js`), so Node loads them and hands them over as JSON.
They refer to each other by `$id` (`$ref: "Entity"`, `"common#reference"`): all of them go
into one `referencing.Registry`. Missing package or missing Node fail the tests: they
never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from sqlalchemy.orm import Session

from paved.export_cli import KIND_FILES, LOCATION_FILE, location_entity, write_catalog
from registry.backstage import backstage_entities, is_valid_entity_name
from tests.registry import conftest as registry_fixtures
from tests.registry.test_backstage import populate_registry

# The registry fixtures (SQLite and PostgreSQL), as in tests/registry: pytest finds
# fixtures in a test module by attribute name.
sqlite_template = registry_fixtures.sqlite_template
postgres_server = registry_fixtures.postgres_server
postgres_admin = registry_fixtures.postgres_admin
postgres_registry = registry_fixtures.postgres_registry
registry_url = registry_fixtures.registry_url
engine = registry_fixtures.engine
session = registry_fixtures.session
seed_data = registry_fixtures.seed_data
seeded = registry_fixtures.seeded

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "@backstage/catalog-model"
SCHEMA_DIR = ROOT / "node_modules" / "@backstage" / "catalog-model" / "dist" / "schema"

# Prints {relative path: schema} for every schema module under argv[1].
_DUMP_SCHEMAS = """
const fs = require("fs"), path = require("path");
const root = process.argv[1], out = {};
(function walk(dir) {
  for (const entry of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, entry);
    if (fs.statSync(full).isDirectory()) walk(full);
    else if (entry.endsWith(".schema.json.cjs.js"))
      out[path.relative(root, full)] = require(full).default;
  }
})(root);
process.stdout.write(JSON.stringify(out));
"""

# Backstage's validators for what the schemas leave to code (KubernetesValidatorFunctions).
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _is_valid_annotation_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return is_valid_entity_name(name)


def _load_schemas() -> dict[str, dict[str, Any]]:
    if not SCHEMA_DIR.is_dir():
        pytest.fail(
            f"Backstage's entity schemas are missing ({SCHEMA_DIR}). They come from the npm "
            f"package {PACKAGE} pinned in package.json: run `make test`, or "
            "`npm ci --no-audit --no-fund` at the repository root, then run the contract tests.",
            pytrace=False,
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"Node.js is needed to read the schemas {PACKAGE} ships as CommonJS modules; "
            "install nodejs (`make test` does).",
            pytrace=False,
        )
    dumped = subprocess.run(
        [node, "-e", _DUMP_SCHEMAS, str(SCHEMA_DIR)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if dumped.returncode != 0:
        pytest.fail(f"could not load the schemas of {PACKAGE}:\n{dumped.stderr}", pytrace=False)
    schemas: dict[str, dict[str, Any]] = json.loads(dumped.stdout)
    return {schema["$id"]: schema for schema in schemas.values()}


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema of the package, by `$id` (Entity, EntityMeta, common, ComponentV1alpha1…)."""
    loaded = _load_schemas()
    expected = {"EntityEnvelope", "Entity", "EntityMeta", "common"}
    expected |= {f"{kind}V1alpha1" for kind in (*KIND_FILES, "Location")}
    missing = expected - set(loaded)
    if missing:
        pytest.fail(f"{PACKAGE} no longer ships the schemas {sorted(missing)}", pytrace=False)
    return loaded


@pytest.fixture(scope="module")
def check(schemas: dict[str, dict[str, Any]]) -> Any:
    """Validate one entity against EntityEnvelope, Entity and its kind's schema, plus
    Backstage's name and annotation rules; raise the first error."""
    registry: Registry[Any] = Registry().with_resources(
        (schema_id, Resource.from_contents(schema, default_specification=DRAFT7))
        for schema_id, schema in schemas.items()
    )

    def validator(schema_id: str) -> Draft7Validator:
        return Draft7Validator(schemas[schema_id], registry=registry)

    envelope, entity_schema = validator("EntityEnvelope"), validator("Entity")

    def check_entity(entity: dict[str, Any]) -> None:
        envelope.validate(entity)
        entity_schema.validate(entity)
        validator(f"{entity['kind']}V1alpha1").validate(entity)
        name = entity["metadata"]["name"]
        assert is_valid_entity_name(name), f"invalid entity name {name!r}"
        for key, value in entity["metadata"].get("annotations", {}).items():
            assert _is_valid_annotation_key(key), f"invalid annotation key {key!r} on {name}"
            assert isinstance(value, str) and value, f"annotation {key} of {name}: {value!r}"

    return check_entity


@pytest.fixture
def exported(seeded: Session) -> list[dict[str, Any]]:
    populate_registry(seeded)
    return backstage_entities(seeded)


def test_every_exported_entity_is_valid_for_backstage(
    exported: list[dict[str, Any]], check: Any
) -> None:
    kinds = {entity["kind"] for entity in exported}
    assert kinds == set(KIND_FILES)
    for entity in exported:
        check(entity)
    names = [(entity["kind"], entity["metadata"]["name"]) for entity in exported]
    assert len(names) == len(set(names)), "two entities of one kind share a name"


def test_the_written_catalog_reads_back_valid(
    exported: list[dict[str, Any]], check: Any, tmp_path: Path
) -> None:
    write_catalog(exported, tmp_path)
    read_back: list[dict[str, Any]] = []
    for filename in KIND_FILES.values():
        read_back += list(yaml.safe_load_all((tmp_path / filename).read_text(encoding="utf-8")))
    assert read_back == exported
    [location] = yaml.safe_load_all((tmp_path / LOCATION_FILE).read_text(encoding="utf-8"))
    check(location)
    for entity in read_back:
        check(entity)


def test_the_schemas_are_not_vacuous(check: Any) -> None:
    """The validation would catch what Backstage refuses (so the tests above mean it)."""
    location = location_entity(["groups.yaml"])
    check(location)
    component = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "orders"},
        "spec": {"type": "service", "owner": "group:default/payments"},
    }
    with pytest.raises(ValidationError, match="lifecycle"):
        check(component)
    resource = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Resource",
        "metadata": {"name": "bucket", "annotations": {"paved.io/status": 1}},
        "spec": {"type": "s3_bucket", "owner": "group:default/payments"},
    }
    with pytest.raises(ValidationError):
        check(resource)


def test_missing_schemas_fail_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SCHEMA_DIR", tmp_path / "absent")
    with pytest.raises(pytest.fail.Exception, match="npm ci"):
        _load_schemas()
