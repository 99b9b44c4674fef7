"""moto's server with the sandbox's extensions: `python -m sandbox.moto_server -H HOST -p PORT`.

The same command line as moto's own `moto_server`; `sandbox.moto_ext` is installed first,
so AWS Config and the Tagging API answer the drift audit's batched calls as real AWS does.

Unlike `moto_server` it does not log a line per request, only warnings and errors: a
drift audit sends thousands of requests, and a line for each would bury the warnings in
the stack's `aws` log.

It counts the AWS requests that arrive, by service (the SigV4 credential scope's service)
and, for JSON APIs, by operation (`X-Amz-Target`): `GET /_sandbox/requests` answers
`{"total": n, "services": {...}, "operations": {...}}`, `POST /_sandbox/requests/reset`
starts again. A benchmark compares it with what its clients say they sent: a count made
where calls arrive cannot miss a retry or a call a client made behind its back.
moto's own recorder (`/moto-api/recorder/`) would do, but it writes every request body
to a file, which a count of thousands of requests does not need.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto import server as moto_server_module
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main as moto_main

from sandbox import moto_ext

__all__ = ["REQUESTS_PATH", "CountingDispatcher", "main"]

REQUESTS_PATH = "/_sandbox/requests"
# `Credential=<key>/<date>/<region>/<service>/aws4_request` in a SigV4 Authorization header.
_SCOPE_SERVICE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_UNCOUNTED_PREFIXES = ("/moto-api", "/_sandbox")

StartResponse = Callable[..., Any]


class _RequestCount:
    """Requests by service and by operation, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.services: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()

    def add(self, environ: dict[str, Any]) -> None:
        scope = _SCOPE_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else "unsigned"
        target = environ.get("HTTP_X_AMZ_TARGET")
        with self._lock:
            self.services[service] += 1
            if target:
                self.operations[f"{service}.{target.rsplit('.', 1)[-1]}"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.services.values()),
                "services": dict(self.services),
                "operations": dict(self.operations),
            }

    def reset(self) -> None:
        with self._lock:
            self.services.clear()
            self.operations.clear()


class CountingDispatcher(DomainDispatcherApplication):
    """moto's WSGI application, counting each AWS request before moto answers it."""

    counted = _RequestCount()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(REQUESTS_PATH):
            return self._answer_count(environ, start_response)
        if not path.startswith(_UNCOUNTED_PREFIXES):
            self.counted.add(environ)
        answer: Iterable[bytes] = super().__call__(environ, start_response)
        return answer

    def _answer_count(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ["PATH_INFO"].endswith("/reset"):
            self.counted.reset()
        body = json.dumps(self.counted.snapshot()).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def main(argv: list[str] | None = None) -> None:
    """Install the extensions, then serve as `moto_server` would with `argv`."""
    moto_ext.install()
    # werkzeug logs each request at INFO on the "werkzeug" logger.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # moto's main builds its application from this name: the counting one is served.
    if moto_server_module.DomainDispatcherApplication is not DomainDispatcherApplication:
        raise RuntimeError("sandbox.moto_server was written for moto 5.2.5's moto.server")
    moto_server_module.DomainDispatcherApplication = CountingDispatcher  # type: ignore[misc]
    moto_main(argv)


if __name__ == "__main__":
    main()
