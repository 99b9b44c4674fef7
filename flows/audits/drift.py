"""`audit:drift` — the registry against GitHub, AWS and Kafka, daily.

    list each provider (batched inventories, concurrently; one failing provider does not
      stop the others, and its findings are left as they were)
    -> detect_drift (flows.audits.drift_rules): unmanaged, missing, changed, mistagged, ownerless
    -> store findings (first seen / last seen / resolved) in the registry
    -> one message per owner listing their open findings, when one is new to them or the
       reminder interval has passed
    -> with remediate=true: per service, the change approver's approval, then the declared
       settings and tags restored and journaled (never a delete: unmanaged things stay)
    -> markdown and table artifacts; the run fails at the end if a provider could not be
       listed, so the gap shows in the UI

Report-only by default; a dry run detects and reports but stores and tells nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from blocks import (
    AwsAccount,
)
from flows.audits.drift_rules import detect_drift
from flows.engine.approval import request_approval
from flows.engine.context import service_context
from flows.engine.notify_failure import flow_run_ui_url, notify_people
from flows.engine.providers import Providers
from flows.engine.runtime import journal_state, journaled, request_field
from flows.engine.session import registry_session
from flows.request_models.drift import DriftAuditRequest, ProviderName
from registry import findings as registry_findings
from registry import queries
from registry.errors import NotAuthorized, PolicyViolation
from registry.findings import AuditTarget, DetectedDrift
from registry.models import DriftClass, DriftFinding
from tasks.audit import Observed, ProviderInventory
from tasks.audit.aws_inventory import list_aws_resources_task
from tasks.audit.aws_remediate import restore_aws_resource_task
from tasks.audit.github_inventory import github_inventory
from tasks.audit.github_remediate import restore_repository_task
from tasks.audit.kafka_inventory import list_topics_for_audit_task, restore_topic_task

__all__ = [
    "ACTION",
    "DriftAuditRequest",
    "DriftAuditResult",
    "audit_drift",
    "aws_regions",
    "merged_inventory",
]

ACTION = "audit:drift"
ARTIFACT_KEY = "drift-audit"
REMEDIABLE = (DriftClass.CHANGED, DriftClass.MISTAGGED)
NOT_RESTORED = "not restored"  # how restore functions report what they could not put back
MESSAGE_FINDINGS = 40  # listed in one message; `paved findings` has the rest


class DriftAuditResult(BaseModel):
    """What one audit run found, stored, told and restored."""

    listed: dict[str, int] = Field(description="Resources listed per provider.")
    calls: dict[str, int] = Field(description="Provider API calls per provider.")
    detected: dict[str, int] = Field(description="Differences detected this run, per class.")
    opened: int = Field(description="Findings opened this run.")
    resolved: int = Field(description="Findings this run no longer saw, now resolved.")
    open_findings: int = Field(description="Findings open after the run.")
    notified: dict[str, str] = Field(description="Owner handle -> notification outcome.")
    remediated: dict[str, list[str]] = Field(description="Service -> changes made.")
    failed_providers: dict[str, str] = Field(description="Provider -> why it was not listed.")
    notes: list[str] = Field(description="What could not be checked and why.")
    dry_run: bool = Field(description="True when nothing was stored, told or changed.")


def _run_name() -> str:
    mode = "remediate" if request_field("remediate") == "True" else "report"
    return f"audit-drift/{mode}"


def aws_regions(account: AwsAccount, targets: list[AuditTarget]) -> list[str]:
    """The account's region, and every allowed region the registry has AWS resources in:
    an inventory covers one region, and a resource of another must not look missing."""
    declared = {
        str(t.spec["region"]) for t in targets if t.provider == "aws" and "region" in t.spec
    }
    return [account.region, *sorted(declared & set(account.allowed_regions) - {account.region})]


def _list(
    provider: ProviderName, targets: list[AuditTarget], blocks: Providers
) -> list[PrefectFuture[ProviderInventory]]:
    if provider == "github":
        return [github_inventory.submit(blocks.github)]
    if provider == "aws":
        return [
            list_aws_resources_task.submit(blocks.aws, region=region)
            for region in aws_regions(blocks.aws, targets)
        ]
    return [list_topics_for_audit_task.submit(blocks.kafka)]


def merged_inventory(provider: str, parts: list[ProviderInventory]) -> ProviderInventory:
    """One inventory from a provider's per-region ones; global things (IAM roles) that
    every region lists are kept once."""
    if len(parts) == 1:
        return parts[0]
    resources: dict[str, Observed] = {}
    for part in parts:
        for item in part.resources:
            resources.setdefault(item.external_id, item)
    return ProviderInventory(
        provider=provider,
        kinds=parts[0].kinds,
        resources=list(resources.values()),
        calls=sum(part.calls for part in parts),
        notes=[note for part in parts for note in part.notes],
    )


def _inventories(
    providers: list[ProviderName], targets: list[AuditTarget], blocks: Providers
) -> tuple[list[ProviderInventory], dict[str, str]]:
    """Each provider's inventory, listed concurrently; a provider that fails (after its
    retries) is reported, not fatal to the others."""
    futures = {provider: _list(provider, targets, blocks) for provider in dict.fromkeys(providers)}
    inventories: list[ProviderInventory] = []
    failed: dict[str, str] = {}
    for provider, pending in futures.items():
        parts: list[ProviderInventory] = []
        for future in pending:
            future.wait()
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, ProviderInventory):
                parts.append(outcome)
            else:
                failed[provider] = f"{type(outcome).__name__}: {outcome}"
        if provider not in failed:
            inventories.append(merged_inventory(provider, parts))
    return inventories, failed


def _platform_owned(inventories: list[ProviderInventory], blocks: Providers) -> set[str]:
    """What Paved itself uses and the registry does not list: the template repository."""
    if not any(inventory.provider == "github" for inventory in inventories):
        return set()
    return {f"{blocks.github.organization}/{blocks.github.template_repository}"}


def _audit_targets() -> list[AuditTarget]:
    with registry_session() as session:
        return registry_findings.audit_targets(session)


def _detect(
    inventories: list[ProviderInventory],
    targets: list[AuditTarget],
    fallback_team: str,
    blocks: Providers,
) -> list[DetectedDrift]:
    # Targets are read before listing, what the registry has ever known after it: a
    # resource made while the providers were being listed is neither missing nor unmanaged.
    platform_owned = _platform_owned(inventories, blocks)
    with registry_session() as session:
        people = registry_findings.answerable_people(session)
        drift = detect_drift(
            targets=targets,
            known=registry_findings.known_external_ids(session) | platform_owned,
            inventories=inventories,
            orphans=queries.orphans(session),
            people=people,
            fallback_owner=people.teams.get(fallback_team),
        )
    return drift


def _message(owner: str, rows: list[DriftFinding], run_url: str | None) -> str:
    lines = [
        f"Hello {owner}, the drift audit found {len(rows)} open finding(s) you answer for:",
        "",
    ]
    lines += [
        f"- [{row.drift_class.value}] {row.summary} (service {row.service or '-'}, "
        f"first seen {row.first_seen:%Y-%m-%d})"
        for row in rows[:MESSAGE_FINDINGS]
    ]
    if len(rows) > MESSAGE_FINDINGS:
        lines.append(f"- ... and {len(rows) - MESSAGE_FINDINGS} more")
    lines += [
        "",
        "Changed settings and tags can be restored with `paved run audit:drift "
        "--param remediate=true`, after your change approver approves.",
        "List them any time: `paved findings --open --owner " + owner + "`.",
    ]
    if run_url:
        lines.append(f"Audit run: {run_url}")
    return "\n".join(lines)


def _notify(flow_run_id: str, reminder: timedelta) -> dict[str, str]:
    """One message per owner due one; marks their findings told when it was sent."""
    with registry_session() as session:
        due = registry_findings.findings_to_notify(session, reminder=reminder)
        messages = {
            owner: (len(rows), _message(owner, rows, flow_run_ui_url(flow_run_id)))
            for owner, rows in due.items()
        }
        ids = {owner: [row.id for row in rows] for owner, rows in due.items()}
    outcome: dict[str, str] = {}
    for owner, (count, body) in messages.items():
        sent = notify_people([owner], subject=f"Paved: {count} drift finding(s) open", body=body)
        outcome[owner] = sent.get(owner, "not sent")
        if outcome[owner] == "sent":
            with registry_session() as session:
                registry_findings.mark_notified(session, ids=ids[owner])
    return outcome


def _restore(target: AuditTarget, blocks: Providers) -> list[str]:
    """Put one resource's declared settings and tags back; returns what changed."""
    if target.provider == "github":
        return restore_repository_task(
            blocks.github, full_name=target.external_id or target.name, declared=target.spec
        )
    if target.provider == "aws":
        return restore_aws_resource_task(
            blocks.aws,
            kind=target.kind,
            name=target.name,
            external_id=target.external_id or target.name,
            declared=target.spec,
            declared_tags=target.expected_tags,
        )
    return restore_topic_task(blocks.kafka, name=target.name, declared=target.spec)


