"""The AWS side of the drift audit: what one region of the account holds of the kinds
Paved provisions, with the settings and tags the audit compares, in batched calls.

What it costs (one call per page; the audit's budget is one call per 50 resources):

    what                        call                                 per call
    buckets (in the region)     s3 ListBuckets(BucketRegion)           10,000
    queues, DLQs                sqs ListQueues                          1,000
    tables                      dynamodb ListTables                       100
    ECS services                ecs ListServices(the block's cluster)     100 (AWS's most)
    ECR repos + settings        ecr DescribeRepositories                1,000
    log groups + retention      logs DescribeLogGroups(/paved/)            50
    roles + tags + policies     iam GetAccountAuthorizationDetails      1,000
    bucket/queue/table          config BatchGetResourceConfig             100
      settings, bucket tags
    all other tags              tagging GetResources                      100

So a role costs next to nothing, a bucket or an ECR repository 1/100 of a call, a queue
or an ECS service 1/50, a table or a log group 3/100, and about nine calls come on top:
a golden-path service's eight AWS resources cost about 1/55 each.

Settings of buckets, queues and tables come from AWS Config (`settings_source="config"`),
the way it is done at scale: Config records them as configuration items, 100 of which
one BatchGetResourceConfig returns. Config reflects a change within minutes, not at
once. Where Config does not record (no recorder, or a resource it has no item for), the
settings are read resource by resource instead, and the inventory's notes say so and
what it cost; `settings_source="describe"` does that for every resource.

Scope: the region's buckets, queues, tables, ECR repositories, `/paved/` log groups and
the services of the account's shared ECS cluster, and the IAM roles Paved manages (its
deploy roles hold the inline policy `paved-deploy`; roles tagged
`paved:managed-by=paved` count too; service-linked roles never). IAM is global: roles
appear in every region's inventory, so an audit of several regions keeps them once.

Throttling: the clients retry throttled and failed calls inside botocore ("standard"
mode, exponential backoff with jitter, `INVENTORY_MAX_ATTEMPTS` attempts); every attempt
counts in `calls`. What still fails is a Transient or PermanentProviderError.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from prefect import task

from tasks.audit import Observed, ProviderInventory
from tasks.aws import NOT_FOUND_CODES, aws_errors, error_code
from tasks.aws.iam import DEPLOY_POLICY_NAME
from tasks.aws.storage import _get_or_none
from tasks.errors import TransientProviderError
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = [
    "CONFIG_BATCH_SIZE",
    "INVENTORY_MAX_ATTEMPTS",
    "KINDS",
    "LOG_GROUP_PREFIX",
    "SettingsSource",
    "list_aws_resources",
    "list_aws_resources_task",
]

PROVIDER = "aws"
BUCKET, QUEUE, TABLE = "s3_bucket", "sqs_queue", "dynamodb_table"
REPOSITORY, LOG_GROUP, SERVICE, ROLE = (
    "ecr_repository",
    "cloudwatch_log_group",
    "ecs_service",
    "iam_role",
)
KINDS = (BUCKET, QUEUE, TABLE, REPOSITORY, LOG_GROUP, SERVICE, ROLE)

SettingsSource = Literal["config", "describe"]

# Paved names every log group /paved/<team>/<service> (flows.actions.aws_compute_create).
LOG_GROUP_PREFIX = "/paved/"
# Total attempts per call: a throttled call is retried with backoff (at most 20 s between
# attempts) this many times before the task's own retry takes over.
INVENTORY_MAX_ATTEMPTS = 8
CONFIG_BATCH_SIZE = 100  # BatchGetResourceConfig's limit

_MANAGED_BY_TAG, _MANAGED_BY = "paved:managed-by", "paved"
_SERVICE_LINKED_PATH = "/aws-service-role/"
_CONFIG_TYPES = {BUCKET: "AWS::S3::Bucket", QUEUE: "AWS::SQS::Queue", TABLE: "AWS::DynamoDB::Table"}
_KIND_OF_CONFIG_TYPE = {config_type: kind for kind, config_type in _CONFIG_TYPES.items()}
_NOT_RECORDING = frozenset(
    {"NoAvailableConfigurationRecorderException", "NoAvailableConfigurationRecorder"}
)
# Resource types asked of GetResources: "logs" and "s3" are whole services because their
# ARNs name the type differently across implementations (or not at all).
_TAGGED_TYPES = ["s3", "sqs", "dynamodb:table", "ecr:repository", "ecs:service", "logs"]
_PUBLIC_ACCESS_FLAGS = (
    "blockpublicacls",
    "ignorepublicacls",
    "blockpublicpolicy",
    "restrictpublicbuckets",
)
_DAY = 86400


class _Clients:
    """The inventory's boto3 clients, one per service, each counting what it sends."""

    def __init__(self, account: AwsAccount) -> None:
        self._account = account
        self._clients: dict[str, Any] = {}
        self.sent: Counter[str] = Counter()

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            client = self._account.get_client(service)
            # First in line: a handler that answers a request itself (a test's injected
            # fault) ends the chain, and every attempt must still be counted.
            client.meta.events.register_first("before-send", self._count)
            self._clients[service] = client
        return self._clients[service]

    def _count(self, event_name: str, **_: Any) -> None:
        self.sent[event_name.split(".")[1]] += 1


