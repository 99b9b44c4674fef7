"""Each block builds its client from its own fields, and secrets stay secret."""

from __future__ import annotations

from typing import Any

from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.credentials import AwsCredentials
from pydantic import SecretStr

from blocks import AwsAccount, GitHubOrganization, KafkaCluster, RegistryDatabase
from blocks.aws import CLIENT_HOOKS


def test_github_client_talks_to_the_configured_api() -> None:
    block = GitHubOrganization(
        api_url="http://127.0.0.1:1/", organization="acme", token=SecretStr("s3cret")
    )
    client = block.get_client()
    assert client.requester.base_url == "http://127.0.0.1:1"
    assert "s3cret" not in repr(block)


def test_aws_client_uses_endpoint_region_and_bounded_attempts() -> None:
    block = AwsAccount(
        credentials=AwsCredentials(
            aws_access_key_id="testing",
            aws_secret_access_key=SecretStr("testing"),
            region_name="eu-west-1",
            aws_client_parameters=AwsClientParameters(endpoint_url="http://127.0.0.1:1"),
        ),
        max_attempts=2,
    )
    s3 = block.get_client("s3")
    assert s3.meta.endpoint_url == "http://127.0.0.1:1"
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.config.retries["total_max_attempts"] == 2


def _account(*, secret: str = "testing", region: str = "eu-west-1") -> AwsAccount:
    return AwsAccount(
        credentials=AwsCredentials(
            aws_access_key_id="testing",
            aws_secret_access_key=SecretStr(secret),
            region_name=region,
            aws_client_parameters=AwsClientParameters(endpoint_url="http://127.0.0.1:1"),
        )
    )


def test_aws_clients_are_built_once_per_account_region_and_hooks() -> None:
    sqs = _account().get_client("sqs")
    assert _account().get_client("sqs") is sqs, "an equal account reuses the client"
    assert _account().get_client("s3") is not sqs
    assert _account(region="us-east-1").get_client("sqs") is not sqs
    assert _account(secret="other").get_client("sqs") is not sqs

    hooked: list[Any] = []
    CLIENT_HOOKS.append(hooked.append)
    try:
        with_hook = _account().get_client("sqs")
    finally:
        CLIENT_HOOKS.remove(hooked.append)
    # A hook registered later gets a client it has seen, not the earlier one.
    assert with_hook is not sqs and hooked == [with_hook]
    assert _account().get_client("sqs") is sqs


def test_kafka_admin_config_never_auto_creates_topics() -> None:
    block = KafkaCluster(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="paved",
        sasl_password=SecretStr("pw"),
    )
    config = block.client_config()
    assert config["allow.auto.create.topics"] is False
    assert config["sasl.password"] == "pw"
    assert "pw" not in repr(block)


def test_registry_url_is_secret() -> None:
    block = RegistryDatabase(url=SecretStr("postgresql://paved:pw@db/paved"))
    assert "pw" not in repr(block)
    assert block.url.get_secret_value().endswith("@db/paved")
