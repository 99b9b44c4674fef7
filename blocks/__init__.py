"""Prefect blocks: provider configuration and credentials; each builds its client.

Every flow loads its blocks by the names below, so one place decides what the local
stack and production save.
"""

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

from prefect.blocks.core import Block

if TYPE_CHECKING:
    from blocks.aws import AwsAccount
    from blocks.github import GitHubOrganization
    from blocks.kafka import KafkaCluster, TopicDefaults
    from blocks.registry import RegistryDatabase

# Each block's module is imported on first use (PEP 562): blocks.aws brings prefect_aws,
# whose package imports its ECS worker (about 0.7 s at every start), and a GitHub or
# registry step, or `paved run` validating a request, needs none of it.
_LAZY = {
    "AwsAccount": "blocks.aws",
    "GitHubOrganization": "blocks.github",
    "KafkaCluster": "blocks.kafka",
    "TopicDefaults": "blocks.kafka",
    "RegistryDatabase": "blocks.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
