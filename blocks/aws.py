"""The AWS account Paved provisions into, built on prefect-aws's AwsCredentials.

`CLIENT_HOOKS` is the seam for tests and instrumentation: every callable in it is given
each new boto3 client `get_client` builds, before the client is returned, so a test can
register botocore event handlers (e.g. `before-send.sqs.CreateQueue` answering a
throttling error) or a tracer can count calls, without monkeypatching boto3.

Clients are kept per process and reused (boto3 clients are thread-safe): building one
costs 45 to 240 ms of CPU (a session, then the service's model), and a service:create
makes about twenty AWS calls from concurrent tasks. The key is everything that makes
two clients differ: service, region, credentials, endpoint, retries, and the hooks
registered when it was built, so a test that installs a hook gets a client with it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from prefect.blocks.core import Block
from prefect_aws.credentials import AwsCredentials
from pydantic import Field

__all__ = ["CLIENT_HOOKS", "AwsAccount", "forget_clients"]

# Applied in order to every client `AwsAccount.get_client` builds; see the module docstring.
CLIENT_HOOKS: list[Callable[[Any], None]] = []

# Clients built in this process, least recently used first (see the module docstring),
# and the boto3 session of each set of credentials they are built from: a session loads
# botocore's endpoint data once (about 140 ms), then each client of it costs about 10 ms.
# Sessions are not thread-safe: clients are only built under the lock.
_CLIENTS: OrderedDict[str, Any] = OrderedDict()
_SESSIONS: OrderedDict[str, Any] = OrderedDict()
_CLIENTS_MAX = 64
_CLIENTS_LOCK = threading.Lock()


def forget_clients() -> None:
    """Drop every client and session this process kept (a benchmark's cold start)."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()
        _SESSIONS.clear()


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
    subnets: list[str] = Field(
        default_factory=list,
        description="Subnet ids services run in; empty means the default VPC's subnets.",
    )
    security_groups: list[str] = Field(
        default_factory=list,
        description="Security group ids of services; empty means the VPC's default group.",
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

    def in_region(self, region: str) -> AwsAccount:
        """This account with clients talking to `region` (one of `allowed_regions`)."""
        if region not in self.allowed_regions:
            allowed = ", ".join(self.allowed_regions)
            raise ValueError(f"region {region!r} is not allowed; choose one of: {allowed}")
        credentials = self.credentials.model_copy(update={"region_name": region})
        return self.model_copy(update={"credentials": credentials})

    def get_client(self, service: str) -> Any:
        """A boto3 client for `service` in this account's region, built once per process
        for the same account, region and hooks.

        Every callable in `CLIENT_HOOKS` is applied to a new client first.
        """
        key = self._client_key(service)
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is not None:
                _CLIENTS.move_to_end(key)
                return client
            client = self._new_client(service)
            _CLIENTS[key] = client
            if len(_CLIENTS) > _CLIENTS_MAX:
                _CLIENTS.popitem(last=False)
            return client

    def _client_key(self, service: str) -> str:
        credentials = self.credentials
        secret = credentials.aws_secret_access_key
        identity = {
            "service": service,
            "region": self.region,
            "key": credentials.aws_access_key_id,
            "secret": secret.get_secret_value() if secret is not None else None,
            "token": credentials.aws_session_token,
            "profile": credentials.profile_name,
            "params": credentials.aws_client_parameters.model_dump(mode="json"),
            "max_attempts": self.max_attempts,
            "hooks": [id(hook) for hook in CLIENT_HOOKS],
        }
        # Hashed: the secret is part of what makes two clients differ, never kept in clear.
        return hashlib.sha256(
            json.dumps(identity, sort_keys=True, default=str).encode()
        ).hexdigest()

    def _new_client(self, service: str) -> Any:
        from botocore.config import Config

        session = self.credentials.get_boto3_session()
        params = self.credentials.aws_client_parameters.get_params_override()
        params["region_name"] = self.region
        params["config"] = Config(
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"}
        )
        client = session.client(service, **params)
        for hook in CLIENT_HOOKS:
            hook(client)
        return client
