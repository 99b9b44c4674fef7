"""`python -m paved.gateway`: serve the gateway configured by `PAVED_GATEWAY_*`."""

from __future__ import annotations

import uvicorn

from paved.gateway.app import create_app
from paved.gateway.config import GatewayConfig


def main() -> None:
    config = GatewayConfig()  # type: ignore[call-arg]  # read from the environment
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="info",
        # One process: the identity caches are per process (a replica set scales it out).
        # Forwarded headers only from the proxy the configuration names (an Ingress ending
        # TLS), never from anyone who can reach the port.
        proxy_headers=config.forwarded_allow_ips is not None,
        forwarded_allow_ips=config.forwarded_allow_ips,
        # The legacy "websockets" implementation is deprecated (uvicorn and websockets
        # both warn); sans-I/O is its replacement.
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()
