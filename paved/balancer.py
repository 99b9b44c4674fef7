"""A small TCP load balancer: `python -m paved.balancer --listen HOST:PORT --upstream
HOST:PORT [--upstream ...]`.

`paved up --scale` runs two Prefect API servers; everything that talks to Prefect (the
gateway, the workers, the flow runs) reaches them through this one address, as it would
reach them through a Kubernetes Service. Connections go round-robin; an upstream that
refuses a connection is skipped for the next one, so a killed API server costs no request
that had not reached it yet (a connection cut mid-request is retried by Prefect's client).
Whole TCP connections are relayed, so HTTP keep-alive and Prefect's websockets (events,
logs) pass unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal

__all__ = ["Balancer", "main"]

_CONNECT_TIMEOUT_SECONDS = 2.0
_CHUNK = 64 * 1024
logger = logging.getLogger("paved.balancer")


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


class Balancer:
    """Relays each accepted connection to the next upstream that accepts it."""

    def __init__(self, upstreams: list[tuple[str, int]]) -> None:
        if not upstreams:
            raise ValueError("a balancer needs at least one upstream")
        self.upstreams = upstreams
        self._turn = itertools.cycle(range(len(upstreams)))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        first = next(self._turn)
        for offset in range(len(self.upstreams)):
            host, port = self.upstreams[(first + offset) % len(self.upstreams)]
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(host, port), _CONNECT_TIMEOUT_SECONDS
                )
            except (OSError, TimeoutError) as exc:
                logger.warning("upstream %s:%d refused: %s; trying the next", host, port, exc)
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            logger.error("no upstream accepted the connection")
            writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            sink.close()


async def serve(listen: tuple[str, int], upstreams: list[tuple[str, int]]) -> None:
    balancer = Balancer(upstreams)
    server = await asyncio.start_server(balancer.handle, *listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger.info("balancing %s:%d over %s", *listen, upstreams)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listen", type=_address, required=True)
    parser.add_argument("--upstream", type=_address, action="append", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.listen, args.upstream))


if __name__ == "__main__":
    main()
