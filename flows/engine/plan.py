"""The plan: what an action will make sure of, as a value.

An action's plan function is pure: from the request and registry reads to a `Plan` of
`PlannedResource`s, each with its registry reference, its desired settings and the keys
of the resources it needs first. A dry run is `render(plan)`; `apply` walks the same
value. No provider is called to build a plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field, model_validator

from registry.models import Provider

__all__ = ["Applied", "Plan", "PlannedResource", "ResourceRef", "render", "union"]


class ResourceRef(BaseModel):
    """A resource by its natural key in the registry, and the service it belongs to."""

    service: str = Field(description="Owning service.")
    provider: Provider = Field(description="Provider that holds it.")
    kind: str = Field(description="Kind, e.g. github_repository.")
    name: str = Field(description="Policy name, unique per provider and kind.")

    @property
    def key(self) -> str:
        """`<kind>:<name>`, how other planned resources name it in `depends_on`."""
        return f"{self.kind}:{self.name}"


class Applied(BaseModel):
    """What the ensure task of one planned resource found or made (or, in `Plan.given`,
    what the registry and provider hold for a resource another action made)."""

    external_id: str = Field(description="Provider id (an ARN on AWS).")
    url: str | None = Field(default=None, description="URL or URI, when the kind has one.")
    created: bool = Field(description="True when this run created it.")
    changes: list[str] = Field(description="What this run changed; empty when all was in place.")
    spec: dict[str, Any] = Field(
        default_factory=dict, description="Settings learned while applying, recorded too."
    )

    @property
    def outcome(self) -> str:
        """created, updated or unchanged."""
        return "created" if self.created else ("updated" if self.changes else "unchanged")


class PlannedResource(BaseModel):
    """A resource a request asks for: its registry reference and declared settings."""

    ref: ResourceRef
    spec: dict[str, Any]
    depends_on: list[str] = Field(
        default_factory=list, description="Keys of the planned resources made before it."
    )
    after: list[str] = Field(
        default_factory=list,
        description="Keys of planned resources it is made after without needing them (order "
        "only): if one fails, this one is not attempted and keeps its write-ahead.",
    )
    relation: str = Field(
        default="uses", description="How the service depends on it (registry dependency kind)."
    )
    shared: bool = Field(
        default=False,
        description="Owned by no service (e.g. the account's OIDC provider): not written "
        "ahead, recorded without a service, and the service depends on it.",
    )

    @property
    def key(self) -> str:
        """This resource's key in the plan."""
        return self.ref.key


class Plan(BaseModel):
    """Every resource one action run makes sure of, in declaration order."""

    action: str = Field(description="Catalog action, e.g. aws:compute:create.")
    service: str = Field(description="Service the resources belong to.")
    resources: list[PlannedResource] = Field(description="In declaration order.")
    notes: list[str] = Field(
        default_factory=list, description="What a dry run says besides the resources."
    )
    given: dict[str, Applied] = Field(
        default_factory=dict,
        description="Resources planned ones depend on that earlier runs made, by key, as "
        "read while planning (a pipeline's repository when the repository is not planned).",
    )
    parts: list[str] = Field(
        default_factory=list,
        description="The actions a union plan is made of: their claims are held too, so a "
        "part's own run cannot race the union on the service.",
    )

    @model_validator(mode="after")
    def _dependencies_are_planned_and_acyclic(self) -> Plan:
        keys = [item.key for item in self.resources]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a plan names a resource twice: {keys}")
        for item in self.resources:
            unknown = set(item.depends_on) - set(keys) - set(self.given)
            unknown |= set(item.after) - set(keys)
            if unknown:
                raise ValueError(f"{item.key} depends on unplanned {sorted(unknown)}")
        self.waves()  # raises on a cycle
        return self

    @property
    def claims(self) -> list[str]:
        """The registry claims a run of this plan holds: its action's, and its parts'."""
        return [f"{action}:{self.service}" for action in dict.fromkeys([self.action, *self.parts])]

    def get(self, key: str) -> PlannedResource:
        """The planned resource `key`."""
        return next(item for item in self.resources if item.key == key)

    def waves(self) -> list[list[PlannedResource]]:
        """The resources in waves: each wave needs only earlier waves (what may run at once)."""
        done: set[str] = set()
        left = list(self.resources)
        waves: list[list[PlannedResource]] = []
        while left:
            wave = [
                item for item in left if set(item.depends_on + item.after) <= done | set(self.given)
            ]
            if not wave:
                raise ValueError(f"the plan's dependencies form a cycle: {[i.key for i in left]}")
            waves.append(wave)
            done |= {item.key for item in wave}
            left = [item for item in left if item.key not in done]
        return waves


def union(action: str, service: str, plans: list[Plan]) -> Plan:
    """One plan of several actions' plans for one service, applied as one: what one part
    was given and another plans becomes a dependency inside the union."""
    resources = [item for plan in plans for item in plan.resources]
    planned = {item.key for item in resources}
    given = {k: v for plan in plans for k, v in plan.given.items() if k not in planned}
    return Plan(
        action=action,
        service=service,
        resources=resources,
        notes=[note for plan in plans for note in plan.notes],
        given=given,
        parts=[plan.action for plan in plans],
    )


def _settings(spec: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in spec.items())


def render(plan: Plan, *, region: str, owner: str, team: str, tags: dict[str, str]) -> str:
    """The dry run: the plan as markdown; nothing is touched to write it."""
    lines = [
        f"# Dry run: {plan.action} for service {plan.service}",
        "",
        f"Nothing was touched. A real run would make sure that, in `{region}`:",
        "",
    ]
    for item in plan.resources:
        after = f" (after {', '.join(item.depends_on)})" if item.depends_on else ""
        lines.append(
            f"- {item.ref.kind} `{item.ref.name}` exists with {_settings(item.spec)}{after}"
        )
    lines += [f"- {note}" for note in plan.notes]
    lines += [
        f"- service `{plan.service}` depends on each, owned by `{owner}` (team `{team}`)",
        "",
        "Tags on every resource: " + ", ".join(f"`{k}={v}`" for k, v in tags.items()),
    ]
    return "\n".join(lines)


def keys(items: Iterable[PlannedResource]) -> list[str]:
    """The keys of `items`, in order."""
    return [item.key for item in items]
