"""The sandbox seed (`sandbox/seed.yaml`): reading it and checking its shape.

One file seeds both the fake GitHub and the registry, so that they start out agreeing
about who is who. The fake uses the organization (and its template repository and files),
the people (as GitHub users) and the teams (slug, name, lead, members).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SEED_PATH = Path(__file__).resolve().parent.parent / "seed.yaml"


class SeedError(ValueError):
    """The seed does not have the shape the fake needs; the message says what is wrong."""


def load_seed_file(path: str | Path = DEFAULT_SEED_PATH) -> dict[str, Any]:
    """Read and check a seed file."""
    with Path(path).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return check_seed(data)


def check_seed(data: Any) -> dict[str, Any]:
    """Check the parts of a seed the fake reads; return it unchanged or raise `SeedError`."""
    if not isinstance(data, Mapping):
        raise SeedError("the seed must be a mapping with 'organization', 'people' and 'teams'")
    organization = data.get("organization")
    if not isinstance(organization, Mapping) or not isinstance(organization.get("login"), str):
        raise SeedError("seed 'organization' must be a mapping with a 'login'")
    files = organization.get("template_files", {})
    if not isinstance(files, Mapping) or not all(
        isinstance(path, str) and isinstance(text, str) for path, text in files.items()
    ):
        raise SeedError("seed 'organization.template_files' must map file paths to text")
    people = data.get("people", [])
    if not isinstance(people, list) or not all(
        isinstance(person, Mapping) and isinstance(person.get("handle"), str) for person in people
    ):
        raise SeedError("seed 'people' must be a list of mappings, each with a 'handle'")
    handles = {person["handle"] for person in people}
    teams = data.get("teams", [])
    if not isinstance(teams, list):
        raise SeedError("seed 'teams' must be a list")
    for team in teams:
        if not isinstance(team, Mapping) or not isinstance(team.get("slug"), str):
            raise SeedError("each seed team must be a mapping with a 'slug'")
        members = list(team.get("members", []))
        lead = team.get("lead")
        unknown = sorted({*members, *([lead] if lead else [])} - handles)
        if unknown:
            raise SeedError(
                f"seed team {team['slug']!r} names unknown people: {', '.join(unknown)}"
            )
    return dict(data)
