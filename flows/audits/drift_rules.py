"""The drift audit's judgement: registry and provider inventories in, differences out.

Pure functions, no I/O, so each rule is tested on its own and the audit flow only
gathers and stores. Five classes (registry.models.DriftClass):

- **missing**: an active registered resource of a kind its provider listed completely,
  not among what the provider holds;
- **changed**: a declared setting differs (only keys both the spec declares and the
  inventory observes are compared; a repository is declared unarchived; a deploy role
  is declared to hold exactly the inline policies its spec names and no managed policy,
  so a policy added to it by hand is drift);
- **mistagged**: a policy tag missing or with another value than the registry's current
  owner and team imply;
- **unmanaged**: held by the provider, never known to the registry; told to whoever the
  name or tags point at (a team prefix, a service name), else the fallback person;
- **ownerless**: a service or resource without an active accountable owner
  (registry.answers.orphans), told to the team's active lead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from registry.answers import Orphan
from registry.findings import Answerable, AuditTarget, DetectedDrift
from registry.models import DriftClass, ResourceStatus
from registry.policy import TAG_SERVICE, TAG_TEAM, missing_or_wrong_tags
from tasks.audit import Observed, ProviderInventory

__all__ = ["detect_drift", "setting_differences"]

# Settings declared implicitly: Paved never declares a live resource archived.
_IMPLIED: dict[str, dict[str, Any]] = {"github_repository": {"archived": False}}


def _role_policies(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a role's spec implies about the policies it holds: the inline ones it names
    (their documents are the pipeline action's to converge), and the managed ones it
    lists (Paved's deploy roles: none). Compared as whole lists, so an extra policy,
    inline or attached, shows as a difference."""
    if "inline_policies" not in spec:
        return {}
    return {
        "inline_policy_names": sorted(spec["inline_policies"]),
        "attached_policy_arns": sorted(spec.get("attached_policy_arns", [])),
    }


# Settings derived from others a spec declares, by kind.
_DERIVED: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {"iam_role": _role_policies}


def _same(declared: Any, actual: Any) -> bool:
    if isinstance(declared, list) and isinstance(actual, list):
        return sorted(map(str, declared)) == sorted(map(str, actual))
    return bool(declared == actual)


