"""`make chaos`: a burst of service:create on the scale topology, with a worker, an API
server and Kafka failing under it; then the re-run of what did not complete. Passes when
the providers, the registry, Prefect and the journal all agree (issue 11).

    make up-scale && make chaos          # or: .venv/bin/python -m tests.chaos.run [--rounds 3]

What it does, per round:
1. submits N (20) service:create requests at once through the balancer;
2. while they run: `kill -9` the busiest worker with the flow runs it started, then
   prefect-api-1; freezes Kafka (SIGSTOP) for 20 s, an unanswering
   broker; restarts what it killed, as Kubernetes would restart a pod;
3. waits for every run to be final: a killed run ends Crashed once its heartbeats stop
   (paved.automations: 90 s), a run the killed worker took but never started once
   START_AFTER_SECONDS (600 s) have passed, and journal:reconcile journals it;
4. re-runs every request that did not complete, once, and waits;
5. checks, counting with the providers' own clients (PyGithub, boto3, AdminClient):
   - N services exist, with exactly one of each resource;
   - the registry matches the providers, every service and resource `active`;
   - no run of Paved is left Pending or Running (for longer than STUCK_SECONDS);
   - the journal holds the end of every run of the round;
   - audit:drift leaves no open finding on those services.
It prints what it killed and when, the detection time of the dead runs and the time until
the burst converged. Exit 1 if a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from paved.processes import pid_file_path, read_pid_file
from paved.settings import Settings
from tests.perf.bench_service_create import TEAM, submit_all, wait_final
from tests.perf.cpu_split import children_by_parent, descendants

AUDIT = "audit-drift/audit:drift"
RECONCILE = "journal-reconcile/journal:reconcile"
KAFKA_FROZEN_SECONDS = 20
# A run Pending or Running for longer than this, once the round's runs are all final, is
# stuck: the automations crash a dead one (90 s after its last beat, 600 s after a worker
# took it if it never started), and no chaos run takes a minute.
STUCK_SECONDS = 150
# The registry's kind and name of a resource as the census (tests/perf/provider_census)
# keys it; the census' IAM inline policies have no registry row of their own.
_CENSUS_KIND = {
    "github_repository": "github repository",
    "github_environment": "github environment",
    "github_workflow": "workflow commit",
    "ecr_repository": "ecr repository",
    "cloudwatch_log_group": "log group",
    "ecs_task_definition": "task definition revision",
    "ecs_service": "ecs service",
    "iam_role": "iam role",
    "s3_bucket": "s3 bucket",
    "sqs_queue": "sqs queue",
    "dynamodb_table": "dynamodb table",
    "kafka_topic": "kafka topic",
}


@dataclass
class Fault:
    what: str
    at: float  # seconds since the burst was submitted
    wall: datetime


@dataclass
class Round:
    names: list[str]
    started: float = field(default_factory=time.monotonic)
    faults: list[Fault] = field(default_factory=list)
    run_ids: list[UUID] = field(default_factory=list)


def _pid(settings: Settings, component: str) -> int:
    record = read_pid_file(pid_file_path(settings.pids_dir, component))
    if record is None:
        raise SystemExit(f"{component} is not running: start the scale stack (make up-scale)")
    return record.pid


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (a worker's forkserver and the flow runs forked from it),
    found by parent, whatever process group each is in."""
    return descendants(pid, children_by_parent())


