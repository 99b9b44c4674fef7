"""The self-serve catalog: every action Paved offers, in one place.

Each entry names the action id (which also names its deployment and its journal rows),
the flow, and the request model the Prefect UI renders as a form. `paved actions` lists
this; `paved run` validates parameters against `request_model` before creating a run;
a test sweeps it against prefect.yaml so no action ships without its deployment.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect import Flow

    from flows.engine.request import PavedRequest

__all__ = ["ACTIONS", "HOUSEKEEPING", "Action", "Housekeeping", "action"]

# Entries name their flow and request model by module and attribute, imported on first
# use: `paved run X` then imports X's request module alone (flows.request_models: pydantic and
# the naming policy), not its flow's module, which brings Prefect and the provider SDKs
# (about 2 s per call) and every other flow. A test checks every name resolves, every
# `flow_name` is its flow's and every request model is the one its flow takes.


def _resolve(module: str, attribute: str) -> Any:
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Action:
    """One self-serve action."""

    id: str
    module: str
    """The module defining the action's flow."""
    request_module: str
    """The module defining its request model (flows.request_models: pydantic, no Prefect)."""
    flow_attr: str
    model_attr: str
    flow_name: str
    """The flow's Prefect name, which names its deployment."""
    summary: str
    sensitive: bool = False
    """Whether runs may pause for the change approver's approval."""

    @property
    def flow(self) -> Flow[..., Any]:
        """The action's flow (imports its module)."""
        found: Flow[..., Any] = _resolve(self.module, self.flow_attr)
        return found

    @property
    def request_model(self) -> type[PavedRequest]:
        """The request model the Prefect UI renders as a form: imports its request
        module alone, so validating a request loads no Prefect, provider SDK or flow."""
        found: type[PavedRequest] = _resolve(self.request_module, self.model_attr)
        return found

    @property
    def deployment(self) -> str:
        """The deployment's full name, `<flow name>/<action id>`."""
        return f"{self.flow_name}/{self.id}"


