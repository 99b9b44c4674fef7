"""`make bench`: what `service:create` costs a developer, on the running local stack.

How it measures (issues 10 and 12: figures as a user feels them, against a baseline
doing exactly the same work):

1. **Shared resources first.** The ECS cluster and the GitHub OIDC provider every
   service shares are made before either side is timed, so neither pays for them.
2. **single**: 5 `service:create` runs, each a fresh service, each started as a person
   does: `paved run service:create ... --wait` as a whole process through the gateway
   (signed in as dave). `p50_s`/`p95_s` come from Prefect's own state timestamps
   (created -> Completed); `cli_p50_s` is the wall clock of that process (its `--wait`
   polls every 0.2 s). Between Paved's runs, the bare script runs (alternating, 5 each).
3. **bare_s**: the median of those 5 bare runs: `tests/perf/bare_service.py` makes the
   provider calls Paved makes, the same reads and writes, one after another, with no
   Prefect and no registry. `ratio` is single.p50_s over bare_s.
4. **cli**: `paved run` submission and `paved who-owns`, whole processes, p50 of 10
   (`tests/perf/bench_cli.py`).
5. **burst**: N `service:create` submitted at once (a thread each) through the gateway,
   as dave, with the calls `paved run` makes;
   `total_s` from the first run's creation to the last one's end (state timestamps).
   `bare_total_s`: the bare script making N services on as many threads as the work
   pool runs flows at once. Duplicates are counted the hard way: every kind Paved makes,
   listed with the providers' own clients (`tests/perf/provider_census.py`).
6. **contention**: the same 5 names requested 4 times each, at once. Doing a thing twice
   is possible there, so `contention_duplicates: 0` means something.

No retry-delay shortcut applies (PAVED_RETRY_DELAY_SCALE is not set in the timed runs).
A script, not a test: it prints figures and asserts nothing about speed.

    .venv/bin/python -m tests.perf.bench_service_create [--burst 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from paved.settings import Settings
from tests.perf.bench_cli import PAVED, ROOT, p50_seconds

TEAM, OWNER, REQUESTER = "payments", "carol", "dave"
SINGLE_RUNS = 5
CONTENTION_NAMES, CONTENTION_COPIES = 5, 4
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
DEPLOYMENT = "service-create/service:create"
WAIT_FINAL_SECONDS = 900
SUBMIT_SECONDS = 600
# A busy server (503), or none behind the balancer for a moment (502, under make chaos).
BUSY = {502, 503}


def request(name: str) -> dict[str, Any]:
    """The request every run of the bench makes: a whole service, storage and topics."""
    return {
        "name": name,
        "team": TEAM,
        "owner": OWNER,
        "requester": REQUESTER,
        "storage": ["bucket", "queue", "table"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--burst", type=int, default=50, help="requests submitted at once")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--runs", type=int, default=SINGLE_RUNS, help="sequential runs")
    args = parser.parse_args()
    if os.environ.pop("PAVED_RETRY_DELAY_SCALE", None) is not None:
        print("(PAVED_RETRY_DELAY_SCALE ignored: the timed runs use the real retry delays)")
    settings = Settings()
    os.environ.update(settings.prefect_env())
    stamp = datetime.now(UTC).strftime("%H%M%S")
    person = _person_env()

    from flows.engine.providers import Providers
    from tests.perf.bare_service import make_shared_resources

    providers = Providers()
    make_shared_resources(providers)
    single = single_runs(f"b{stamp}", args.runs, person, providers)
    figures: dict[str, Any] = {
        "database": _database(settings),
        "single": single["paved"],
        "bare_s": single["bare_s"],
        "ratio": round(single["paved"]["p50_s"] / single["bare_s"], 2),
        "cli": cli_figures(person, service=f"b{stamp}p0"),
        "burst": burst(f"u{stamp}", args.burst, providers, settings),
    }
    _print(figures)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
        print(f"\nwritten to {args.json}")


def sandbox_token(handle: str) -> str:
    """The sandbox's GitHub token of `handle` (`paved sandbox token`)."""
    token = subprocess.run(
        [PAVED, "sandbox", "token", handle], cwd=ROOT, capture_output=True, text=True
    )
    if token.returncode != 0:
        raise SystemExit(f"no sandbox token for {handle}: {token.stderr}")
    return token.stdout.strip()


