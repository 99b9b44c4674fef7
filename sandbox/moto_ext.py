"""Where moto 5.2.5 falls short of real AWS for the drift audit, made to behave like AWS.

The drift audit lists settings in batches, the way it is done at scale on real AWS: AWS
Config's `BatchGetResourceConfig` (100 resources a call) for settings, the Resource Groups
Tagging API's `GetResources` for tags. moto answers both, but:

- its Config knows S3 buckets (and IAM, SNS) only, and a bucket's item lacks the
  `ServerSideEncryptionConfiguration` and `BucketVersioningConfiguration` that real
  AWS Config records as supplementary configuration;
- its Tagging API leaves out ECR repositories;
- its ECS `ListServices` answers every service of a cluster at once, where AWS pages
  (10 a call by default, at most 100: `maxResults`/`nextToken`), so an audit of 910
  services would cost one call in the sandbox and at least 10 on AWS.

`install()` fills those gaps in the running moto: configuration items for
`AWS::SQS::Queue` and `AWS::DynamoDB::Table`, shaped as AWS Config records them (see
github.com/awslabs/aws-config-resource-schema, `config/properties/resource-types`), the
two missing supplementary entries on `AWS::S3::Bucket`, ECR repositories in
`GetResources`, and ECS `ListServices` pages as AWS cuts them. It touches moto's
internals, so it checks first that they are the ones it was written against and refuses
otherwise. `sandbox.moto_server` applies it before serving; nothing here changes what
moto stores, only what it reports (and how much of it one ListServices call returns).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from moto.config import models as config_models
from moto.core.common_models import ConfigQueryModel
from moto.core.exceptions import InvalidNextTokenException
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
from moto.core.responses import ActionResult
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.ecr import urls as ecr_urls
from moto.ecr.models import ECRBackend, ecr_backends
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.s3.models import FakeBucket
from moto.sqs.models import Queue, SQSBackend, sqs_backends

__all__ = [
    "DYNAMODB_TABLE",
    "ECS_LIST_SERVICES_DEFAULT",
    "ECS_LIST_SERVICES_MAX",
    "SQS_QUEUE",
    "TaggableECRBackend",
    "install",
    "installed",
]

SQS_QUEUE = "AWS::SQS::Queue"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"

# Queue attributes AWS Config records as integers; the others stay strings, as
# GetQueueAttributes answers them.
_SQS_INTEGER_ATTRIBUTES = frozenset(
    {
        "DelaySeconds",
        "KmsDataKeyReusePeriodSeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
    }
)
# Counters that change with every message: not configuration, AWS Config leaves them out.
_SQS_VOLATILE_ATTRIBUTES = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
)
_SQS_TIMESTAMP_ATTRIBUTES = frozenset({"CreatedTimestamp", "LastModifiedTimestamp"})
_LEADING_CAPITALS = re.compile(r"^[A-Z]+")


def _iso(moment: datetime.datetime | float | int | str) -> str:
    if isinstance(moment, datetime.datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
        return aware.isoformat()
    if isinstance(moment, int | float):
        return datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).isoformat()
    return moment


def _config_key(name: str) -> str:
    """A DescribeTable member name as AWS Config spells it: Java-bean style, every leading
    capital lowered (TableArn -> tableArn, SSEDescription -> ssedescription,
    KMSMasterKeyArn -> kmsmasterKeyArn)."""
    return _LEADING_CAPITALS.sub(lambda match: match.group(0).lower(), name)


def _config_shape(value: Any) -> Any:
    """`value` with every key in Config's spelling and every timestamp as ISO 8601."""
    if isinstance(value, dict):
        return {_config_key(key): _config_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_config_shape(item) for item in value]
    if isinstance(value, datetime.datetime):
        return _iso(value)
    return value