ACTIONS: dict[str, Action] = {
    entry.id: entry
    for entry in (
        Action(
            id="github:repo:create",
            module="flows.actions.github_repo_create",
            request_module="flows.request_models.github_repo_create",
            flow_attr="github_repo_create",
            model_attr="RepoCreateRequest",
            flow_name="github-repo-create",
            summary="A repository from the golden-path template, owned and protected.",
        ),
        Action(
            id="github:pipeline:create",
            module="flows.actions.github_pipeline_create",
            request_module="flows.request_models.github_pipeline_create",
            flow_attr="github_pipeline_create",
            model_attr="PipelineCreateRequest",
            flow_name="github-pipeline-create",
            summary="CI/CD: workflows, staging and production environments, an OIDC deploy role.",
        ),
        Action(
            id="aws:compute:create",
            module="flows.actions.aws_compute_create",
            request_module="flows.request_models.aws_compute_create",
            flow_attr="aws_compute_create",
            model_attr="ComputeCreateRequest",
            flow_name="aws-compute-create",
            summary="ECR repository and an ECS Fargate service in the shared cluster.",
        ),
        Action(
            id="aws:storage:create",
            module="flows.actions.aws_storage_create",
            request_module="flows.request_models.aws_storage_create",
            flow_attr="aws_storage_create",
            model_attr="StorageCreateRequest",
            flow_name="aws-storage-create",
            summary="S3 bucket, SQS queue with a dead-letter queue, DynamoDB table.",
        ),
        Action(
            id="kafka:topics:create",
            module="flows.actions.kafka_topics_create",
            request_module="flows.request_models.kafka_topics_create",
            flow_attr="kafka_topics_create",
            model_attr="TopicsCreateRequest",
            flow_name="kafka-topics-create",
            summary="Kafka topics: a compacted state store and event logs.",
        ),
        Action(
            id="access:grant",
            module="flows.actions.access_grant",
            request_module="flows.request_models.access_grant",
            flow_attr="access_grant",
            model_attr="AccessGrantRequest",
            flow_name="access-grant",
            summary="GitHub team or repository access, an AWS IAM policy, or a Kafka ACL.",
            sensitive=True,
        ),
        Action(
            id="access:revoke",
            module="flows.actions.access_grant",
            request_module="flows.request_models.access_grant",
            flow_attr="access_revoke",
            model_attr="AccessRevokeRequest",
            flow_name="access-revoke",
            summary="Take a grant back (someone else's waits for approval).",
            sensitive=True,
        ),
        Action(
            id="service:create",
            module="flows.actions.service_create",
            request_module="flows.request_models.service_create",
            flow_attr="service_create",
            model_attr="ServiceCreateRequest",
            flow_name="service-create",
            summary="The golden path: repository, pipeline, compute, storage, topics, owner.",
        ),
        Action(
            id="service:transfer",
            module="flows.actions.service_transfer",
            request_module="flows.request_models.service_transfer",
            flow_attr="service_transfer",
            model_attr="TransferRequest",
            flow_name="service-transfer",
            summary="New owner, team, approver, on-call or cost watcher, once approved.",
            sensitive=True,
        ),
        Action(
            id="service:decommission",
            module="flows.actions.service_decommission",
            request_module="flows.request_models.service_decommission",
            flow_attr="service_decommission",
            model_attr="DecommissionRequest",
            flow_name="service-decommission",
            summary="After approval, remove a service's resources; history kept, retired.",
            sensitive=True,
        ),
        Action(
            id="ops:manual-task:record",
            module="flows.actions.manual_task",
            request_module="flows.request_models.manual_task",
            flow_attr="manual_task_record",
            model_attr="ManualTaskRequest",
            flow_name="manual-task-record",
            summary="Journal a task done by hand, so the report ranks what to automate next.",
        ),
        Action(
            id="audit:drift",
            module="flows.audits.drift",
            request_module="flows.request_models.drift",
            flow_attr="audit_drift",
            model_attr="DriftAuditRequest",
            flow_name="audit-drift",
            summary="Registry vs GitHub, AWS, Kafka: findings, owners told, restore if approved.",
            sensitive=True,
        ),
        Action(
            id="audit:cost",
            module="flows.audits.cost",
            request_module="flows.request_models.cost",
            flow_attr="audit_cost",
            model_attr="CostAuditRequest",
            flow_name="audit-cost",
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
    module: str
    flow_attr: str
    flow_name: str
    summary: str

    @property
    def flow(self) -> Flow[..., Any]:
        """The flow (imports its module)."""
        found: Flow[..., Any] = _resolve(self.module, self.flow_attr)
        return found

    @property
    def deployment(self) -> str:
        """The deployment's full name, `<flow name>/<id>`."""
        return f"{self.flow.name}/{self.id}"


HOUSEKEEPING: dict[str, Housekeeping] = {
    entry.id: entry
    for entry in (
        Housekeeping(
            id="registry:events:publish",
            module="flows.journal.registry_events",
            flow_attr="registry_events_publish",
            flow_name="registry-events-publish",
            summary="Publish the registry outbox to Kafka now (every minute on schedule).",
        ),
        Housekeeping(
            id="journal:report",
            module="flows.journal.report",
            flow_attr="journal_report",
            flow_name="journal-report",
            summary="The journal report as artifacts (weekly on schedule).",
        ),
        Housekeeping(
            id="access:expire",
            module="flows.actions.access_expire",
            flow_attr="access_expire",
            flow_name="access-expire",
            summary="Remove the provider access of grants past their expiry (every 15 minutes).",
        ),
        Housekeeping(
            id="journal:reconcile",
            module="flows.journal.reconcile",
            flow_attr="journal_reconcile",
            flow_name="journal-reconcile",
            summary="Journal the ends of runs that crashed (every 10 minutes on schedule).",
        ),
        Housekeeping(
            id="registry:people:sync",
            module="flows.actions.people_sync",
            flow_attr="registry_people_sync",
            flow_name="registry-people-sync",
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
