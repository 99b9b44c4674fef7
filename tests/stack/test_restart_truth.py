"""A restarted sandbox does not contradict the registry (issue 11): the stand-ins keep
their state in memory, so when `paved up` starts one afresh the registry forgets what was
made in it, says so, and keeps the journal."""

from __future__ import annotations

from datetime import UTC, datetime

from paved.settings import Settings
from paved.stack import start_stack, stop_stack
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import ServiceStatus
from registry.seed import apply_seed, load_seed


def _made_before_the_restart(settings: Settings) -> None:
    """`orders` lives at GitHub and Kafka; `ledger` at GitHub and AWS."""
    engine = make_engine(settings.registry_url)
    with session_scope(engine) as session:
        apply_seed(session, seed=load_seed(settings.seed_file))
        for service, resources in (
            (
                "orders",
                [
                    ("github", "github_repository", "acme/orders"),
                    ("kafka", "kafka_topic", "payments.orders.v1"),
                ],
            ),
            (
                "ledger",
                [
                    ("github", "github_repository", "acme/ledger"),
                    ("aws", "s3_bucket", "ledger-data"),
                ],
            ),
        ):
            queries.get_or_create_service(session, name=service, team="payments", owner="carol")
            for provider, kind, name in resources:
                queries.upsert_resource(
                    session,
                    service=service,
                    provider=provider,
                    kind=kind,
                    name=name,
                    status="active",
                )
            queries.set_service_status(session, name=service, status=ServiceStatus.ACTIVE)
            queries.append_journal(
                session,
                flow_run_id=f"run-{service}",
                action="service:create",
                requester="dave",
                team="payments",
                service=service,
                parameters={},
                state="Completed",
                started_at=datetime.now(UTC),
                ended_at=datetime.now(UTC),
            )
    engine.dispose()


def test_stand_ins_started_empty_make_the_registry_forget_what_they_held(
    settings: Settings,
) -> None:
    start_stack(settings, components=["registry"])
    _made_before_the_restart(settings)
    said: list[tuple[str, str]] = []

    start_stack(
        settings,
        components=["github", "kafka", "registry"],
        progress=lambda component, message: said.append((component, message)),
    )

    engine = make_engine(settings.registry_url)
    with session_scope(engine) as session:
        assert queries.get_service(session, name="orders") is None  # nothing of it is left
        ledger = queries.require_service(session, name="ledger")
        assert ledger.status == ServiceStatus.FAILED  # its bucket is still at AWS
        assert [r.name for r in queries.find_resources(session, service="ledger")] == [
            "ledger-data"
        ]
        assert queries.journal_for_run(session, flow_run_id="run-orders")  # history is kept
    engine.dispose()
    [(component, message)] = [item for item in said if "forgot" in item[1]]
    assert component == "registry"
    assert message == (
        "github, kafka started empty (the sandbox keeps no provider state across restarts), "
        "so the registry forgot their 3 resource(s) and the services left with none (orders); "
        "re-run the requests of ledger (now failed); the journal keeps their history"
    )

    said.clear()
    start_stack(  # running already: nothing was lost, nothing is forgotten
        settings,
        components=["github", "kafka", "registry"],
        progress=lambda component, message: said.append((component, message)),
    )
    assert not [item for item in said if "forgot" in item[1]]
    stop_stack(settings)
