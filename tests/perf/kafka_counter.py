"""A TCP proxy in front of a Kafka broker that counts the requests arriving, by API key.

Tansu counts nothing, and a client's own count sees only what the application asked for:
librdkafka also sends its handshake (ApiVersions) on every connection and metadata of its
own. A Kafka request frame is a 4-byte big-endian size, then the request header, whose
first field is the int16 API key (kafka.apache.org/protocol, "Requests"); the proxy reads
only that and passes every byte through unchanged.

The broker must advertise the proxy's address (Tansu's `--advertised-listener-url`):
clients reconnect to the address the Metadata answer gives, and would bypass the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter

__all__ = ["API_KEYS", "KafkaRequestCounter"]

# The API keys a Kafka admin client sends (kafka.apache.org/protocol, "Api Keys").
API_KEYS = {
    0: "Produce",
    1: "Fetch",
    2: "ListOffsets",
    3: "Metadata",
    10: "FindCoordinator",
    17: "SaslHandshake",
    18: "ApiVersions",
    19: "CreateTopics",
    20: "DeleteTopics",
    32: "DescribeConfigs",
    33: "AlterConfigs",
    37: "CreatePartitions",
    44: "IncrementalAlterConfigs",
    60: "DescribeCluster",
    # KIP-714 client metrics: librdkafka 2.5+ asks on every new connection.
    71: "GetTelemetrySubscriptions",
    72: "PushTelemetry",
}
_SIZE = struct.Struct(">i")
_API_KEY = struct.Struct(">h")
_CHUNK = 65536


class KafkaRequestCounter:
    """Listens on `port` (0: any free one), forwards to `upstream`, counts requests."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self._listener = socket.create_server((host, port))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="kafka-counter", daemon=True)

    def start(self) -> KafkaRequestCounter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def counts(self) -> dict[str, int]:
        """Requests arrived since the last reset, by API name."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                broker = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._requests, args=(client, broker), daemon=True).start()
            threading.Thread(target=_pipe, args=(broker, client), daemon=True).start()

    def _requests(self, client: socket.socket, broker: socket.socket) -> None:
        """Client to broker: forward every byte, counting each frame's API key."""
        pending = b""
        try:
            while chunk := client.recv(_CHUNK):
                broker.sendall(chunk)
                pending = self._count_frames(pending + chunk)
        except OSError:
            pass
        finally:
            _close(client, broker)

    def _count_frames(self, data: bytes) -> bytes:
        """Count the whole frames at the start of `data`; return what is left of it (the
        frames are forwarded already: this only keeps track of where the next one starts)."""
        while len(data) >= _SIZE.size + _API_KEY.size:
            (size,) = _SIZE.unpack_from(data)
            if len(data) < _SIZE.size + size:
                # The frame's key is known, its end not yet: count it once, when whole.
                break
            (api_key,) = _API_KEY.unpack_from(data, _SIZE.size)
            with self._lock:
                self._counts[API_KEYS.get(api_key, f"api_key {api_key}")] += 1
            data = data[_SIZE.size + size :]
        return data


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(_CHUNK):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(source, target)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