def _person_env() -> dict[str, str]:
    """The environment of a person's `paved` process: signed in as the requester."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PAVED_TOKEN"] = sandbox_token(REQUESTER)
    return env


def _percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def single_runs(prefix: str, runs: int, person: dict[str, str], providers: Any) -> dict[str, Any]:
    """Paved and bare, alternating, `runs` each, every run a fresh service."""
    from tests.perf.bare_service import bare_service

    state_s, cli_s, bare_s = [], [], []
    for n in range(runs):
        name = f"{prefix}p{n}"
        argv = [PAVED, "run", "service:create", "--wait", "--json"]
        for key, value in request(name).items():
            argv += ["-p", f"{key}={json.dumps(value) if isinstance(value, list) else value}"]
        started = time.perf_counter()
        done = subprocess.run(argv, env=person, cwd=ROOT, capture_output=True, text=True)
        cli_s.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"service:create {name} did not complete:\n{done.stdout}{done.stderr}")
        state_s.append(_created_to_final(UUID(json.loads(done.stdout)["flow_run_id"])))
        started = time.perf_counter()
        bare_service(providers, f"{prefix}b{n}", cold=True)
        bare_s.append(time.perf_counter() - started)
    return {
        "paved": {
            "runs": runs,
            "p50_s": round(statistics.median(state_s), 2),
            "p95_s": round(_percentile(state_s, 95), 2),
            "cli_p50_s": round(statistics.median(cli_s), 2),
            "each_s": [round(s, 2) for s in state_s],
        },
        "bare_s": round(statistics.median(bare_s), 2),
    }


def _created_to_final(run_id: UUID) -> float:
    """Seconds from the run's creation to its final state, by Prefect's timestamps."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    assert run.state is not None and run.created is not None
    return (run.state.timestamp - run.created).total_seconds()


