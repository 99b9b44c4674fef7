"""Apply: one engine for every action's plan.

    claim `<action>:<service>`            two runs of one action never race on a service
    write the whole plan ahead            one task, one registry transaction
    ensure along the dependencies         each resource's ensure task submitted as soon as
                                          what it depends on exists (Prefect futures)
    write ownership and results           one task, one registry transaction
    release the claim

An action gives, per kind, an `Ensure`: it submits that kind's ensure task (a named,
retrying task of tasks/, one provider) with the settings of the planned resource and the
outcomes of what it depends on, and says how to read the task's answer (`Submitted`).

After a failure nothing new starts: what was running finishes and is recorded, what
depends on the failed resource is recorded failed (it cannot be made), what was never
reached keeps its write-ahead (`provisioning`), so a re-run resumes from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed

from flows.engine.plan import Applied, Plan, PlannedResource
from flows.engine.session import registry_session
from registry import policy, queries
from registry.models import ResourceStatus, ServiceStatus

if TYPE_CHECKING:
    from flows.engine.context import ServiceContext

__all__ = [
    "Applied",
    "Ensure",
    "Submitted",
    "Waits",
    "apply_plan",
    "by_key",
    "claimed",
    "ensure_along",
    "write_plan_ahead",
    "write_results",
]


@dataclass(frozen=True)
class Submitted:
    """A submitted ensure task and how to read its answer."""

    future: PrefectFuture[Any]
    read: Callable[[Any], Applied]


# The futures of what a resource depends on: its task's `wait_for=`, so the UI draws it.
Waits = list[PrefectFuture[Any]]
# (planned resource, outcomes of what it depends on by key, their futures) -> Submitted.
Ensure = Callable[[PlannedResource, Mapping[str, Applied], Waits], Submitted]


def ensurer(ensure: Mapping[str, Ensure], item: PlannedResource) -> Ensure:
    """How to make sure of `item`: its own ensurer (by key, as a union gives them), else
    its kind's."""
    return ensure.get(item.key) or ensure[item.ref.kind]


def by_key(plan: Plan, ensure: Mapping[str, Ensure]) -> dict[str, Ensure]:
    """`ensure` (one action's, by kind) for each resource of `plan`, by key: the form a
    union takes, where two parts may each have a kind of one name (two IAM roles)."""
    return {item.key: ensurer(ensure, item) for item in plan.resources}


@contextmanager
def claimed(*, key: str, holder: str, action: str) -> Iterator[None]:
    """Hold the registry claim `key` for run `holder` (Conflict if another run holds it)."""
    with registry_session() as session:
        queries.claim(session, key=key, holder=holder, action=action)
    try:
        yield
    finally:
        with registry_session() as session:
            queries.release(session, key=key, holder=holder)


@task(name="registry: write the plan ahead", cache_policy=NO_CACHE)
def write_plan_ahead(plan: Plan, *, team: str, owner: str, tags: dict[str, str]) -> None:
    """Record the intent, in one transaction: the service (new ones `provisioning`) and
    every planned resource not already made `provisioning`, before any provider call.

    A resource an earlier run made stays `active`: it exists, and a run that fails before
    reaching it must not leave the registry saying it is being made."""
    with registry_session() as session:
        queries.get_or_create_service(session, name=plan.service, team=team, owner=owner)
        for item in plan.resources:
            if item.shared:
                continue  # another service may use it: nothing is claimed for this one
            known = queries.get_resource(
                session, provider=item.ref.provider, kind=item.ref.kind, name=item.ref.name
            )
            if known is not None and known.status == ResourceStatus.ACTIVE:
                continue
            queries.upsert_resource(
                session,
                service=plan.service,
                provider=item.ref.provider,
                kind=item.ref.kind,
                name=item.ref.name,
                spec=item.spec,
                tags=tags,
                status=ResourceStatus.PROVISIONING,
            )


