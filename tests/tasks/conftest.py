"""Fixtures the provider task tests share: an emptied moto with an account on it, and
the session's Tansu broker with the topics each test makes deleted afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.logging import disable_run_logger

from blocks import AwsAccount, KafkaCluster
from tests.servers import moto_account


@pytest.fixture
def account(moto_url: str) -> AwsAccount:
    return moto_account(moto_url)


@pytest.fixture
def cluster(kafka_bootstrap: str) -> Iterator[KafkaCluster]:
    """The session's Tansu broker; topics a test makes are deleted afterwards."""
    block = KafkaCluster(bootstrap_servers=kafka_bootstrap, request_timeout_seconds=5)
    admin = block.get_admin_client()
    before = set(admin.list_topics(timeout=10).topics)
    with disable_run_logger():
        yield block
    made = set(admin.list_topics(timeout=10).topics) - before
    if made:
        for future in admin.delete_topics(sorted(made), operation_timeout=30).values():
            future.result()
