"""The registry stays a leaf: no provider SDK, no Prefect, no other Paved layer."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = (
    "boto3",
    "botocore",
    "github",
    "confluent_kafka",
    "prefect",
    "flows",
    "tasks",
    "blocks",
    "paved",
    "sandbox",
)


def test_importing_the_registry_pulls_in_no_provider_sdk() -> None:
    probe = (
        "import sys\n"
        "import registry.db, registry.queries, registry.seed, registry.policy\n"
        f"loaded = sorted(m for m in {FORBIDDEN!r} if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
