"""Prefect's own block standard suite, run over every Paved block (as prefect-aws does)."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from blocks import AwsAccount, GitHubOrganization, KafkaCluster, RegistryDatabase

ALL_BLOCKS = [GitHubOrganization, AwsAccount, KafkaCluster, RegistryDatabase]


@pytest.mark.parametrize("block", ALL_BLOCKS, indirect=True)
class TestAllBlocksAdhereToStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, request: pytest.FixtureRequest) -> type[Block]:
        block_class: type[Block] = request.param
        return block_class