@dataclass
class _Stored:
    """A bucket, queue or table: listed by name, its ARN and settings read afterwards."""

    kind: str
    name: str
    config_id: str  # AWS Config's resource id: the bucket or table name, the queue URL
    arn: str | None = None
    settings: dict[str, Any] | None = None
    tags: dict[str, str] | None = None  # when the settings came with them (a bucket's)


@dataclass
class _Listing:
    stored: list[_Stored] = field(default_factory=list)
    observed: list[Observed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def list_aws_resources(
    account: AwsAccount,
    *,
    region: str | None = None,
    settings_source: SettingsSource = "config",
) -> ProviderInventory:
    """Every resource of `KINDS` in `region` (None: the account's) with its tags and the
    settings its registry spec declares, and the calls it took, retries included.

    Raises Transient or PermanentProviderError when AWS keeps failing.
    """
    if settings_source not in ("config", "describe"):
        raise ValueError(f"settings_source must be 'config' or 'describe', not {settings_source!r}")
    regional = account.in_region(region) if region else account
    tuned = regional.model_copy(
        update={"max_attempts": max(regional.max_attempts, INVENTORY_MAX_ATTEMPTS)}
    )
    clients = _Clients(tuned)
    with aws_errors("list resources for audit", f"region {tuned.region}"):
        listing = _list(clients, tuned, settings_source)
    logger = task_logger()
    logger.info(
        "AWS %s: %d resources in %d calls (%s)",
        tuned.region,
        len(listing.observed),
        sum(clients.sent.values()),
        ", ".join(f"{service} {n}" for service, n in sorted(clients.sent.items())),
    )
    return ProviderInventory(
        provider=PROVIDER,
        kinds=list(KINDS),
        resources=sorted(listing.observed, key=lambda item: (item.kind, item.name)),
        calls=sum(clients.sent.values()),
        notes=listing.notes,
    )


def _list(clients: _Clients, account: AwsAccount, settings_source: SettingsSource) -> _Listing:
    listing = _Listing()
    listing.stored += [
        _Stored(BUCKET, name, name, arn=f"arn:aws:s3:::{name}")
        for name in _bucket_names(clients, account.region)
    ]
    listing.stored += [
        _Stored(QUEUE, url.rstrip("/").rsplit("/", 1)[-1], url) for url in _queue_urls(clients)
    ]
    listing.stored += [_Stored(TABLE, name, name) for name in _table_names(clients)]
    listing.observed += _repositories(clients)
    listing.observed += _log_groups(clients)
    listing.observed += _services(clients, account.ecs_cluster, listing.notes)
    listing.observed += _roles(clients)

    if settings_source == "config":
        _settings_from_config(clients, listing)
    else:
        _settings_by_describing(clients, listing, listing.stored, why="settings_source='describe'")
    _name_dead_letter_sources(listing.stored)

    # A bucket's Config item carries its tags: the Tagging API is asked for buckets only
    # when some bucket's settings were read otherwise.
    buckets_untagged = any(s.kind == BUCKET and s.tags is None for s in listing.stored)
    tags = _tags_by_arn(clients, [t for t in _TAGGED_TYPES if t != "s3" or buckets_untagged])
    for item in listing.observed:
        if item.kind != ROLE:
            item.tags = tags.get(item.external_id, {})
    listing.observed += [
        Observed(
            provider=PROVIDER,
            kind=stored.kind,
            external_id=stored.arn,
            name=stored.name,
            tags=stored.tags if stored.tags is not None else tags.get(stored.arn, {}),
            settings=stored.settings,
        )
        for stored in listing.stored
        if stored.arn is not None and stored.settings is not None
    ]
    return listing


# --- listing ------------------------------------------------------------------------


def _pages(client: Any, operation: str, **params: Any) -> Iterable[dict[str, Any]]:
    pages: Iterable[dict[str, Any]] = client.get_paginator(operation).paginate(**params)
    return pages


def _bucket_names(clients: _Clients, region: str) -> list[str]:
    # S3 lists every bucket of the account; BucketRegion keeps this region's.
    pages = _pages(
        clients("s3"), "list_buckets", BucketRegion=region, PaginationConfig={"PageSize": 10000}
    )
    return [bucket["Name"] for page in pages for bucket in page.get("Buckets", [])]


def _queue_urls(clients: _Clients) -> list[str]:
    # Without MaxResults SQS stops at 1,000 queues and gives no token to go on.
    pages = _pages(clients("sqs"), "list_queues", PaginationConfig={"PageSize": 1000})
    return [url for page in pages for url in page.get("QueueUrls", [])]


def _table_names(clients: _Clients) -> list[str]:
    pages = _pages(clients("dynamodb"), "list_tables", PaginationConfig={"PageSize": 100})
    return [name for page in pages for name in page.get("TableNames", [])]


def _observed(kind: str, arn: str, name: str, settings: dict[str, Any]) -> Observed:
    return Observed(provider=PROVIDER, kind=kind, external_id=arn, name=name, settings=settings)


def _repositories(clients: _Clients) -> list[Observed]:
    pages = _pages(clients("ecr"), "describe_repositories", PaginationConfig={"PageSize": 1000})
    return [
        _observed(
            REPOSITORY,
            repo["repositoryArn"],
            repo["repositoryName"],
            {
                "image_tag_mutability": repo.get("imageTagMutability"),
                "scan_on_push": bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")),
            },
        )
        for page in pages
        for repo in page.get("repositories", [])
    ]


def _log_groups(clients: _Clients) -> list[Observed]:
    pages = _pages(
        clients("logs"),
        "describe_log_groups",
        logGroupNamePrefix=LOG_GROUP_PREFIX,
        PaginationConfig={"PageSize": 50},
    )
    return [
        _observed(
            LOG_GROUP,
            # `arn` ends with ':*' (it names the streams); the registry keeps the group's.
            group.get("logGroupArn") or str(group["arn"]).removesuffix(":*"),
            group["logGroupName"],
            {"retention_days": group.get("retentionInDays")},
        )
        for page in pages
        for group in page.get("logGroups", [])
    ]


def _services(clients: _Clients, cluster: str, notes: list[str]) -> list[Observed]:
    pages = _pages(
        clients("ecs"), "list_services", cluster=cluster, PaginationConfig={"PageSize": 100}
    )
    try:
        arns = [arn for page in pages for arn in page.get("serviceArns", [])]
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            raise
        notes.append(f"ecs_service: the account's ECS cluster {cluster} does not exist")
        return []
    return [_observed(SERVICE, arn, arn.rsplit("/", 1)[-1], {}) for arn in arns]


def _paved_role(role: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    if str(role.get("Path", "/")).startswith(_SERVICE_LINKED_PATH):
        return False
    inline = {policy.get("PolicyName") for policy in role.get("RolePolicyList", [])}
    return DEPLOY_POLICY_NAME in inline or tags.get(_MANAGED_BY_TAG) == _MANAGED_BY


def _role_settings(role: Mapping[str, Any]) -> dict[str, Any]:
    """The policies a role holds, by name and ARN (in the same answer: no extra call);
    the audit compares them with the ones its spec names, so a policy added by hand
    shows."""
    return {
        "inline_policy_names": sorted(p["PolicyName"] for p in role.get("RolePolicyList", [])),
        "attached_policy_arns": sorted(
            p["PolicyArn"] for p in role.get("AttachedManagedPolicies", [])
        ),
    }


def _roles(clients: _Clients) -> list[Observed]:
    pages = _pages(
        clients("iam"),
        "get_account_authorization_details",
        Filter=["Role"],
        PaginationConfig={"PageSize": 1000},
    )
    found = []
    for page in pages:
        for role in page.get("RoleDetailList", []):
            tags = {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}
            if _paved_role(role, tags):
                item = _observed(ROLE, role["Arn"], role["RoleName"], _role_settings(role))
                item.tags = tags
                found.append(item)
    return found


# --- settings -----------------------------------------------------------------------


def _json(value: Any) -> Any:
    """A Config field: JSON text (sometimes encoded twice), or already parsed."""
    while isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def _bucket_settings(
    public_access_block: Mapping[str, Any] | None,
    algorithm: str | None,
    versioning_status: str | None,
) -> dict[str, Any]:
    # Config spells the flags blockPublicAcls, the S3 API BlockPublicAcls.
    flags = {key.lower(): value for key, value in (public_access_block or {}).items()}
    blocked = all(flags.get(flag) is True for flag in _PUBLIC_ACCESS_FLAGS)
    return {
        "public_access": "blocked" if blocked else "open",
        "encryption": algorithm,
        "versioning": versioning_status == "Enabled",
    }


def _days(seconds: Any) -> int | float:
    """Whole days as an int; anything else as a fraction, so that it differs from any
    whole number of days the registry declares."""
    days = int(seconds) / _DAY
    return int(days) if days.is_integer() else days


def _queue_settings(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """From GetQueueAttributes' attributes or a Config item's configuration (the same
    names; Config gives numbers where SQS gives strings)."""
    redrive = _json(attributes.get("RedrivePolicy")) or {}
    target = redrive.get("deadLetterTargetArn")
    count = redrive.get("maxReceiveCount")
    return {
        "visibility_timeout_seconds": int(attributes.get("VisibilityTimeout", 30)),
        "message_retention_days": _days(attributes.get("MessageRetentionPeriod", 4 * _DAY)),
        "max_receive_count": int(count) if count is not None else None,
        "dead_letter_queue": str(target).rsplit(":", 1)[-1] if target else None,
    }


def _table_settings(billing_mode: str | None, keys: Iterable[tuple[str, str]]) -> dict[str, Any]:
    by_type = {key_type: name for name, key_type in keys}
    return {
        # DescribeTable leaves BillingModeSummary out for tables always provisioned.
        "billing_mode": billing_mode or "PROVISIONED",
        "partition_key": by_type.get("HASH"),
        "sort_key": by_type.get("RANGE"),
    }


def _from_config_item(stored: _Stored, item: Mapping[str, Any]) -> None:
    configuration = _json(item.get("configuration")) or {}
    stored.arn = item.get("arn") or stored.arn
    if stored.kind == BUCKET:
        supplementary = item.get("supplementaryConfiguration") or {}
        encryption = _json(supplementary.get("ServerSideEncryptionConfiguration")) or {}
        rules = encryption.get("rules") or [{}]
        versioning = _json(supplementary.get("BucketVersioningConfiguration")) or {}
        tagging = _json(supplementary.get("BucketTaggingConfiguration")) or {}
        stored.tags = {
            str(key): str(value)
            for tag_set in tagging.get("tagSets") or []
            for key, value in (tag_set.get("tags") or {}).items()
        }
        stored.settings = _bucket_settings(
            _json(supplementary.get("PublicAccessBlockConfiguration")),
            (rules[0].get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm"),
            versioning.get("status"),
        )
    elif stored.kind == QUEUE:
        stored.arn = stored.arn or configuration.get("QueueArn")
        stored.settings = _queue_settings(configuration)
    else:
        stored.settings = _table_settings(
            (configuration.get("billingModeSummary") or {}).get("billingMode"),
            [(k["attributeName"], k["keyType"]) for k in configuration.get("keySchema", [])],
        )


def _settings_from_config(clients: _Clients, listing: _Listing) -> None:
    """Settings of every stored resource from AWS Config, 100 a call; those Config has no
    item for are described one by one (noted)."""
    by_key = {(_CONFIG_TYPES[s.kind], s.name): s for s in listing.stored}
    by_id = {(_CONFIG_TYPES[s.kind], s.config_id): s for s in listing.stored}
    waiting = [{"resourceType": t, "resourceId": s.config_id} for (t, _), s in by_key.items()]
    config = clients("config")
    while waiting:
        batch, waiting = waiting[:CONFIG_BATCH_SIZE], waiting[CONFIG_BATCH_SIZE:]
        try:
            answer = config.batch_get_resource_config(resourceKeys=batch)
        except ClientError as exc:
            if error_code(exc) not in _NOT_RECORDING:
                raise
            _settings_by_describing(
                clients, listing, listing.stored, why="AWS Config is not recording"
            )
            return
        for item in answer.get("baseConfigurationItems", []):
            key = (item.get("resourceType"), item.get("resourceName"))
            stored = by_key.get(key) or by_id.get(
                (item.get("resourceType"), item.get("resourceId"))
            )
            if stored is not None:
                _from_config_item(stored, item)
        unprocessed = answer.get("unprocessedResourceKeys") or []
        if len(unprocessed) == len(batch):
            raise TransientProviderError(
                provider=PROVIDER,
                operation="batch get resource config",
                resource=f"{len(batch)} resources",
                cause="AWS Config processed none of them",
            )
        waiting = list(unprocessed) + waiting
    unrecorded = [stored for stored in listing.stored if stored.settings is None]
    if unrecorded:
        _settings_by_describing(clients, listing, unrecorded, why="AWS Config has no item for them")


def _settings_by_describing(
    clients: _Clients, listing: _Listing, stored: list[_Stored], *, why: str
) -> None:
    """Settings read resource by resource: 3 calls a bucket, 1 a queue or table. A
    resource gone meanwhile keeps no settings and is left out of the inventory."""
    before = sum(clients.sent.values())
    describers: dict[str, Callable[[_Clients, _Stored], None]] = {
        BUCKET: _describe_bucket,
        QUEUE: _describe_queue,
        TABLE: _describe_table,
    }
    for item in stored:
        try:
            describers[item.kind](clients, item)
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
    if stored:
        spent = sum(clients.sent.values()) - before
        listing.notes.append(
            f"settings of {len(stored)} buckets, queues and tables read one resource at a "
            f"time ({why}): {spent} calls, where AWS Config's BatchGetResourceConfig "
            f"takes one call per {CONFIG_BATCH_SIZE}"
        )


def _describe_bucket(clients: _Clients, stored: _Stored) -> None:
    s3 = clients("s3")
    block = _get_or_none(
        s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=stored.name
    )
    encryption = _get_or_none(
        s3.get_bucket_encryption,
        "ServerSideEncryptionConfigurationNotFoundError",
        Bucket=stored.name,
    )
    rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules") or [{}]
    versioning = s3.get_bucket_versioning(Bucket=stored.name)
    stored.settings = _bucket_settings(
        (block or {}).get("PublicAccessBlockConfiguration"),
        rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm"),
        versioning.get("Status"),
    )


def _describe_queue(clients: _Clients, stored: _Stored) -> None:
    attributes = clients("sqs").get_queue_attributes(
        QueueUrl=stored.config_id, AttributeNames=["All"]
    )["Attributes"]
    stored.arn = attributes["QueueArn"]
    stored.settings = _queue_settings(attributes)


def _describe_table(clients: _Clients, stored: _Stored) -> None:
    table = clients("dynamodb").describe_table(TableName=stored.name)["Table"]
    stored.arn = table["TableArn"]
    stored.settings = _table_settings(
        table.get("BillingModeSummary", {}).get("BillingMode"),
        [(key["AttributeName"], key["KeyType"]) for key in table.get("KeySchema", [])],
    )


def _name_dead_letter_sources(stored: list[_Stored]) -> None:
    """`dead_letter_queue_of` on every queue, from the others' redrive policies (no call):
    the registry declares it on a dead-letter queue."""
    queues = [(s.name, s.settings) for s in stored if s.kind == QUEUE and s.settings is not None]
    sources: dict[str, list[str]] = defaultdict(list)
    for name, settings in queues:
        if settings.get("dead_letter_queue"):
            sources[settings["dead_letter_queue"]].append(name)
    for name, settings in queues:
        names = sorted(sources.get(name, []))
        settings["dead_letter_queue_of"] = (
            None if not names else names[0] if len(names) == 1 else names
        )


# --- tags ---------------------------------------------------------------------------


def _tags_by_arn(clients: _Clients, resource_types: list[str]) -> dict[str, dict[str, str]]:
    """Tags of every resource of `resource_types` in the region, from the Tagging API; a
    resource never tagged is not in it (its tags: {})."""
    pages = _pages(
        clients("resourcegroupstaggingapi"),
        "get_resources",
        ResourceTypeFilters=resource_types,
        ResourcesPerPage=100,
        TagsPerPage=500,
    )
    return {
        mapping["ResourceARN"]: {tag["Key"]: tag["Value"] for tag in mapping.get("Tags", [])}
        for page in pages
        for mapping in page.get("ResourceTagMappingList", [])
    }


@task(name="aws: list resources for audit", **PROVIDER_TASK_OPTIONS)
def list_aws_resources_task(
    account: AwsAccount,
    *,
    region: str | None = None,
    settings_source: SettingsSource = "config",
) -> ProviderInventory:
    """`list_aws_resources` as a retrying Prefect task."""
    return list_aws_resources(account, region=region, settings_source=settings_source)