def _remediate(
    request: DriftAuditRequest, flow_run_id: str, targets: list[AuditTarget], blocks: Providers
) -> dict[str, list[str]]:
    """Per service with changed or mistagged findings: approval, restore, journal."""
    by_id = {target.resource_id: target for target in targets}
    with registry_session() as session:
        rows = [
            row
            for row in registry_findings.list_findings(session, open_only=True)
            if row.drift_class in REMEDIABLE
            and row.resource_id in by_id
            and row.service
            and (not request.services or row.service in request.services)
        ]
        per_service: dict[str, set[int]] = defaultdict(set)
        finding_ids: dict[str, list[tuple[int, int]]] = defaultdict(list)
        summaries: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            assert row.service is not None and row.resource_id is not None
            per_service[row.service].add(row.resource_id)
            finding_ids[row.service].append((row.id, row.resource_id))
            summaries[row.service].append(f"[{row.drift_class.value}] {row.summary}")
    logger = get_run_logger()
    remediated: dict[str, list[str]] = {}
    for service, resources in sorted(per_service.items()):
        try:
            approval = request_approval(
                context=service_context(service=service),
                action=ACTION,
                summary=f"restore the declared state of {service}: "
                + "; ".join(summaries[service]),
                timeout_seconds=request.approval_timeout_seconds,
            )
        except NotAuthorized as exc:
            # One service's missing approver or refusal leaves the others to go on.
            logger.warning("Not restoring %s: %s", service, exc)
            remediated[service] = [f"not restored: {exc}"]
            continue
        changes: list[str] = []
        restored: set[int] = set()
        for resource_id in sorted(resources):
            target = by_id[resource_id]
            made = _restore(target, blocks)
            changes += [f"{target.kind} {target.name}: {change}" for change in made]
            if not any(change.startswith(NOT_RESTORED) for change in made):
                restored.add(resource_id)
        with registry_session() as session:
            # What could not be put back (a partition count, a table key) stays open.
            registry_findings.resolve_findings(
                session,
                ids=[fid for fid, rid in finding_ids[service] if rid in restored],
                resolution="remediated",
            )
        journal_state(
            flow_run_id,
            state="Remediated",
            key="remediation",
            extra={"service": service, "approved_by": approval.approver, "changes": changes},
        )
        logger.info("Restored %s after %s approved: %s", service, approval.approver, changes)
        remediated[service] = changes
    return remediated