@task(name="registry: write ownership and results", cache_policy=NO_CACHE)
def write_results(
    plan: Plan,
    *,
    team: str,
    owner: str,
    tags: dict[str, str],
    applied: dict[str, Applied],
    failed: dict[str, str],
) -> None:
    """The final step, in one transaction: each made resource `active` with its provider
    id and the service's dependency on it, each failed one `failed` with the error; the
    service owned once anything of it exists, `active` once a run made all it planned,
    `failed` when it fell short without ever having been whole.

    The change approver, on-call contact and cost watcher keep what the registry holds:
    only service:transfer moves them.
    """
    with registry_session() as session:
        for item in plan.resources:
            done = applied.get(item.key)
            if done is None:
                continue
            queries.upsert_resource(
                session,
                service=None if item.shared else plan.service,
                provider=item.ref.provider,
                kind=item.ref.kind,
                name=item.ref.name,
                external_id=done.external_id,
                url=done.url,
                spec={**item.spec, **done.spec},
                tags={policy.TAG_MANAGED_BY: policy.MANAGED_BY} if item.shared else tags,
                status=ResourceStatus.ACTIVE,
                error=None,
            )
            queries.add_dependency(
                session,
                service=plan.service,
                depends_on_resource=(item.ref.provider, item.ref.kind, item.ref.name),
                kind=item.relation,
            )
        service = queries.require_service(session, name=plan.service)
        was = service.status
        if applied:
            queries.set_ownership(
                session,
                service=plan.service,
                owner=owner,
                team=team,
                change_approver=service.change_approver.handle if service.change_approver else None,
                oncall=service.oncall.handle if service.oncall else None,
                cost_watcher=service.cost_watcher.handle if service.cost_watcher else None,
            )
        for item in plan.resources:
            if item.key in failed and not item.shared:
                queries.upsert_resource(
                    session,
                    service=plan.service,
                    provider=item.ref.provider,
                    kind=item.ref.kind,
                    name=item.ref.name,
                    status=ResourceStatus.FAILED,
                    error=failed[item.key],
                )
        # The service's status says how far it got: `active` once a run made all it
        # planned; a service that never was whole and fell short is `failed`, never
        # `active` with half its parts; one that was active stays so (what it had exists).
        if failed:
            if was != ServiceStatus.ACTIVE:
                queries.set_service_status(session, name=plan.service, status=ServiceStatus.FAILED)
        elif applied:
            queries.set_service_status(session, name=plan.service, status=ServiceStatus.ACTIVE)


@dataclass
class Walk:
    """Where a walk of the plan stands."""

    applied: dict[str, Applied]
    failed: dict[str, str]
    error: BaseException | None = None


def ensure_along(plan: Plan, ensure: Mapping[str, Ensure]) -> Walk:
    """Submit each resource's ensure task once what it depends on is made, several at
    once where the plan allows; returns what was made, what failed and the first error."""
    walk = Walk(applied={}, failed={})
    futures: dict[str, PrefectFuture[Any]] = {}
    running: dict[str, Submitted] = {}
    waiting = list(plan.resources)

    def fail(key: str, exc: BaseException) -> None:
        walk.failed[key] = str(exc)
        walk.error = walk.error or exc

    def mark_broken() -> None:
        # What needs a failed resource cannot be made: it fails too, transitively.
        changed = True
        while changed:
            changed = False
            for item in list(waiting):
                broken = [d for d in item.depends_on if d in walk.failed]
                if broken:
                    waiting.remove(item)
                    walk.failed[item.key] = (
                        f"not made: {broken[0]} failed: {walk.failed[broken[0]]}"
                    )
                    changed = True

    while waiting or running:
        mark_broken()
        ready = set(walk.applied) | set(plan.given)
        for item in list(waiting):
            if walk.error is None and set(item.depends_on + item.after) <= ready:
                waiting.remove(item)
                upstream = {
                    key: walk.applied.get(key) or plan.given[key] for key in item.depends_on
                }
                waits = [futures[key] for key in item.depends_on if key in futures]
                try:
                    running[item.key] = ensurer(ensure, item)(item, upstream, waits)
                except Exception as exc:  # a step before the ensure task (e.g. a lookup)
                    fail(item.key, exc)
                    continue
                futures[item.key] = running[item.key].future
        if not running:
            break  # after a failure: what is left was never reached
        finished: PrefectFuture[Any] = next(
            iter(as_completed([r.future for r in running.values()]))
        )
        key = next(k for k, r in running.items() if r.future is finished)
        submitted = running.pop(key)
        try:
            walk.applied[key] = submitted.read(finished.result())
        except Exception as exc:
            fail(key, exc)
    mark_broken()
    return walk


def apply_plan(
    plan: Plan, *, context: ServiceContext, ensure: Mapping[str, Ensure], flow_run_id: str
) -> list[tuple[PlannedResource, Applied]]:
    """Apply `plan` for the service of `context`; returns each made resource with its
    outcome, in plan order. Raises the first provider error after recording it."""
    team, owner, tags = context.team, context.owner, context.tags
    with ExitStack() as claims:
        for key in plan.claims:
            claims.enter_context(claimed(key=key, holder=flow_run_id, action=plan.action))
        write_plan_ahead(plan, team=team, owner=owner, tags=tags)
        walk = ensure_along(plan, ensure)
        write_results(
            plan, team=team, owner=owner, tags=tags, applied=walk.applied, failed=walk.failed
        )
    if walk.error is not None:
        raise walk.error
    return [(item, walk.applied[item.key]) for item in plan.resources]