def kill_tree(pid: int) -> int:
    """SIGKILL `pid` and everything below it, as a lost machine or pod would; returns how
    many processes died."""
    victims = [pid, *_descendants(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return len(victims)


WORKERS = ("worker", "worker-2", "worker-3")
# A warm worker's own helpers (multiprocessing's resource tracker and forkserver); what
# else is below it is a flow run.
_WORKER_HELPERS = 2


def _busiest_worker(settings: Settings) -> str:
    """The worker running the most flow runs now (waiting up to 10 s for one to run
    any): the fault must kill runs, not an idle worker."""
    deadline = time.monotonic() + 10
    while True:
        load = {w: len(_descendants(_pid(settings, w))) - _WORKER_HELPERS for w in WORKERS}
        busiest = max(load, key=lambda w: load[w])
        if load[busiest] > 0 or time.monotonic() > deadline:
            return busiest
        time.sleep(0.2)


def _fault(round_: Round, what: str) -> None:
    fault = Fault(what, round(time.monotonic() - round_.started, 1), datetime.now(UTC))
    round_.faults.append(fault)
    print(f"  t+{fault.at:5.1f} s  {what}", flush=True)


def inject_faults(settings: Settings, round_: Round) -> None:
    """The faults, one after another, while the burst runs."""
    from paved.stack import start_stack

    time.sleep(4)
    worker = _busiest_worker(settings)
    killed = kill_tree(_pid(settings, worker))
    _fault(round_, f"kill -9 {worker} and the flow runs it started ({killed} processes)")
    time.sleep(4)
    kill_tree(_pid(settings, "prefect-api-1"))
    _fault(round_, "kill -9 prefect-api-1")
    time.sleep(2)
    kafka = _pid(settings, "kafka")
    os.killpg(kafka, signal.SIGSTOP)
    _fault(round_, f"Kafka frozen (SIGSTOP) for {KAFKA_FROZEN_SECONDS} s")
    time.sleep(KAFKA_FROZEN_SECONDS)
    os.killpg(kafka, signal.SIGCONT)
    _fault(round_, "Kafka answers again (SIGCONT)")
    start_stack(settings, components=["prefect-api-1", worker])
    _fault(round_, f"prefect-api-1 and {worker} restarted")


def run_deployment_and_wait(name: str, parameters: dict[str, Any] | None = None) -> Any:
    from prefect.deployments import run_deployment

    run: Any = run_deployment(name, parameters=parameters or {}, timeout=600)
    if run.state is None or not run.state.is_completed():
        raise SystemExit(f"{name} ended {run.state.name if run.state else '?'}")
    return run


def unfinished_runs(since: datetime) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=["paved"]),
                # Expected, not actual, start: a run taken and never started has none.
                expected_start_time=FlowRunFilterExpectedStartTime(
                    after_=since  # type: ignore[arg-type]
                ),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(
                        any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
                    )
                ),
            ),
            limit=200,
        )
    # Stuck, not busy: a housekeeping run (the outbox's, every minute) may be running now.
    # Scheduled runs are the deployments' future schedules, and AwaitingConcurrencySlot the
    # triggered journal:reconcile runs queued behind one another: neither is left behind.
    now = datetime.now(UTC)
    return [
        f"{r.name}: {r.state.name} for {(now - r.state.timestamp).total_seconds():.0f} s"
        for r in runs
        if r.state is not None and (now - r.state.timestamp).total_seconds() > STUCK_SECONDS
    ]


