"""`python -m sandbox.fake_github --host 127.0.0.1 --port N [--seed sandbox/seed.yaml]`."""

from __future__ import annotations

import argparse

import uvicorn

from sandbox.fake_github.app import create_app
from sandbox.fake_github.seed import DEFAULT_SEED_PATH
from sandbox.fake_github.server import uvicorn_config
from sandbox.fake_github.state import GitHubState


def main(argv: list[str] | None = None) -> None:
    """Serve the fake GitHub in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.fake_github", description="Paved's fake GitHub REST server"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument(
        "--seed", default=str(DEFAULT_SEED_PATH), help="seed file (default sandbox/seed.yaml)"
    )
    args = parser.parse_args(argv)
    app = create_app(GitHubState.from_seed_file(args.seed))
    uvicorn.Server(uvicorn_config(app, args.host, args.port)).run()


if __name__ == "__main__":
    main()
