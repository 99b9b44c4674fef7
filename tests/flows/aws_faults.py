"""Fault injection for AWS calls through the block's test seam (`blocks.aws.CLIENT_HOOKS`).

A fault answers an operation with an AWS error for its first `times` calls, before the
request leaves botocore, the way AWS answers a throttled or failing call; every call
after that reaches moto. No boto3 function is patched.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from blocks.aws import CLIENT_HOOKS

# Services whose error bodies are XML; the others Paved calls answer JSON.
_XML_SERVICES = {"s3"}


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class _Fault:
    service: str
    operation: str
    status: int
    code: str
    times: int


@dataclass
class AwsFaults:
    """Faults by `<service>.<Operation>` (botocore's event names), and calls seen."""

    faults: list[_Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    holds: dict[str, tuple[threading.Event, threading.Event]] = field(default_factory=dict)

    def hold(self, event: str) -> tuple[threading.Event, threading.Event]:
        """Hold the next call of `event` before it is sent, until the test sets the
        second Event (`release`); the first (`reached`) is set when a call is held. It
        makes "while a run is in the middle of its work" a fact, not a race."""
        reached, release = threading.Event(), threading.Event()
        self.holds[event] = (reached, release)
        return reached, release

    def add(self, event: str, *, status: int, code: str, times: int = 1) -> None:
        """Answer `event` (e.g. "s3.PutBucketEncryption") with `status`/`code` `times` times."""
        service, operation = event.split(".")
        self.faults.append(_Fault(service, operation, status, code, times))

    def clear(self) -> None:
        self.faults.clear()

    def hook(self, client: Any) -> None:
        """The CLIENT_HOOKS entry: count every call, answer the faults."""
        client.meta.events.register("before-send", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        key = f"{service}.{operation}"
        self.calls[key] += 1
        held = self.holds.pop(key, None)
        if held is not None:
            reached, release = held
            reached.set()
            release.wait(timeout=300)
        for fault in self.faults:
            if (fault.service, fault.operation) == (service, operation) and fault.times > 0:
                fault.times -= 1
                self.injected[key] += 1
                return self._response(request.url, service, fault)
        return None

    @staticmethod
    def _response(url: str, service: str, fault: _Fault) -> AWSResponse:
        message = f"injected {fault.code}"
        if service in _XML_SERVICES:
            body = f"<Error><Code>{fault.code}</Code><Message>{message}</Message></Error>"
            headers = {"Content-Type": "application/xml"}
        else:
            body = json.dumps({"__type": fault.code, "message": message})
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-query-error": f"{fault.code};Sender",
            }
        return AWSResponse(url, fault.status, headers, _Body(body.encode()))


def installed() -> Iterator[AwsFaults]:
    """Register an AwsFaults on the seam for one test; use as a generator fixture body."""
    faults = AwsFaults()
    CLIENT_HOOKS.append(faults.hook)
    try:
        yield faults
    finally:
        CLIENT_HOOKS.remove(faults.hook)
