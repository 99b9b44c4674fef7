"""The test seam under `/_fake/`: health, reset, seeding, faults, journal, state dump,
people's tokens, and who is in the organization and its teams.

No authentication, and never journaled or faulted. `control.FakeGitHubControl` is the
Python client for it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.fake_github.errors import NotFound, ValidationFailed
from sandbox.fake_github.faults import Fault, FaultPlan
from sandbox.fake_github.journal import RequestJournal
from sandbox.fake_github.state import BOT_LOGIN
from sandbox.fake_github.web import IdentityConfig, State

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


@router.get("/tokens/{login}")
async def person_token(login: str, state: State, identity: IdentityConfig) -> dict[str, str]:
    """A person's GitHub token (sandbox only: what `paved sandbox token` prints)."""
    user = state.get_user(login)
    if user.login == BOT_LOGIN:
        raise NotFound("the bot has no personal token: use the app's token")
    return {"login": user.login, "token": identity.token_of(user.login)}


class JoinRequest(BaseModel):
    """`PUT /_fake/orgs/{org}/members/{login}`: who joins (a new GitHub account if needed)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Display name of a new account")
    email: str | None = Field(default=None, description="Public e-mail of a new account")


@router.put("/orgs/{org}/members/{login}")
async def join_organization(
    org: str, login: str, state: State, body: JoinRequest | None = None
) -> dict[str, str]:
    """Someone joins the organization."""
    wanted = body or JoinRequest()
    user = state.add_organization_member(org, login, name=wanted.name, email=wanted.email)
    return {"login": user.login}


@router.delete("/orgs/{org}/members/{login}")
async def leave_organization(org: str, login: str, state: State) -> dict[str, bool]:
    """Someone leaves the organization and its teams (their account stays)."""
    state.remove_organization_member(org, login)
    return {"ok": True}


class TeamMemberRequest(BaseModel):
    """`PUT /_fake/orgs/{org}/teams/{team_slug}/members/{login}`: the role in the team."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(default="member", description="member or maintainer")


@router.put("/orgs/{org}/teams/{team_slug}/members/{login}")
async def join_team(
    org: str, team_slug: str, login: str, state: State, body: TeamMemberRequest | None = None
) -> dict[str, str]:
    """Add someone to a team, or change their role (as GitHub's membership call does)."""
    role = state.set_membership(
        state.get_team(org, team_slug), login, (body or TeamMemberRequest()).role
    )
    return {"login": login, "role": role}


@router.delete("/orgs/{org}/teams/{team_slug}/members/{login}")
async def leave_team(org: str, team_slug: str, login: str, state: State) -> dict[str, bool]:
    """Take someone out of a team."""
    state.remove_membership(state.get_team(org, team_slug), login)
    return {"ok": True}
