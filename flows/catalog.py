"""The self-serve catalog: every action Paved offers, in one place.

Each entry names the action id (which also names its deployment and its journal rows),
the flow, and the request model the Prefect UI renders as a form. `paved actions` lists
this; `paved run` validates parameters against `request_model` before creating a run;
a test sweeps it against prefect.yaml so no action ships without its deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import Flow

from flows.access_expire import access_expire
from flows.access_grant import AccessGrantRequest, AccessRevokeRequest, access_grant, access_revoke
from flows.action_request import PavedRequest
from flows.audit_cost import CostAuditRequest, audit_cost
from flows.audit_drift import DriftAuditRequest, audit_drift
from flows.aws_compute_create import ComputeCreateRequest, aws_compute_create
from flows.aws_storage_create import StorageCreateRequest, aws_storage_create
from flows.github_pipeline_create import PipelineCreateRequest, github_pipeline_create
from flows.github_repo_create import RepoCreateRequest, github_repo_create
from flows.journal_reconcile import journal_reconcile
from flows.journal_report import journal_report
from flows.kafka_topics_create import TopicsCreateRequest, kafka_topics_create
from flows.manual_task import ManualTaskRequest, manual_task_record
from flows.people_sync import registry_people_sync
from flows.registry_events import registry_events_publish
from flows.service_create import ServiceCreateRequest, service_create
from flows.service_decommission import DecommissionRequest, service_decommission
from flows.service_transfer import TransferRequest, service_transfer

__all__ = ["ACTIONS", "HOUSEKEEPING", "Action", "Housekeeping", "action"]


@dataclass(frozen=True)
class Action:
    """One self-serve action."""

    id: str
    flow: Flow[..., Any]
    request_model: type[PavedRequest]
    summary: str
    sensitive: bool = False
    """Whether runs may pause for the change approver's approval."""

    @property
    def deployment(self) -> str:
        """The deployment's full name, `<flow name>/<action id>`."""
        return f"{self.flow.name}/{self.id}"


ACTIONS: dict[str, Action] = {
    entry.id: entry
    for entry in (
        Action(
            id="github:repo:create",
            flow=github_repo_create,
            request_model=RepoCreateRequest,
            summary="A repository from the golden-path template, owned and protected.",
        ),
        Action(
            id="github:pipeline:create",
            flow=github_pipeline_create,
            request_model=PipelineCreateRequest,
            summary="CI/CD: workflows, staging and production environments, an OIDC deploy role.",
        ),
        Action(
            id="aws:compute:create",
            flow=aws_compute_create,
            request_model=ComputeCreateRequest,
            summary="ECR repository and an ECS Fargate service in the shared cluster.",
        ),
        Action(
            id="aws:storage:create",
            flow=aws_storage_create,
            request_model=StorageCreateRequest,
            summary="S3 bucket, SQS queue with a dead-letter queue, DynamoDB table.",
        ),
        Action(
            id="kafka:topics:create",
            flow=kafka_topics_create,
            request_model=TopicsCreateRequest,
            summary="Kafka topics: a compacted state store and event logs.",
        ),
        Action(
            id="access:grant",
            flow=access_grant,
            request_model=AccessGrantRequest,
            summary="GitHub team or repository access, an AWS IAM policy, or a Kafka ACL.",
            sensitive=True,
        ),
        Action(
            id="access:revoke",
            flow=access_revoke,
            request_model=AccessRevokeRequest,
            summary="Take a grant back (someone else's waits for approval).",
            sensitive=True,
        ),
        Action(
            id="service:create",
            flow=service_create,
            request_model=ServiceCreateRequest,
            summary="The golden path: repository, pipeline, compute, storage, topics, owner.",
        ),
        Action(
            id="service:transfer",
            flow=service_transfer,
            request_model=TransferRequest,
            summary="New owner, team, approver, on-call or cost watcher, once approved.",
            sensitive=True,
        ),
        Action(
            id="service:decommission",
            flow=service_decommission,
            request_model=DecommissionRequest,
            summary="After approval, remove a service's resources; history kept, retired.",
            sensitive=True,
        ),
        Action(
            id="ops:manual-task:record",
            flow=manual_task_record,
            request_model=ManualTaskRequest,
            summary="Journal a task done by hand, so the report ranks what to automate next.",
        ),
        Action(
            id="audit:drift",
            flow=audit_drift,
            request_model=DriftAuditRequest,
            summary="Registry vs GitHub, AWS, Kafka: findings, owners told, restore if approved.",
            sensitive=True,
        ),
        Action(
            id="audit:cost",
            flow=audit_cost,
            request_model=CostAuditRequest,
            summary="Spend per service, team and owner; budgets, anomalies, untagged spend.",
        ),
    )
}


@dataclass(frozen=True)
class Housekeeping:
    """A scheduled deployment of Paved's own upkeep, which SREs may also run at once.

    Its parameters are plain (no request model): `paved run` passes them as given and
    the flow validates them against its signature.
    """

    id: str
    flow: Flow[..., Any]
    summary: str

    @property
    def deployment(self) -> str:
        """The deployment's full name, `<flow name>/<id>`."""
        return f"{self.flow.name}/{self.id}"


HOUSEKEEPING: dict[str, Housekeeping] = {
    entry.id: entry
    for entry in (
        Housekeeping(
            id="registry:events:publish",
            flow=registry_events_publish,
            summary="Publish the registry outbox to Kafka now (every minute on schedule).",
        ),
        Housekeeping(
            id="journal:report",
            flow=journal_report,
            summary="The journal report as artifacts (weekly on schedule).",
        ),
        Housekeeping(
            id="access:expire",
            flow=access_expire,
            summary="Remove the provider access of grants past their expiry (every 15 minutes).",
        ),
        Housekeeping(
            id="journal:reconcile",
            flow=journal_reconcile,
            summary="Journal the ends of runs that crashed (every 10 minutes on schedule).",
        ),
        Housekeeping(
            id="registry:people:sync",
            flow=registry_people_sync,
            summary="People and teams from the GitHub organization now (hourly on schedule).",
        ),
    )
}


def action(action_id: str) -> Action:
    """The action `action_id`; KeyError names the known ones."""
    try:
        return ACTIONS[action_id]
    except KeyError:
        known = ", ".join(sorted(ACTIONS))
        raise KeyError(f"no action {action_id!r}; the catalog has: {known}") from None
