"""`python -m sandbox.webhook_sink --host HOST --port PORT`: serve until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from sandbox.webhook_sink.server import SinkServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.webhook_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind.")
    parser.add_argument("--port", type=int, default=4290, help="Port to listen on.")
    args = parser.parse_args(argv)
    server = SinkServer(args.host, args.port)

    def stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return: ask it from another thread.
        import threading

        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"webhook sink listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