def check(settings: Settings, round_: Round, since: datetime) -> list[str]:
    """What is wrong after the round; empty when it passed."""
    from flows.engine.providers import Providers
    from registry import queries
    from registry.db import make_engine, session_scope
    from registry.models import DriftFinding, ResourceStatus, ServiceStatus
    from tests.perf.provider_census import census

    problems: list[str] = []
    found = census(round_.names, Providers(), team=TEAM)
    if found.duplicates:
        problems.append(f"duplicates at the providers: {found.duplicated()}")
    repositories = {key for kind, key in found if kind == "github repository"}
    if repositories != set(round_.names):
        problems.append(f"repositories missing: {sorted(set(round_.names) - repositories)}")
    at_providers = {key for key in found if key[0] != "iam inline policy"}
    in_registry: set[tuple[str, str]] = set()
    engine = make_engine(settings.registry_url)
    with session_scope(engine) as session:
        for name in round_.names:
            service = queries.get_service(session, name=name)
            if service is None:
                problems.append(f"{name}: not in the registry")
                continue
            if service.status != ServiceStatus.ACTIVE:
                problems.append(f"{name}: registry status {service.status}")
            for resource in queries.find_resources(session, service=name):
                if resource.status != ResourceStatus.ACTIVE:
                    problems.append(f"{resource.name}: registry status {resource.status}")
                key = resource.name.removeprefix("acme/")
                in_registry.add((_CENSUS_KIND.get(resource.kind, resource.kind), key))
        for run_id in round_.run_ids:
            ends = [e for e in queries.journal_for_run(session, flow_run_id=run_id) if e.ended_at]
            if not ends:
                problems.append(f"run {run_id}: no end in the journal")
        open_findings = [
            f"{f.service}: {f.summary}"
            for f in session.query(DriftFinding).filter(
                DriftFinding.service.in_(round_.names), DriftFinding.resolved_at.is_(None)
            )
        ]
    engine.dispose()
    if in_registry != at_providers:
        problems.append(
            "registry and providers differ: only in the registry "
            f"{sorted(in_registry - at_providers)[:5]}, only at the providers "
            f"{sorted(at_providers - in_registry)[:5]}"
        )
    if open_findings:
        problems.append(f"audit:drift found: {open_findings[:5]}")
    left = unfinished_runs(since)
    if left:
        problems.append(f"runs left unfinished: {left}")
    return problems


def one_round(settings: Settings, count: int, number: int) -> bool:
    stamp = datetime.now(UTC).strftime("%H%M%S")
    since = datetime.now(UTC)
    round_ = Round(names=[f"k{stamp}n{n}" for n in range(count)])
    print(f"\n# Round {number}: {count} service:create at once ({round_.names[0]}...)", flush=True)
    faults = threading.Thread(target=inject_faults, args=(settings, round_), daemon=True)
    round_.started = time.monotonic()
    first_ids = submit_all(round_.names)
    round_.run_ids += first_ids
    faults.start()
    runs = wait_final(first_ids)
    faults.join()
    outcomes = Counter(r.state.type.value for r in runs)
    kill_at = next(f.wall for f in round_.faults if f.what.startswith("kill -9 worker"))
    crashed = [r for r in runs if r.state.type.value == "CRASHED"]
    detection = [(r.state.timestamp - kill_at).total_seconds() for r in crashed]
    print(f"  first pass: {dict(outcomes)}", flush=True)
    if detection:
        print(
            f"  dead runs Crashed {min(detection):.0f}-{max(detection):.0f} s after the kill "
            f"({len(detection)} run(s))",
            flush=True,
        )
    again = [r.parameters["request"]["name"] for r in runs if r.state.type.value != "COMPLETED"]
    if again:
        print(f"  re-running {len(again)}: {', '.join(sorted(again))}", flush=True)
        second = submit_all(again)
        round_.run_ids += second
        reruns = wait_final(second)
        print(f"  re-runs: {dict(Counter(r.state.type.value for r in reruns))}", flush=True)
    converged = time.monotonic() - round_.started
    print(f"  converged {converged:.0f} s after the burst was submitted", flush=True)
    run_deployment_and_wait(RECONCILE, {"since_hours": 1})
    run_deployment_and_wait(AUDIT, {"request": {"requester": "paved-audit"}})
    problems = check(settings, round_, since)
    for problem in problems:
        print(f"  ✗ {problem}", flush=True)
    if not problems:
        print(
            f"  ✓ {count} services, one of each resource; registry = providers; no run left "
            f"running; {len(round_.run_ids)} runs journaled; audit:drift found nothing",
            flush=True,
        )
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds in a row, each must pass")
    parser.add_argument("--burst", type=int, default=20, help="service:create per round")
    args = parser.parse_args()
    settings = Settings()
    if not settings.scale:
        raise SystemExit("make chaos runs on the scale topology: start it with `make up-scale`")
    os.environ.update(settings.prefect_env())
    passed = all(one_round(settings, args.burst, n) for n in range(1, args.rounds + 1))
    print("\nchaos: passed" if passed else "\nchaos: FAILED")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
