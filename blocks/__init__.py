"""Prefect blocks: provider configuration and credentials; each builds its client.

Every flow loads its blocks by the names below, so one place decides what the local
stack and production save.
"""

from typing import TypeVar

from prefect.blocks.core import Block

from blocks.aws import AwsAccount
from blocks.github import GitHubOrganization
from blocks.kafka import KafkaCluster, TopicDefaults
from blocks.registry import RegistryDatabase

GITHUB_BLOCK = "paved-github"
AWS_BLOCK = "paved-aws"
KAFKA_BLOCK = "paved-kafka"
REGISTRY_BLOCK = "paved-registry"

_B = TypeVar("_B", bound=Block)


def load_block(block_type: type[_B], name: str) -> _B:
    """Load the saved block `name` of `block_type` from a synchronous caller, typed."""
    # Block.load is sync-compatible (typed block-or-coroutine); flows call it synchronously.
    block = block_type.load(name)
    if not isinstance(block, block_type):
        raise TypeError(f"block {name!r} is not a {block_type.__name__}")
    return block


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
    "load_block",
]
