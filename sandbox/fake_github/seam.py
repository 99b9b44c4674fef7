"""The test seam under `/_fake/`: health, reset, seeding, faults, journal, state dump.

No authentication, and never journaled or faulted. `control.FakeGitHubControl` is the
Python client for it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.fake_github.errors import ValidationFailed
from sandbox.fake_github.faults import Fault, FaultPlan
from sandbox.fake_github.journal import RequestJournal
from sandbox.fake_github.web import State

router = APIRouter(prefix="/_fake")


class FaultRequest(BaseModel):
    """`POST /_fake/faults`: which calls to hit, how, and how many times."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Regular expression the whole request path must match")
    method: str | None = Field(default=None, description="HTTP method to hit; any when absent")
    status: int = Field(default=502, ge=100, le=599, description="Status to answer with")
    drop: bool = Field(default=False, description="Abort the connection instead of answering")
    times: int = Field(default=1, ge=1, description="How many matching calls to hit")
    message: str | None = Field(
        default=None, description="Error message; GitHub's usual one by default"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra response headers")


def _plan(request: Request) -> FaultPlan:
    plan: FaultPlan = request.app.state.faults
    return plan


def _journal(request: Request) -> RequestJournal:
    journal: RequestJournal = request.app.state.journal
    return journal


def _forget_calls(request: Request) -> None:
    _plan(request).clear()
    _journal(request).clear()


@router.get("/health")
async def health() -> dict[str, bool]:
    """Liveness probe."""
    return {"ok": True}


@router.post("/reset")
async def reset(request: Request, state: State) -> dict[str, bool]:
    """Back to the seed: the world as seeded, no faults, an empty journal."""
    state.reset()
    _forget_calls(request)
    return {"ok": True}


@router.post("/seed")
async def seed(request: Request, state: State) -> dict[str, bool]:
    """Replace the world with one built from the JSON body (the seed file's shape);
    later resets return to it. Faults and journal are cleared as by a reset."""
    try:
        state.replace_seed(await request.json())
    except ValueError as error:  # a SeedError, or a body that is not JSON
        raise ValidationFailed(f"Invalid seed: {error}") from None
    _forget_calls(request)
    return {"ok": True}


@router.post("/faults", status_code=201)
async def add_fault(body: FaultRequest, request: Request) -> dict[str, Any]:
    """Arm a fault for the next `times` matching calls."""
    try:
        fault = Fault(**body.model_dump())
    except re.error as error:
        raise ValidationFailed(f"Invalid fault: {error}") from None
    _plan(request).add(fault)
    return fault.to_json()


@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    """The faults still armed, with their remaining `times`."""
    return [fault.to_json() for fault in _plan(request).pending()]


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, bool]:
    """Disarm every fault."""
    _plan(request).clear()
    return {"ok": True}


@router.get("/requests")
async def list_requests(request: Request, writes_only: bool = False) -> list[dict[str, Any]]:
    """The journal of API calls received (`writes_only=true`: non-GET calls only)."""
    return [entry.to_json() for entry in _journal(request).entries(writes_only=writes_only)]


@router.delete("/requests")
async def clear_requests(request: Request) -> dict[str, bool]:
    """Empty the journal."""
    _journal(request).clear()
    return {"ok": True}


@router.get("/state")
async def dump_state(state: State) -> JSONResponse:
    """The world as plain JSON: repositories with files, topics, protection, team access."""
    return JSONResponse(state.snapshot())
