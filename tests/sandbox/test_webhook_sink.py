"""The webhook sink as a process (the LaunchSpec `paved up` uses) and in a thread."""

from __future__ import annotations

import httpx

from sandbox.launch import webhook_sink
from sandbox.webhook_sink import serve_in_thread
from tests.conftest import free_port
from tests.servers import running


def test_the_launched_sink_records_lists_filters_and_forgets() -> None:
    port = free_port()
    spec = webhook_sink(host="127.0.0.1", port=port)
    base = f"http://127.0.0.1:{port}"
    assert spec.name == "notify" and spec.port == port
    assert not spec.health().healthy

    with running(spec):
        assert spec.health().healthy
        first = httpx.post(f"{base}/hooks/carol", json={"subject": "hi", "body": "line 1\nline 2"})
        second = httpx.post(
            f"{base}/hooks/dave", content=b"plain text", headers={"Content-Type": "text/plain"}
        )
        assert first.status_code == second.status_code == 200

        everything = httpx.get(f"{base}/_sink/messages").json()
        to_carol = httpx.get(f"{base}/_sink/messages", params={"to": "carol"}).json()

        assert [m["recipient"] for m in everything] == ["carol", "dave"]
        assert to_carol[0]["body"] == {"subject": "hi", "body": "line 1\nline 2"}
        assert to_carol[0]["headers"]["content-type"] == "application/json"
        assert "authorization" not in to_carol[0]["headers"]
        assert to_carol[0]["received_at"].endswith("+00:00")
        assert everything[1]["body"] == "plain text"
        assert httpx.delete(f"{base}/_sink/messages").json() == {"deleted": 2}
        assert httpx.get(f"{base}/_sink/messages").json() == []
        assert httpx.get(f"{base}/_sink/health").json()["status"] == "ok"
    assert not spec.health().healthy


def test_faults_answer_the_next_hooks_then_recording_resumes() -> None:
    server = serve_in_thread()
    try:
        assert httpx.post(f"{server.url}/_sink/faults", json={"status": 503, "times": 2}).is_success
        statuses = [httpx.post(f"{server.url}/hooks/carol", json={}).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert len(server.listed("carol")) == 1
        assert httpx.post(f"{server.url}/_sink/faults", json={"oops": 1}).status_code == 400
        assert httpx.post(f"{server.url}/elsewhere", json={}).status_code == 404
        assert httpx.get(f"{server.url}/nothing").status_code == 404
    finally:
        server.shutdown()
        server.server_close()
