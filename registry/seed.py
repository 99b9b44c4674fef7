"""Loading people and teams into the registry from a seed file (``sandbox/seed.yaml``).

One file seeds both the fake GitHub and the registry, so that they start out agreeing
about who is who. The registry reads the people and teams; the organization is parsed
too because the local stack's bootstrap needs its login and template repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from registry.people import upsert_person, upsert_team
from registry.policy import TEAM_SLUG_MAX, validate_name

__all__ = ["SeedData", "SeedOrganization", "SeedPerson", "SeedTeam", "apply_seed", "load_seed"]


class SeedOrganization(BaseModel):
    """The GitHub organization of the sandbox (what the fake GitHub serves)."""

    # Other parts of the stack read more of the organization than the registry does.
    model_config = ConfigDict(extra="ignore", frozen=True)

    login: str = Field(description="The organization's GitHub login, e.g. 'acme'.")
    name: str = Field(default="", description="Display name.")
    template_repository: str = Field(
        default="service-template", description="Repository new services are made from."
    )
    template_files: dict[str, str] = Field(
        default_factory=dict, description="Files of the template repository: path -> text."
    )


class SeedPerson(BaseModel):
    """A person: GitHub login, name and e-mail."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handle: str = Field(description="GitHub login.")
    name: str = Field(description="Full name.")
    email: str = Field(description="E-mail address.")
    active: bool = Field(default=True, description="False for someone who has left.")


class SeedTeam(BaseModel):
    """A team: slug, name, lead, members and cost center."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(description="DNS-safe team slug, e.g. 'payments'.")
    name: str = Field(description="Display name.")
    lead: str | None = Field(default=None, description="Handle of the team lead.")
    members: list[str] = Field(default_factory=list, description="Handles of the members.")
    cost_center: str = Field(description="Cost center the team's spending is booked to.")

    @model_validator(mode="after")
    def _slug_follows_policy(self) -> Self:
        validate_name(self.slug, what="team slug", max_length=TEAM_SLUG_MAX)
        return self


class SeedData(BaseModel):
    """A whole seed file: organization, people and teams."""

    # Top-level sections the registry does not know belong to other parts of the stack.
    model_config = ConfigDict(extra="ignore", frozen=True)

    organization: SeedOrganization
    people: list[SeedPerson] = Field(default_factory=list)
    teams: list[SeedTeam] = Field(default_factory=list)

    @model_validator(mode="after")
    def _people_are_known_once(self) -> Self:
        handles = [person.handle.lower() for person in self.people]
        duplicates = sorted({handle for handle in handles if handles.count(handle) > 1})
        if duplicates:
            raise ValueError(f"people listed twice: {', '.join(duplicates)}")
        slugs = [team.slug for team in self.teams]
        duplicate_slugs = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if duplicate_slugs:
            raise ValueError(f"teams listed twice: {', '.join(duplicate_slugs)}")
        known = set(handles)
        for team in self.teams:
            named = [*team.members, *([team.lead] if team.lead else [])]
            unknown = sorted({handle for handle in named if handle.lower() not in known})
            if unknown:
                raise ValueError(f"team {team.slug!r} names unknown people: {', '.join(unknown)}")
        return self


def load_seed(path: str | Path) -> SeedData:
    """Read and check a seed file; ValueError naming the file and the problem if invalid."""
    seed_path = Path(path)
    with seed_path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    try:
        return SeedData.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"seed file {seed_path} is not valid: {exc}") from exc


def apply_seed(session: Session, *, seed: SeedData) -> None:
    """Upsert the seed's people, then its teams with their exact membership.

    Idempotent. People and teams the seed does not mention are left alone.
    """
    for person in seed.people:
        upsert_person(
            session,
            handle=person.handle,
            name=person.name,
            email=person.email,
            active=person.active,
        )
    for team in seed.teams:
        upsert_team(
            session,
            slug=team.slug,
            name=team.name,
            lead=team.lead,
            cost_center=team.cost_center,
            members=team.members,
        )
