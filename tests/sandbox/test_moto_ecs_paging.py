"""The session's moto (launched by sandbox.launch.moto, so with sandbox.moto_ext and the
request count of sandbox.moto_server): ECS ListServices pages as AWS pages it (10 by
default, at most 100), boto3's paginator and the audit's inventory still find every
service, and each page is one request counted where it arrives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from blocks.aws import AwsAccount
from sandbox.moto_ext import ECS_LIST_SERVICES_DEFAULT, ECS_LIST_SERVICES_MAX
from sandbox.moto_server import REQUESTS_PATH
from tasks.audit.aws_inventory import list_aws_resources
from tests.servers import moto_account

SERVICES = 215  # three pages of 100


@pytest.fixture
def account(moto_url: str) -> AwsAccount:
    return moto_account(moto_url)


def make_services(account: AwsAccount, count: int) -> set[str]:
    ecs = account.get_client("ecs")
    ecs.create_cluster(clusterName=account.ecs_cluster)
    definition = ecs.register_task_definition(
        family="app", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]

    def one(index: int) -> str:
        service = ecs.create_service(
            cluster=account.ecs_cluster,
            serviceName=f"svc{index:04d}",
            taskDefinition=definition,
            desiredCount=0,
        )
        arn: str = service["service"]["serviceArn"]
        return arn

    with ThreadPoolExecutor(max_workers=4) as pool:
        return set(pool.map(one, range(count)))


def arrived(moto_url: str) -> dict[str, Any]:
    answer = httpx.get(f"{moto_url}{REQUESTS_PATH}", timeout=10)
    answer.raise_for_status()
    counts: dict[str, Any] = answer.json()
    return counts


def reset_count(moto_url: str) -> None:
    httpx.post(f"{moto_url}{REQUESTS_PATH}/reset", timeout=10).raise_for_status()


def test_list_services_pages_as_aws_does(account: AwsAccount) -> None:
    made = make_services(account, 25)
    ecs = account.get_client("ecs")

    first = ecs.list_services(cluster=account.ecs_cluster)
    assert len(first["serviceArns"]) == ECS_LIST_SERVICES_DEFAULT
    second = ecs.list_services(
        cluster=account.ecs_cluster, nextToken=first["nextToken"], maxResults=20
    )
    assert len(second["serviceArns"]) == 15 and "nextToken" not in second
    assert set(first["serviceArns"]) | set(second["serviceArns"]) == made

    with pytest.raises(ClientError) as refused:
        ecs.list_services(cluster=account.ecs_cluster, maxResults=ECS_LIST_SERVICES_MAX + 1)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


def test_the_paginator_and_the_inventory_find_every_service_a_page_a_call(
    account: AwsAccount, moto_url: str
) -> None:
    made = make_services(account, SERVICES)
    ecs = account.get_client("ecs")

    reset_count(moto_url)
    pages = list(
        ecs.get_paginator("list_services").paginate(
            cluster=account.ecs_cluster, PaginationConfig={"PageSize": ECS_LIST_SERVICES_MAX}
        )
    )
    assert [len(page["serviceArns"]) for page in pages] == [100, 100, 15]
    assert {arn for page in pages for arn in page["serviceArns"]} == made
    assert arrived(moto_url)["operations"] == {"ecs.ListServices": 3}

    reset_count(moto_url)
    inventory = list_aws_resources(account)
    listed = {item.external_id for item in inventory.resources if item.kind == "ecs_service"}
    assert listed == made
    counted = arrived(moto_url)
    assert counted["operations"]["ecs.ListServices"] == 3
    # Every call the inventory says it sent arrived, and nothing else did.
    assert counted["total"] == inventory.calls
