"""The Kafka cluster that holds the golden path's topics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from prefect.blocks.core import Block
from pydantic import BaseModel, Field, SecretStr

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

__all__ = ["KafkaCluster", "TopicDefaults"]


class TopicDefaults(BaseModel):
    """Bounds and defaults the topic policy applies on this cluster."""

    partitions: int = Field(default=3, ge=1, description="Partitions of a new topic.")
    max_partitions: int = Field(
        default=48, ge=1, description="Most partitions a request may ask for."
    )
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of new topics."
    )
    retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=-1,
        description="Retention of event topics, in milliseconds.",
    )
    max_retention_ms: int = Field(
        default=90 * 24 * 3600 * 1000, ge=-1, description="Longest retention a request may ask for."
    )


class KafkaCluster(Block):
    """A Kafka cluster reached through confluent-kafka's AdminClient."""

    _block_type_name = "Paved Kafka Cluster"
    _block_type_slug = "paved-kafka-cluster"
    _documentation_url = (
        "https://docs.confluent.io/platform/current/clients/confluent-kafka-python/html/index.html"  # type: ignore[assignment]
    )
    _code_example = """
```python
from blocks.kafka import KafkaCluster

kafka_cluster = KafkaCluster.load("BLOCK_NAME")
admin = kafka_cluster.get_admin_client()
```
"""

    bootstrap_servers: str = Field(description="Comma-separated host:port list of brokers.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Protocol used to talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism when the protocol is SASL_*."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    has_authorizer: bool = Field(
        default=False,
        description="Whether the cluster has an authorizer; ACL calls are refused otherwise.",
    )
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one admin request, in seconds."
    )
    topic_defaults: TopicDefaults = Field(
        default_factory=TopicDefaults, description="Defaults and bounds for new topics."
    )

    def client_config(self) -> dict[str, str | int | float | bool]:
        """The librdkafka configuration for clients of this cluster."""
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # A metadata request for a missing topic would otherwise create it.
            "allow.auto.create.topics": False,
            "socket.timeout.ms": int(self.request_timeout_seconds * 1000),
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        return config

    def get_admin_client(self) -> AdminClient:
        """Build an AdminClient for this cluster."""
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.client_config())