def _markdown(result: DriftAuditResult, open_rows: list[dict[str, Any]]) -> str:
    listed = sum(result.listed.values())
    calls = sum(result.calls.values())
    per = f"1 call per {listed / calls:.0f} resources" if calls else "no calls"
    lines = [
        "# Drift audit" + (" (dry run)" if result.dry_run else ""),
        "",
        f"**{listed}** resources listed in **{calls}** provider calls ({per}) · "
        f"**{result.opened}** new · **{result.resolved}** resolved · "
        f"**{result.open_findings}** open",
        "",
        "| provider | listed | calls |",
        "|---|---:|---:|",
    ]
    lines += [f"| {p} | {n} | {result.calls.get(p, 0)} |" for p, n in result.listed.items()]
    lines += [f"| {p} | **not listed** | {why} |" for p, why in result.failed_providers.items()]
    lines += ["", "## Detected this run", "", "| class | count |", "|---|---:|"]
    lines += [f"| {c} | {n} |" for c, n in result.detected.items()] or ["| none | 0 |"]
    lines += ["", "## Open findings", "", "| class | what | service | owner | first seen |"]
    lines.append("|---|---|---|---|---|")
    lines += [
        f"| {r['class']} | {r['summary']} | {r['service'] or '-'} | {r['owner'] or '-'} | "
        f"{r['first_seen'][:10]} |"
        for r in open_rows
    ] or ["| - | none | | | |"]
    if result.notified:
        lines += ["", "## Told", ""]
        lines += [f"- {owner}: {outcome}" for owner, outcome in result.notified.items()]
    if result.remediated:
        lines += ["", "## Restored", ""]
        for service, changes in result.remediated.items():
            lines += [f"- **{service}**"] + [f"  - {c}" for c in changes or ["nothing to change"]]
    if result.notes:
        lines += ["", "## Not checked", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines)


