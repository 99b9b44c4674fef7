"""`FakeGitHubControl`: a small Python client for the fake's `/_fake/` test seam."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


class FakeGitHubControl:
    """Drive a running fake GitHub from a test: reset, seed, faults, journal, state.

    >>> control = FakeGitHubControl("http://127.0.0.1:18080")  # doctest: +SKIP
    >>> control.add_fault(path="/orgs/acme/repos", method="POST", status=502)  # doctest: +SKIP
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        """Talk to the fake at `base_url` (its root, e.g. `http://127.0.0.1:18080`)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        # A connection per call: nothing to close, so a test that forgets this object
        # leaves no open socket behind (pytest turns that ResourceWarning into an error).
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            response = client.request(method, f"/_fake{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> bool:
        """Whether the fake answers."""
        return bool(self._call("GET", "/health")["ok"])

    def reset(self) -> None:
        """Back to the seed; faults and journal cleared."""
        self._call("POST", "/reset")

    def seed(self, data: Mapping[str, Any]) -> None:
        """Replace the world with one built from `data` (the shape of `sandbox/seed.yaml`)."""
        self._call("POST", "/seed", json=dict(data))

    def add_fault(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int = 502,
        drop: bool = False,
        times: int = 1,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Make the next `times` calls whose path fully matches the regex `path` (and whose
        method is `method`, if given) answer `status`, or drop their connection (`drop`)."""
        fault: dict[str, Any] = {
            "path": path,
            "method": method,
            "status": status,
            "drop": drop,
            "times": times,
        }
        if message is not None:
            fault["message"] = message
        if headers:
            fault["headers"] = dict(headers)
        result: dict[str, Any] = self._call("POST", "/faults", json=fault)
        return result

    def faults(self) -> list[dict[str, Any]]:
        """The faults still armed."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._call("DELETE", "/faults")

    def requests(self, writes_only: bool = False) -> list[dict[str, Any]]:
        """The journal of API calls (see `journal.JournalEntry` for the fields)."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/requests", params={"writes_only": "true" if writes_only else "false"}
        )
        return result

    def clear_requests(self) -> None:
        """Empty the journal."""
        self._call("DELETE", "/requests")

    def state(self) -> dict[str, Any]:
        """The world as plain JSON (repositories, teams, users)."""
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def token(self, login: str) -> str:
        """The personal GitHub token of `login` (httpx.HTTPStatusError 404 if unknown)."""
        return str(self._call("GET", f"/tokens/{login}")["token"])

    def join_organization(
        self, org: str, login: str, *, name: str | None = None, email: str | None = None
    ) -> None:
        """`login` joins `org` (a new GitHub account when the fake does not know them)."""
        self._call("PUT", f"/orgs/{org}/members/{login}", json={"name": name, "email": email})

    def leave_organization(self, org: str, login: str) -> None:
        """`login` leaves `org` and all its teams; the account stays."""
        self._call("DELETE", f"/orgs/{org}/members/{login}")

    def set_team_member(self, org: str, team: str, login: str, role: str = "member") -> None:
        """Put `login` in `team` as `member` or `maintainer`."""
        self._call("PUT", f"/orgs/{org}/teams/{team}/members/{login}", json={"role": role})

    def remove_team_member(self, org: str, team: str, login: str) -> None:
        """Take `login` out of `team`."""
        self._call("DELETE", f"/orgs/{org}/teams/{team}/members/{login}")
