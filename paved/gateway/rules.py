"""What each signed-in person may do through the gateway, decided from the registry.

    reads (GET, and POSTs that only filter or count)        every signed-in person
    ...asking for secret values of blocks                    nobody, admins included
    POST /deployments/{id}/create_flow_run (a Paved action)  every signed-in person, as
         themself: `requester` and the `requester:` tag are stamped with their handle,
         a body naming someone else is refused; a team they are not in is refused;
         job_variables (command, env, image) are for admins
    ...of a housekeeping deployment (no `request`)           admins
    POST /flow_runs/{id}/resume                              only the person the run's
         approval was sent to (never its requester); refusals are journaled
    cancelling (set_state CANCELLING) or deleting a run      its requester, or an admin
    every other write (blocks, deployments, work pools,      admins: the active members of
         variables, automations, concurrency limits...)      the admin team

Nothing here trusts a field the caller fills in: who is asking comes from `Identity`, what
they may do from the registry and from Prefect's own records (the run's `requester:` tag,
which only this gateway writes for people).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from paved.gateway.identity import Identity

__all__ = [
    "Call",
    "Forward",
    "Refuse",
    "Rules",
    "Upstream",
    "strip_fields_from_schema",
    "without_stamped_fields",
]

# Prefect takes run and deployment ids with or without their hyphens.
_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_CREATE_RUN = re.compile(rf"^/deployments/(?P<id>{_UUID})/create_flow_run$")
_RESUME = re.compile(rf"^/flow_runs/(?P<id>{_UUID})/resume$")
_SET_STATE = re.compile(rf"^/flow_runs/(?P<id>{_UUID})/set_state$")
_RUN = re.compile(rf"^/flow_runs/(?P<id>{_UUID})$")
# POSTs that only read: Prefect filters, counts and pages with POST bodies.
_READ_POST = re.compile(
    r"^/(?:ui/.*|events/filter/next|.*/(?:filter|count|count-by/[^/]+|count-deployments"
    r"|count-task-runs|history|lateness|paginate|next-runs|concurrency_status|get_runs"
    r"|validate))$"
)
_CANCEL_STATES = {"CANCELLING", "CANCELLED"}
# What Prefect (pydantic) reads as false; any other value of include_secrets may be true
# to it ("on", "t", "y" are), so only these are let through.
_FALSE = {"false", "0", "no", "off", "f", "n"}

SECRETS_REFUSED = (
    "Secret values of blocks go to nobody through the gateway, admins included; "
    "ask without include_secrets (values show as ********)."
)
# Fields the gateway fills from the signed-in identity: forms do not ask for them.
STAMPED_REQUEST_FIELDS = ("requester",)
STAMPED_APPROVAL_FIELDS = ("approver",)


@dataclass(frozen=True)
class Call:
    """One API call as the gateway sees it: the path is Prefect's, after `/api`."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Forward:
    """Pass the call on, with this body (rewritten where the gateway stamps who is asking)."""

    body: bytes


@dataclass(frozen=True)
class Refuse:
    """Answer the caller with `status` and `message`; Prefect never sees the call."""

    status: int
    message: str


class Upstream(Protocol):
    """Reads from Prefect's API, with the gateway's credential."""

    async def get_json(self, path: str) -> Any: ...


PendingApprover = Callable[[str], Awaitable[str | None]]
JournalRefusal = Callable[[str, str, str, str], Awaitable[None]]
"""(flow_run_id, who, what they tried, why refused)"""