def _finding_row(row: DriftFinding) -> dict[str, Any]:
    return {
        "class": row.drift_class.value,
        "provider": row.provider,
        "kind": row.kind,
        "identifier": row.identifier,
        "summary": row.summary,
        "service": row.service,
        "owner": row.owner,
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
    }


def _detected_row(drift: DetectedDrift) -> dict[str, Any]:
    return {
        "class": drift.drift_class.value,
        "provider": drift.provider,
        "kind": drift.kind,
        "identifier": drift.identifier,
        "summary": drift.summary,
        "service": drift.service,
        "owner": drift.owner,
        "first_seen": "(dry run)",
        "last_seen": "(dry run)",
    }


@flow(
    name="audit-drift",
    flow_run_name=_run_name,
    description="audit:drift: the registry against GitHub, AWS and Kafka; findings, owners told.",
    validate_parameters=True,
)
def audit_drift(request: DriftAuditRequest) -> DriftAuditResult:
    """Find drift between the registry and the providers, keep it, tell the owners."""
    if request.services and not request.remediate:
        raise PolicyViolation("services only narrows remediation: set remediate=true with it")
    with registry_session() as session:
        queries.require_team(session, slug=request.fallback_team)
        for service in request.services:
            queries.require_service(session, name=service)
    with journaled(
        action=ACTION, request=request, team=request.fallback_team, service="all"
    ) as journal:
        blocks = Providers()
        targets = _audit_targets()
        inventories, failed = _inventories(request.providers, targets, blocks)
        drift = _detect(inventories, targets, request.fallback_team, blocks)
        audited = {inventory.provider for inventory in inventories} | {"registry"}
        opened = resolved = 0
        notified: dict[str, str] = {}
        remediated: dict[str, list[str]] = {}
        if request.dry_run:
            open_rows = [_detected_row(d) for d in drift]
        else:
            with registry_session() as session:
                outcome = registry_findings.sync_findings(
                    session, detected=drift, audited=audited, run_id=journal.flow_run_id
                )
            opened, resolved = len(outcome.opened), len(outcome.resolved)
            notified = _notify(journal.flow_run_id, timedelta(days=request.reminder_days))
            if request.remediate:
                remediated = _remediate(request, journal.flow_run_id, targets, blocks)
            with registry_session() as session:
                open_rows = [
                    _finding_row(row)
                    for row in registry_findings.list_findings(session, open_only=True)
                ]
        result = DriftAuditResult(
            listed={i.provider: len(i.resources) for i in inventories},
            calls={i.provider: i.calls for i in inventories},
            detected=dict(Counter(d.drift_class.value for d in drift).most_common()),
            opened=opened,
            resolved=resolved,
            open_findings=len(open_rows),
            notified=notified,
            remediated=remediated,
            failed_providers=failed,
            notes=[note for i in inventories for note in i.notes],
            dry_run=request.dry_run,
        )
        create_markdown_artifact(
            key=ARTIFACT_KEY, markdown=_markdown(result, open_rows), description="Drift audit"
        )
        create_table_artifact(
            key=f"{ARTIFACT_KEY}-open",
            table=open_rows or [{"class": "none"}],
            description="Open drift findings",
        )
        get_run_logger().info(
            "Listed %s in %s calls; detected %s; %d new, %d resolved, %d open",
            result.listed,
            result.calls,
            result.detected,
            opened,
            resolved,
            len(open_rows),
        )
        if failed:
            raise RuntimeError(
                "drift audit incomplete: "
                + "; ".join(f"{p} could not be listed ({why})" for p, why in failed.items())
                + ". Findings of the other providers were stored."
            )
        return result
