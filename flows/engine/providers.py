"""The provider blocks a run uses: each loaded from Prefect once, when first needed."""

from __future__ import annotations

from functools import cached_property

from blocks import (
    AWS_BLOCK,
    GITHUB_BLOCK,
    KAFKA_BLOCK,
    AwsAccount,
    GitHubOrganization,
    KafkaCluster,
    load_block,
)

__all__ = ["Providers"]


class Providers:
    """The GitHub organization, AWS account and Kafka cluster blocks of one run."""

    @cached_property
    def github(self) -> GitHubOrganization:
        return load_block(GitHubOrganization, GITHUB_BLOCK)

    @cached_property
    def aws(self) -> AwsAccount:
        return load_block(AwsAccount, AWS_BLOCK)

    @cached_property
    def kafka(self) -> KafkaCluster:
        return load_block(KafkaCluster, KAFKA_BLOCK)

    def aws_in(self, region: str | None) -> AwsAccount:
        """The AWS account with clients in `region` (None: its default region)."""
        if region is None or region == self.aws.region:
            return self.aws
        return self.aws.in_region(region)