def _json(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return None


def _asks_for_secrets(call: Call) -> bool:
    asked = call.query.get("include_secrets")
    if asked is not None and asked.strip().lower() not in _FALSE:
        return True
    body = _json(call.body)
    return isinstance(body, dict) and bool(body.get("include_secrets"))


class Rules:
    """The decisions of the module docstring, for one gateway."""

    def __init__(
        self,
        *,
        upstream: Upstream,
        admin_team: str,
        pending_approver: PendingApprover,
        journal_refusal: JournalRefusal,
    ) -> None:
        self._upstream = upstream
        self._admin_team = admin_team
        self._pending_approver = pending_approver
        self._journal_refusal = journal_refusal

    async def decide(self, call: Call, who: Identity) -> Forward | Refuse:
        """Forward (perhaps rewritten) or refuse `call` made by `who`."""
        if _asks_for_secrets(call):
            return Refuse(403, SECRETS_REFUSED)
        method = call.method.upper()
        if method in ("GET", "HEAD", "OPTIONS"):
            return Forward(call.body)
        if method == "POST" and (match := _CREATE_RUN.match(call.path)):
            return await self._create_run(call, who, deployment_id=match["id"])
        if method == "POST" and (match := _RESUME.match(call.path)):
            return await self._resume(call, who, flow_run_id=match["id"])
        if method == "POST" and (match := _SET_STATE.match(call.path)):
            body = _json(call.body)
            state = body.get("state") if isinstance(body, dict) else None
            wanted = state.get("type") if isinstance(state, dict) else None
            if str(wanted).upper() in _CANCEL_STATES:
                return await self._own_run(call, who, flow_run_id=match["id"], verb="cancel")
        if method == "DELETE" and (match := _RUN.match(call.path)):
            return await self._own_run(call, who, flow_run_id=match["id"], verb="delete")
        if method == "POST" and _READ_POST.match(call.path):
            return Forward(call.body)
        if who.admin:
            return Forward(call.body)
        return Refuse(
            403,
            f"you are {who.handle}; {method} /api{call.path} changes Prefect's configuration "
            f"or its runs, which only admins (members of team {self._admin_team}) may do",
        )

    async def _create_run(
        self, call: Call, who: Identity, *, deployment_id: str
    ) -> Forward | Refuse:
        deployment = await self._upstream.get_json(f"/deployments/{deployment_id}")
        schema = deployment.get("parameter_openapi_schema") or {}
        if "request" not in (schema.get("properties") or {}):
            # Housekeeping (audits, journal, sync) acts for the platform, not for a person.
            if who.admin:
                return Forward(call.body)
            return Refuse(
                403,
                f"you are {who.handle}; {deployment.get('name')!s} is housekeeping, which only "
                f"admins (members of team {self._admin_team}) may run",
            )
        body = _json(call.body)
        if not isinstance(body, dict):
            return Refuse(422, "the body of create_flow_run must be a JSON object")
        if body.get("job_variables") and not who.admin:
            # They set the command, environment and image the worker runs the flow with:
            # in a person's hands, any code with the worker's credentials.
            return Refuse(
                403,
                f"you are {who.handle}; job_variables (the command, environment and image of "
                f"a run) are set by admins (members of team {self._admin_team}) on the "
                "deployment, not per run",
            )
        state = body.get("state")
        if (
            state is not None
            and not who.admin
            and (not isinstance(state, dict) or str(state.get("type", "")).upper() != "SCHEDULED")
        ):
            # A run starts Scheduled (now or later); any other first state skips the work.
            return Refuse(
                403,
                f"you are {who.handle}; a run you ask for starts Scheduled, not "
                f"{state.get('type') if isinstance(state, dict) else state}",
            )
        parameters = body.setdefault("parameters", {}) or {}
        request = parameters.setdefault("request", {})
        if not isinstance(request, dict):
            return Refuse(422, "parameters.request must be a JSON object")
        named = request.get("requester")
        if named not in (None, "") and str(named).strip().lower() != who.handle.lower():
            return Refuse(
                403,
                f"you are {who.handle}; a request as {named} is refused: Paved records the "
                "signed-in person as the requester",
            )
        team = request.get("team")
        if isinstance(team, str) and team and team not in who.teams:
            return Refuse(
                403,
                f"you are {who.handle}, not a member of team {team}: only its members may ask "
                f"for {deployment.get('name')!s} for it",
            )
        request["requester"] = who.handle
        body["parameters"] = parameters
        tags = [tag for tag in body.get("tags") or [] if not str(tag).startswith("requester:")]
        body["tags"] = [*tags, f"requester:{who.handle}"]
        return Forward(json.dumps(body).encode())

    async def _resume(self, call: Call, who: Identity, *, flow_run_id: str) -> Forward | Refuse:
        approver = await self._pending_approver(flow_run_id)
        if approver is None:
            return Refuse(409, f"flow run {flow_run_id} is not waiting for an approval")
        if who.handle.lower() != approver.lower():
            reason = (
                f"you are {who.handle}; only {approver}, to whom the approval of this run "
                "was sent, may resume it"
            )
            await self._journal_refusal(flow_run_id, who.handle, "resume", reason)
            return Refuse(403, reason)
        body = _json(call.body)
        if not isinstance(body, dict):
            return Refuse(422, "the body of resume must be a JSON object")
        run_input = body.get("run_input")
        if isinstance(run_input, dict):
            named = run_input.get("approver")
            if named not in (None, "") and str(named).strip().lower() != who.handle.lower():
                reason = f"you are {who.handle}; an approval as {named} is refused"
                await self._journal_refusal(flow_run_id, who.handle, "resume", reason)
                return Refuse(403, reason)
            run_input["approver"] = who.handle
        return Forward(json.dumps(body).encode())

    async def _own_run(
        self, call: Call, who: Identity, *, flow_run_id: str, verb: str
    ) -> Forward | Refuse:
        if who.admin:
            return Forward(call.body)
        run = await self._upstream.get_json(f"/flow_runs/{flow_run_id}")
        requesters = [
            tag.removeprefix("requester:")
            for tag in run.get("tags") or []
            if tag.startswith("requester:")
        ]
        if who.handle in requesters:
            return Forward(call.body)
        by = f"its requester ({requesters[0]})" if requesters else "its requester"
        return Refuse(
            403,
            f"you are {who.handle}; only {by} or an admin (team {self._admin_team}) may "
            f"{verb} flow run {run.get('name', flow_run_id)}",
        )


def strip_fields_from_schema(schema: Any, fields: tuple[str, ...]) -> Any:
    """`schema` (a JSON schema) with `fields` removed from every object's properties and
    required lists: the form then does not ask for what the gateway stamps."""
    if isinstance(schema, list):
        return [strip_fields_from_schema(item, fields) for item in schema]
    if not isinstance(schema, dict):
        return schema
    stripped = {key: strip_fields_from_schema(value, fields) for key, value in schema.items()}
    properties = stripped.get("properties")
    if isinstance(properties, dict) and any(name in properties for name in fields):
        stripped["properties"] = {k: v for k, v in properties.items() if k not in fields}
        if isinstance(stripped.get("required"), list):
            stripped["required"] = [name for name in stripped["required"] if name not in fields]
    return stripped


def without_stamped_fields(payload: Any) -> Any:
    """A deployments response with `requester` out of every parameter schema."""
    if isinstance(payload, list):
        return [without_stamped_fields(item) for item in payload]
    if isinstance(payload, dict):
        result = {key: without_stamped_fields(value) for key, value in payload.items()}
        schema = result.get("parameter_openapi_schema")
        if isinstance(schema, dict):
            result["parameter_openapi_schema"] = strip_fields_from_schema(
                schema, STAMPED_REQUEST_FIELDS
            )
        return result
    return payload
