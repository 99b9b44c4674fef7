"""Prefect blocks: provider configuration and credentials; each builds its client.

Every flow loads its blocks by the names below, so one place decides what the local
stack and production save.
"""

from blocks.aws import AwsAccount
from blocks.github import GitHubOrganization
from blocks.kafka import KafkaCluster, TopicDefaults
from blocks.registry import RegistryDatabase

GITHUB_BLOCK = "paved-github"
AWS_BLOCK = "paved-aws"
KAFKA_BLOCK = "paved-kafka"
REGISTRY_BLOCK = "paved-registry"

__all__ = [
    "AWS_BLOCK",
    "GITHUB_BLOCK",
    "KAFKA_BLOCK",
    "REGISTRY_BLOCK",
    "AwsAccount",
    "GitHubOrganization",
    "KafkaCluster",
    "RegistryDatabase",
    "TopicDefaults",
]
