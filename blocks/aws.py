"""The AWS account Paved provisions into, built on prefect-aws's AwsCredentials."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from prefect_aws.credentials import AwsCredentials
from pydantic import Field

__all__ = ["AwsAccount"]


class AwsAccount(Block):
    """An AWS account that Paved creates compute and storage in.

    Credentials, region, endpoint URL and the role to assume come from prefect-aws's
    `AwsCredentials` block (nested), so an account reuses whatever the company already
    configured for Prefect. Paved adds what is specific to its golden path.
    """

    _block_type_name = "Paved AWS Account"
    _block_type_slug = "paved-aws-account"
    _documentation_url = "https://docs.aws.amazon.com/general/latest/gr/aws-sec-cred-types.html"  # type: ignore[assignment]
    _code_example = """
```python
from blocks.aws import AwsAccount

aws_account = AwsAccount.load("BLOCK_NAME")
s3 = aws_account.get_client("s3")
```
"""

    credentials: AwsCredentials = Field(
        default_factory=AwsCredentials,
        description="Credentials, region, endpoint URL and role to assume (prefect-aws).",
    )
    allowed_regions: list[str] = Field(
        default_factory=lambda: ["us-east-1", "eu-west-1"],
        description="Regions a request may ask for; anything else is refused before any call.",
    )
    ecs_cluster: str = Field(
        default="paved-shared", description="Shared ECS cluster that services run in."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Total attempts botocore makes per call before Paved's task retry takes over.",
    )

    @property
    def region(self) -> str:
        """The region clients talk to (from the credentials, else the first allowed one)."""
        return self.credentials.region_name or self.allowed_regions[0]

    def get_client(self, service: str) -> Any:
        """Build a boto3 client for `service` in this account's region."""
        from botocore.config import Config

        session = self.credentials.get_boto3_session()
        params = self.credentials.aws_client_parameters.get_params_override()
        params["region_name"] = self.region
        params["config"] = Config(
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"}
        )
        return session.client(service, **params)