def _database(settings: Settings) -> str:
    """sqlite or postgres: what the Prefect server of the stack stores its state in."""
    url = settings.prefect_env()["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    return "postgres" if url.startswith("postgresql") else "sqlite"


def cli_figures(person: dict[str, str], *, service: str) -> dict[str, float]:
    """`paved run` (submit only, a dry run: the worker's load stays small) and
    `paved who-owns` of a service the bench made, whole processes, p50 of 10."""
    submit = p50_seconds(
        [
            "run",
            "service:create",
            "-p",
            "name=clib{n}",
            "-p",
            f"team={TEAM}",
            "-p",
            f"owner={OWNER}",
            "-p",
            "dry_run=true",
        ],
        person,
        expect=0,
        runs=10,
        vary=True,
    )
    who_owns = p50_seconds(["who-owns", service], person, expect=0, runs=10)
    return {"submit_s": submit, "who_owns_s": who_owns}


def submit_all(names: list[str], *, within: float = SUBMIT_SECONDS) -> list[UUID]:
    """Create one run per name at once, a thread each, as dave through the gateway: the
    calls `paved run` makes.

    Not with Prefect's client: the stack sets PREFECT_CLIENT_MAX_RETRIES=10 and the client
    doubles its wait after each 503, up to 17 minutes before its last try, so a burst on
    the SQLite server ("database is locked") left a submission waiting for good. Here a
    503 (or 502) that outlasts the gateway's and PrefectApi's own retries is asked again
    every second or two until `within` seconds have passed; then the script ends."""
    from paved.gateway_client import GatewayRefused, PrefectApi

    settings = Settings()
    token = sandbox_token(REQUESTER)
    with PrefectApi(settings.gateway_api_url, token) as api:
        deployment = api.deployment_id(DEPLOYMENT)
    deadline = time.monotonic() + within

    def submit(name: str) -> UUID:
        # One key per name: a submission sent again after an answer was lost is the same run.
        key = f"bench-{name}-{uuid4().hex}"
        with PrefectApi(settings.gateway_api_url, token) as api:
            while True:
                try:
                    created = api.create_flow_run(
                        deployment, {"request": request(name)}, idempotency_key=key
                    )
                    return UUID(created["id"])
                except GatewayRefused as refused:
                    if refused.status_code not in BUSY or time.monotonic() > deadline:
                        raise SystemExit(f"{name} was not submitted: {refused}") from refused
                time.sleep(1 + random.random())

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return list(pool.map(submit, names))


def wait_final(ids: list[UUID], *, timeout: float = WAIT_FINAL_SECONDS) -> list[Any]:
    """Every run once final (one filtered read per poll; figures come from timestamps).

    A read that fails is read again (make chaos kills an API server under it); runs still
    not final after `timeout` end the script, naming them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            try:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
                )
            except Exception as exc:
                print(f"  (reading the runs failed once: {exc}; again)", flush=True)
                time.sleep(0.5)
                continue
            if len(runs) == len(ids) and all(
                r.state is not None and r.state.type.value in FINAL for r in runs
            ):
                return runs
            if time.monotonic() > deadline:
                left = [r.name for r in runs if r.state is None or r.state.type.value not in FINAL]
                raise SystemExit(f"runs not final after {timeout:g} s: {left}")
            time.sleep(0.5)


def _outcome(run: Any) -> str:
    """A run's final state, a failure on the service's claim told apart: in a contention
    burst, a second create of a name whose claim is held fails by design."""
    state = run.state.type.value
    if state == "FAILED" and "is being worked on by another run" in (run.state.message or ""):
        return "FAILED (claim held: Conflict)"
    return str(state)


def _span(runs: list[Any]) -> float:
    first = min(run.created for run in runs)
    last = max(run.state.timestamp for run in runs)
    return round((last - first).total_seconds(), 1)


def burst(prefix: str, count: int, providers: Any, settings: Settings) -> dict[str, Any]:
    """`count` services at once through Paved, then through the bare script on the work
    pool's concurrency in threads; then the contention burst."""
    from tests.perf.bare_service import bare_service
    from tests.perf.provider_census import census

    names = [f"{prefix}n{n}" for n in range(count)]
    runs = wait_final(submit_all(names))
    outcomes = Counter(run.state.type.value for run in runs)
    made = census(names, providers, team=TEAM)

    bare_names = [f"{prefix}b{n}" for n in range(count)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=settings.work_pool_concurrency) as pool:
        list(pool.map(lambda name: bare_service(providers, name), bare_names))
    bare_total = time.perf_counter() - started

    contended = [f"{prefix}c{n}" for n in range(CONTENTION_NAMES)]
    contention_runs = wait_final(submit_all(contended * CONTENTION_COPIES))
    contention_census = census(contended, providers, team=TEAM)
    return {
        "n": count,
        "total_s": _span(runs),
        "bare_total_s": round(bare_total, 1),
        "concurrency": settings.work_pool_concurrency,
        "failures": count - outcomes.get("COMPLETED", 0),
        "outcomes": dict(outcomes),
        "duplicates": made.duplicates,
        "duplicated": made.duplicated(),
        "found": made.by_kind(),
        "contention": {
            "names": CONTENTION_NAMES,
            "copies": CONTENTION_COPIES,
            "total_s": _span(contention_runs),
            "outcomes": dict(Counter(_outcome(run) for run in contention_runs)),
        },
        "contention_duplicates": contention_census.duplicates,
        "contention_duplicated": contention_census.duplicated(),
    }


def _print(figures: dict[str, Any]) -> None:
    single, burst_ = figures["single"], figures["burst"]
    print(f"# service:create on the local stack (Prefect on {figures['database']})\n")
    print(f"single, {single['runs']} fresh services, created -> Completed:")
    print(f"  p50 {single['p50_s']} s, p95 {single['p95_s']} s  (each: {single['each_s']})")
    print(f"  `paved run --wait` as a process: p50 {single['cli_p50_s']} s")
    print(f"bare script, same provider calls one after another: {figures['bare_s']} s")
    print(f"ratio Paved p50 / bare: {figures['ratio']}x")
    cli = figures["cli"]
    print(f"paved run (submit): {cli['submit_s']} s; paved who-owns: {cli['who_owns_s']} s")
    print(
        f"burst of {burst_['n']} at once: {burst_['total_s']} s; bare on "
        f"{burst_['concurrency']} threads: {burst_['bare_total_s']} s; "
        f"failures {burst_['failures']} {burst_['outcomes']}; "
        f"duplicates {burst_['duplicates']} {burst_['duplicated']}"
    )
    print(f"  found: {burst_['found']}")
    contention = burst_["contention"]
    print(
        f"contention ({contention['names']} names x {contention['copies']} at once): "
        f"{contention['total_s']} s, outcomes {contention['outcomes']}, "
        f"duplicates {burst_['contention_duplicates']} {burst_['contention_duplicated']}"
    )


if __name__ == "__main__":
    main()
