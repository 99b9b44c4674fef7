"""How long `paved` takes as people run it: whole processes, wall clock, p50 of 10.

- who_owns_s: `paved who-owns clibench` against a new SQLite registry (the sandbox seed
  plus one service), so no running stack is needed. Target (issue 10/12): <= 0.5 s.
- submit_s: `paved run github:repo:create -p name=clibench-... -p team=payments -p
  owner=dave` (no --wait) through the gateway of the stack the `PAVED_*` environment
  names, signed in as dave (`PAVED_TOKEN`, else `paved sandbox token dave`); null when
  that stack's gateway is not up (this script never starts one). Target: <= 1 s.
- submit_validation_s: `paved run github:repo:create -p name=Bad_Name`, refused (exit 2)
  before any network call: the part of a submission that needs no stack.

A script, not a test: it prints JSON and asserts nothing about speed.

    .venv/bin/python -m tests.perf.bench_cli [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAVED = str(Path(sys.executable).parent / "paved")
SEED_FILE = ROOT / "sandbox" / "seed.yaml"
# dave is in team payments (sandbox/seed.yaml): the gateway lets him ask for it.
SUBMIT_ACTION = "github:repo:create"
SUBMIT_PARAMS = ("team=payments", "owner=dave")


def p50_seconds(
    args: Sequence[str], env: Mapping[str, str], *, expect: int, runs: int, vary: bool = False
) -> float:
    """The median wall clock of `runs` processes `paved ARGS`; each must exit `expect`.
    With `vary`, `{n}` in the arguments is replaced by a new value each run."""
    times = []
    for _ in range(runs):
        stamp = uuid.uuid4().hex[:8]
        argv = [PAVED, *(arg.replace("{n}", stamp) if vary else arg for arg in args)]
        started = time.perf_counter()
        done = subprocess.run(argv, env=dict(env), cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != expect:
            raise SystemExit(
                f"{' '.join(argv)} exited {done.returncode}, not {expect}:\n"
                f"{done.stdout}{done.stderr}"
            )
    return round(statistics.median(times), 3)


def seeded_registry(directory: Path) -> str:
    """A new SQLite registry with the sandbox seed and a service `clibench`; its URL."""
    from registry import queries
    from registry.db import make_engine, migrate, session_scope
    from registry.seed import apply_seed, load_seed

    url = f"sqlite:///{directory / 'registry.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            apply_seed(session, seed=load_seed(SEED_FILE))
            queries.get_or_create_service(session, name="clibench", team="payments", owner="dave")
    finally:
        engine.dispose()
    return url


def gateway_token(env: Mapping[str, str]) -> str | None:
    """dave's token for the stack `env` names, or None when its gateway is not up."""
    status = subprocess.run(
        [PAVED, "status", "--json"], env=dict(env), cwd=ROOT, capture_output=True, text=True
    )
    try:
        components = json.loads(status.stdout)["components"]
    except (ValueError, KeyError):
        return None
    if not components.get("gateway", {}).get("healthy"):
        return None
    if env.get("PAVED_TOKEN"):
        return env["PAVED_TOKEN"]
    token = subprocess.run(
        [PAVED, "sandbox", "token", "dave"], env=dict(env), cwd=ROOT, capture_output=True, text=True
    )
    return token.stdout.strip() or None


def submit_seconds(env: Mapping[str, str], runs: int) -> float | None:
    token = gateway_token(env)
    if token is None:
        return None
    args = ["run", SUBMIT_ACTION, "-p", "name=clibench-{n}"]
    for param in SUBMIT_PARAMS:
        args += ["-p", param]
    return p50_seconds(args, {**env, "PAVED_TOKEN": token}, expect=0, runs=runs, vary=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    stack_env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        directory = Path(scratch)
        own_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PAVED_")},
            "PAVED_HOME": str(directory / "home"),
            "PAVED_REGISTRY_URL": seeded_registry(directory),
        }
        figures = {
            "submit_s": submit_seconds(stack_env, options.runs),
            "who_owns_s": p50_seconds(
                ["who-owns", "clibench"], own_env, expect=0, runs=options.runs
            ),
            "submit_validation_s": p50_seconds(
                ["run", SUBMIT_ACTION, "-p", "name=Bad_Name"], own_env, expect=2, runs=options.runs
            ),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