def _item(
    *,
    resource_type: str,
    resource_id: str,
    name: str,
    arn: str,
    account_id: str,
    region: str,
    created: str,
    tags: dict[str, str],
    configuration: dict[str, Any],
) -> dict[str, Any]:
    """A configuration item as BatchGetResourceConfig returns it: `configuration` is a
    JSON string (boto3 hands it over unparsed, as on real AWS)."""
    now = datetime.datetime.now(tz=datetime.UTC)
    return {
        "version": "1.3",
        "accountId": account_id,
        "configurationItemCaptureTime": now.isoformat(),
        "configurationItemStatus": "OK",
        "configurationStateId": str(int(now.timestamp() * 1000)),
        "arn": arn,
        "resourceType": resource_type,
        "resourceId": resource_id,
        "resourceName": name,
        "awsRegion": region,
        "availabilityZone": "Regional",
        "resourceCreationTime": created,
        "relatedEvents": [],
        "relationships": [],
        "tags": tags,
        "configuration": json.dumps(configuration),
        "supplementaryConfiguration": {},
    }


def _page(
    identifiers: list[dict[str, Any]], limit: int, next_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `identifiers` (sorted by id); the token is the next page's first id."""
    ordered = sorted(identifiers, key=lambda identifier: str(identifier["id"]))
    ids = [str(identifier["id"]) for identifier in ordered]
    start = 0
    if next_token:
        if next_token not in ids:
            raise InvalidNextTokenException()
        start = ids.index(next_token)
    page = ordered[start : start + limit]
    token = ids[start + limit] if len(ids) > start + limit else None
    return page, token


def _wanted(identifier: dict[str, Any], ids: list[str] | None, name: str | None) -> bool:
    if ids and identifier["id"] not in ids and identifier["name"] not in ids:
        return False
    return not (name and identifier["name"] != name)


# --- AWS::SQS::Queue ----------------------------------------------------------------


def _queue_name(resource_id: str) -> str:
    """The queue a Config resource id names: AWS Config's id is the queue URL; a bare
    name or an ARN is accepted too (moto's URLs carry whatever host was asked)."""
    return re.split(r"[/:]", resource_id.rstrip("/"))[-1]


def _queue_configuration(queue: Queue) -> dict[str, Any]:
    configuration: dict[str, Any] = {}
    for key, value in queue.attributes.items():
        if key in _SQS_VOLATILE_ATTRIBUTES or value is None:
            continue
        if key in _SQS_INTEGER_ATTRIBUTES:
            configuration[key] = int(value)
        elif key in _SQS_TIMESTAMP_ATTRIBUTES:
            configuration[key] = _iso(int(value))
        else:
            # RedrivePolicy and Policy stay the JSON strings GetQueueAttributes answers.
            configuration[key] = str(value)
    configuration["QueueUrl"] = queue.physical_resource_id
    configuration["QueueName"] = queue.name
    return configuration


class SqsConfigQuery(ConfigQueryModel[SQSBackend]):
    """AWS Config's view of SQS queues: one regional item per queue, id = queue URL."""

    def list_config_service_resources(
        self,
        account_id: str,
        partition: str,
        resource_ids: list[str] | None,
        resource_name: str | None,
        limit: int,
        next_token: str | None,
        backend_region: str | None = None,
        resource_region: str | None = None,
        aggregator: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        region = backend_region or resource_region
        identifiers = [
            {"type": SQS_QUEUE, "id": queue.physical_resource_id, "name": name, "region": r}
            for r, backend in self.backends[account_id].items()
            if region is None or r == region
            for name, queue in backend.queues.items()
        ]
        wanted = [i for i in identifiers if _wanted(i, resource_ids, resource_name)]
        return _page(wanted, limit, next_token)

    def get_config_resource(
        self,
        account_id: str,
        partition: str,
        resource_id: str,
        resource_name: str | None = None,
        backend_region: str | None = None,
        resource_region: str | None = None,
    ) -> dict[str, Any] | None:
        region = backend_region or resource_region
        backend = self.backends[account_id].get(region) if region else None
        queue = backend.queues.get(_queue_name(resource_id)) if backend else None
        if queue is None or (resource_name and queue.name != resource_name):
            return None
        return _item(
            resource_type=SQS_QUEUE,
            resource_id=queue.physical_resource_id,
            name=queue.name,
            arn=queue.queue_arn,
            account_id=account_id,
            region=queue.region,
            created=_iso(int(queue.created_timestamp)),
            tags=dict(queue.tags or {}),
            configuration=_queue_configuration(queue),
        )


# --- AWS::DynamoDB::Table -----------------------------------------------------------


class DynamoDbConfigQuery(ConfigQueryModel[DynamoDBBackend]):
    """AWS Config's view of DynamoDB tables: DescribeTable's `Table` in Config's
    spelling (`billingModeSummary.billingMode`, `keySchema[].attributeName`, ...)."""

    def list_config_service_resources(
        self,
        account_id: str,
        partition: str,
        resource_ids: list[str] | None,
        resource_name: str | None,
        limit: int,
        next_token: str | None,
        backend_region: str | None = None,
        resource_region: str | None = None,
        aggregator: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        region = backend_region or resource_region
        identifiers = [
            {"type": DYNAMODB_TABLE, "id": name, "name": name, "region": r}
            for r, backend in self.backends[account_id].items()
            if region is None or r == region
            for name in backend.tables
        ]
        wanted = [i for i in identifiers if _wanted(i, resource_ids, resource_name)]
        return _page(wanted, limit, next_token)

    def get_config_resource(
        self,
        account_id: str,
        partition: str,
        resource_id: str,
        resource_name: str | None = None,
        backend_region: str | None = None,
        resource_region: str | None = None,
    ) -> dict[str, Any] | None:
        region = backend_region or resource_region
        backend = self.backends[account_id].get(region) if region else None
        table = backend.tables.get(resource_id) if backend else None
        if table is None or (resource_name and table.name != resource_name):
            return None
        return _item(
            resource_type=DYNAMODB_TABLE,
            resource_id=table.name,
            name=table.name,
            arn=table.table_arn,
            account_id=account_id,
            region=table.region_name,
            created=_iso(table.created_at),
            tags={t["Key"]: t["Value"] for t in (table.tags or [])},
            configuration=_config_shape(table.describe(base_key="Table")["Table"]),
        )


# --- AWS::S3::Bucket: the supplementary configuration moto leaves out ----------------


def _encryption_configuration(bucket: FakeBucket) -> dict[str, Any] | None:
    """ServerSideEncryptionConfiguration as AWS Config records it, None when unset."""
    if not bucket.encryption:
        return None
    rules = bucket.encryption.get("Rule")
    recorded = []
    for rule in rules if isinstance(rules, list) else [rules]:
        default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
        recorded.append(
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": default.get("SSEAlgorithm"),
                    "kmsMasterKeyID": default.get("KMSMasterKeyID"),
                },
                "bucketKeyEnabled": str((rule or {}).get("BucketKeyEnabled")).lower() == "true",
            }
        )
    return {"rules": recorded}


def _with_supplementary_settings(
    to_config_dict: Callable[[FakeBucket], dict[str, Any]],
) -> Callable[[FakeBucket], dict[str, Any]]:
    def to_config_dict_with_settings(bucket: FakeBucket) -> dict[str, Any]:
        item = to_config_dict(bucket)
        supplementary = item["supplementaryConfiguration"]
        encryption = _encryption_configuration(bucket)
        if encryption is not None:
            supplementary["ServerSideEncryptionConfiguration"] = encryption
        # AWS Config says "Off" for a bucket that never had versioning.
        supplementary["BucketVersioningConfiguration"] = {
            "status": bucket.versioning_status or "Off",
            "isMfaDeleteEnabled": None,
        }
        return item

    to_config_dict_with_settings.__wrapped__ = to_config_dict  # type: ignore[attr-defined]
    return to_config_dict_with_settings


# --- ECR in the Resource Groups Tagging API ------------------------------------------


class TaggableECRBackend(ECRBackend, TaggableResourcesMixin):
    """moto's ECR backend, also reporting its repositories to GetResources."""

    SERVICE_NAMESPACE = "ecr"

    @property
    def _url_module(self) -> Any:
        # moto finds a service's routes in the `urls` module beside its backend's module;
        # this class lives elsewhere, the routes are ECR's.
        return ecr_urls

    def iter_tagged_resources(self) -> Iterator[TaggedResource]:
        for repository in self.repositories.values():
            yield TaggedResource(
                arn=repository.arn,
                tags=self.tagger.get_tag_dict_for_resource(repository.arn),
                resource_type="ecr:repository",
            )

    def tag_resource(self, arn: str, tags: Any) -> None:
        # ECR's own TagResource passes [{"Key", "Value"}]; the Tagging API passes a dict.
        if isinstance(tags, dict):
            tags = [{"Key": key, "Value": value} for key, value in tags.items()]
        super().tag_resource(arn, tags)


# --- ECS ListServices in pages -------------------------------------------------------

# The AWS API reference, Amazon ECS, ListServices, request parameter `maxResults`: "The
# maximum number of service results that ListServices returned in paginated output ...
# This value can be between 1 and 100. If this parameter isn't used, then ListServices
# returns up to 10 results and a nextToken value if applicable."
# (docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServices.html)
ECS_LIST_SERVICES_DEFAULT = 10
ECS_LIST_SERVICES_MAX = 100


def _paged_list_services(response: EC2ContainerServiceResponse) -> ActionResult:
    """moto's ListServices (the same backend call, the same filters), cut into AWS's
    pages: the token is the next page's first ARN (opaque to clients, as AWS's is)."""
    limit = response._get_param("maxResults")
    if limit is None:
        limit = ECS_LIST_SERVICES_DEFAULT
    elif not 1 <= int(limit) <= ECS_LIST_SERVICES_MAX:
        raise InvalidParameterException(
            f"maxResults must be between 1 and {ECS_LIST_SERVICES_MAX}, got {limit}"
        )
    arns = response.ecs_backend.list_services(  # sorted by moto
        response._get_param("cluster", "default"),
        response._get_param("schedulingStrategy"),
        launch_type=response._get_param("launchType"),
    )
    start = 0
    token = response._get_param("nextToken")
    if token:
        if token not in arns:
            raise InvalidParameterException("Invalid nextToken")
        start = arns.index(token)
    end = start + int(limit)
    result: dict[str, Any] = {"serviceArns": arns[start:end]}
    if end < len(arns):
        result["nextToken"] = arns[end]
    return ActionResult(result)


# --- installing ---------------------------------------------------------------------


def _check_moto() -> None:
    """Refuse a moto whose internals are not the ones this module extends."""
    missing = [
        what
        for what, present in (
            ("moto.config.models.RESOURCE_MAP", hasattr(config_models, "RESOURCE_MAP")),
            ("FakeBucket.to_config_dict", hasattr(FakeBucket, "to_config_dict")),
            ("ECRBackend.tag_resource", hasattr(ECRBackend, "tag_resource")),
            ("ecr_backends.backend", getattr(ecr_backends, "backend", None) is not None),
            (
                "EC2ContainerServiceResponse.list_services",
                hasattr(EC2ContainerServiceResponse, "list_services"),
            ),
        )
        if not present
    ]
    if missing:
        raise RuntimeError(
            "sandbox.moto_ext was written for moto 5.2.5 and cannot find "
            + ", ".join(missing)
            + " in this moto: pin moto or update the extension"
        )


def installed() -> bool:
    """True when `install()` has extended this process's moto."""
    return (
        config_models.RESOURCE_MAP.get(SQS_QUEUE) is not None
        and hasattr(FakeBucket.to_config_dict, "__wrapped__")
        and ecr_backends.backend is TaggableECRBackend
        and EC2ContainerServiceResponse.list_services is _paged_list_services
    )


def install() -> None:
    """Extend this process's moto (idempotent). Call before the first ECR request: ECR
    backends made earlier keep reporting nothing to the Tagging API until a reset."""
    _check_moto()
    config_models.RESOURCE_MAP[SQS_QUEUE] = SqsConfigQuery(sqs_backends)
    config_models.RESOURCE_MAP[DYNAMODB_TABLE] = DynamoDbConfigQuery(dynamodb_backends)
    if not hasattr(FakeBucket.to_config_dict, "__wrapped__"):
        FakeBucket.to_config_dict = _with_supplementary_settings(  # type: ignore[method-assign,assignment]
            FakeBucket.to_config_dict
        )
    ecr_backends.backend = TaggableECRBackend
    EC2ContainerServiceResponse.list_services = _paged_list_services  # type: ignore[method-assign,assignment]