def setting_differences(
    kind: str, declared: Mapping[str, Any], observed: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``{setting: {"declared": ..., "actual": ...}}`` for each declared setting the
    provider reports otherwise. Nested maps (topic configs, branch protection) compare
    key by key, and only the keys declared: extra provider defaults are not drift."""
    derive = _DERIVED.get(kind)
    spec = {**_IMPLIED.get(kind, {}), **(derive(declared) if derive else {}), **declared}
    differences: dict[str, dict[str, Any]] = {}
    for key, actual in observed.items():
        if key not in spec:
            continue
        wanted = spec[key]
        if isinstance(wanted, Mapping) and key == "configs":
            actual_map = actual if isinstance(actual, Mapping) else {}
            for name, value in wanted.items():
                got = actual_map.get(name)
                if got is None or str(got) != str(value):
                    differences[f"{key}.{name}"] = {"declared": str(value), "actual": got}
        elif isinstance(wanted, Mapping):
            if not isinstance(actual, Mapping):
                differences[key] = {"declared": dict(wanted), "actual": actual}
                continue
            for name, value in wanted.items():
                if not _same(value, actual.get(name)):
                    differences[f"{key}.{name}"] = {"declared": value, "actual": actual.get(name)}
        elif not _same(wanted, actual):
            differences[key] = {"declared": wanted, "actual": actual}
    return differences


def _summary(differences: Mapping[str, Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{key}: {d['actual']!r} (declared {d['declared']!r})" for key, d in differences.items()
    )


def _lookup(targets: Iterable[AuditTarget]) -> dict[tuple[str, str], AuditTarget]:
    index: dict[tuple[str, str], AuditTarget] = {}
    for target in targets:
        index.setdefault((target.provider, f"name:{target.kind}:{target.name}"), target)
        if target.external_id:
            index[(target.provider, f"id:{target.external_id}")] = target
    return index


def _match(index: Mapping[tuple[str, str], AuditTarget], item: Observed) -> AuditTarget | None:
    return index.get((item.provider, f"id:{item.external_id}")) or index.get(
        (item.provider, f"name:{item.kind}:{item.name}")
    )


def _suspected_owner(
    item: Observed, people: Answerable, fallback: str | None
) -> tuple[str | None, str | None, str | None]:
    """(service, team, person) the unmanaged ``item`` probably belongs to."""
    tags = item.tags or {}
    service = tags.get(TAG_SERVICE)
    if service in people.services:
        return service, None, people.services[service]
    team = tags.get(TAG_TEAM)
    if team and people.teams.get(team):
        return None, team, people.teams[team]
    tokens = [t for t in re.split(r"[-./:]", item.name) if t]
    for token in tokens:
        if token in people.services:
            return token, None, people.services[token]
    if tokens and tokens[0] in people.teams and people.teams[tokens[0]]:
        return None, tokens[0], people.teams[tokens[0]]
    return None, None, fallback


def detect_drift(
    *,
    targets: Iterable[AuditTarget],
    known: set[str],
    inventories: Iterable[ProviderInventory],
    orphans: Iterable[Orphan],
    people: Answerable,
    fallback_owner: str | None,
) -> list[DetectedDrift]:
    """Every difference between the registry (``targets``, ``known`` external ids and
    names, ``orphans``) and the providers' ``inventories``."""
    targets = list(targets)
    index = _lookup(targets)
    found: list[DetectedDrift] = []
    for inventory in inventories:
        seen: set[int] = set()
        for item in inventory.resources:
            target = _match(index, item)
            if target is None:
                if item.external_id in known or item.name in known:
                    continue
                service, team, owner = _suspected_owner(item, people, fallback_owner)
                found.append(
                    DetectedDrift(
                        drift_class=DriftClass.UNMANAGED,
                        provider=item.provider,
                        kind=item.kind,
                        identifier=item.external_id,
                        summary=f"{item.kind} {item.name} is not in the registry",
                        detail={"tags": item.tags, "settings": item.settings},
                        service=service,
                        team=team,
                        owner=owner,
                    )
                )
                continue
            seen.add(target.resource_id)
            if target.status is not ResourceStatus.ACTIVE:
                continue
            found.extend(_compare(target, item))
        listed = set(inventory.kinds)
        found.extend(
            DetectedDrift(
                drift_class=DriftClass.MISSING,
                provider=target.provider,
                kind=target.kind,
                identifier=target.external_id or target.name,
                summary=f"{target.kind} {target.name} is in the registry but gone from "
                f"{target.provider}",
                detail={"declared": target.spec},
                resource_id=target.resource_id,
                service=target.service,
                team=target.team,
                owner=target.answerable,
            )
            for target in targets
            if target.provider == inventory.provider
            and target.kind in listed
            and target.status is ResourceStatus.ACTIVE
            and target.resource_id not in seen
        )
    found.extend(_ownerless(orphans, people, fallback_owner))
    return found


def _compare(target: AuditTarget, item: Observed) -> list[DetectedDrift]:
    def drift(drift_class: DriftClass, summary: str, detail: dict[str, Any]) -> DetectedDrift:
        return DetectedDrift(
            drift_class=drift_class,
            provider=target.provider,
            kind=target.kind,
            identifier=target.external_id or target.name,
            summary=f"{target.kind} {target.name}: {summary}",
            detail=detail,
            resource_id=target.resource_id,
            service=target.service,
            team=target.team,
            owner=target.answerable,
        )

    found = []
    differences = setting_differences(target.kind, target.spec, item.settings)
    if differences:
        found.append(drift(DriftClass.CHANGED, _summary(differences), {"differences": differences}))
    if item.tags is not None and target.expected_tags:
        wrong = missing_or_wrong_tags(item.tags, target.expected_tags)
        if wrong:
            described = ", ".join(
                f"{key} missing" if actual is None else f"{key}={actual!r} (want {want!r})"
                for key, (actual, want) in wrong.items()
            )
            tags = {key: {"actual": a, "declared": w} for key, (a, w) in wrong.items()}
            found.append(drift(DriftClass.MISTAGGED, described, {"tags": tags}))
    return found


def _ownerless(
    orphans: Iterable[Orphan], people: Answerable, fallback: str | None
) -> list[DetectedDrift]:
    reasons: dict[tuple[str, str], list[Orphan]] = defaultdict(list)
    for orphan in orphans:
        reasons[(orphan.subject, orphan.name)].append(orphan)
    found = []
    for (subject, name), entries in reasons.items():
        first = entries[0]
        lead = people.teams.get(first.team) if first.team else None
        found.append(
            DetectedDrift(
                drift_class=DriftClass.OWNERLESS,
                provider=first.provider or "registry",
                kind=first.resource_kind or "service",
                identifier=name,
                summary=f"{subject} {name}: " + "; ".join(e.reason for e in entries),
                detail={
                    "reasons": [e.reason for e in entries],
                    "owner": first.owner,
                    "live_resources": first.resources,
                },
                service=first.service,
                team=first.team,
                owner=lead or fallback,
            )
        )
    return found
