"""Loading the sandbox seed into the registry, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import queries
from registry.models import Person, Team, TeamMembership
from registry.seed import SeedData, apply_seed, load_seed


def test_the_sandbox_seed_loads(seed_data: SeedData) -> None:
    assert seed_data.organization.login == "acme"
    assert seed_data.organization.template_repository == "service-template"
    assert "README.md" in seed_data.organization.template_files
    assert [p.handle for p in seed_data.people] == ["alice", "bob", "carol", "dave", "erin"]
    platform = seed_data.teams[0]
    assert (platform.slug, platform.lead, platform.members, platform.cost_center) == (
        "platform",
        "alice",
        ["alice", "bob"],
        "cc-100",
    )


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Person)) or 0,
        session.scalar(select(func.count()).select_from(Team)) or 0,
        session.scalar(select(func.count()).select_from(TeamMembership)) or 0,
    )


def test_apply_seed_is_idempotent(session: Session, seed_data: SeedData) -> None:
    apply_seed(session, seed=seed_data)
    first = _counts(session)
    apply_seed(session, seed=seed_data)
    assert _counts(session) == first == (5, 2, 4)
    assert queries.team_members(session, slug="payments") == ["carol", "dave"]


def test_apply_seed_updates_what_changed(session: Session, seed_data: SeedData) -> None:
    apply_seed(session, seed=seed_data)
    changed = seed_data.model_copy(
        update={
            "teams": [
                seed_data.teams[0].model_copy(update={"members": ["alice", "erin"]}),
                seed_data.teams[1],
            ]
        }
    )
    apply_seed(session, seed=changed)
    assert queries.team_members(session, slug="platform") == ["alice", "erin"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    return path


ORG = "organization: {login: acme}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("people: []\n", "organization"),
        (ORG + "people:\n  - {handle: a1, name: A, email: a@x, shoe: 42}\n", "shoe"),
        (
            ORG + "people:\n  - {handle: a1, name: A, email: a@x}\n"
            "teams:\n  - {slug: t1, name: T, lead: zed, members: [a1], cost_center: c}\n",
            "team 't1' names unknown people: zed",
        ),
        (
            ORG + "people:\n  - {handle: a1, name: A, email: a@x}\n"
            "  - {handle: A1, name: A, email: a@x}\n",
            "people listed twice: a1",
        ),
        (
            ORG + "teams:\n  - {slug: Team_1, name: T, members: [], cost_center: c}\n",
            "team slug 'Team_1'",
        ),
    ],
)
def test_invalid_seeds_are_explained(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ValueError, match=f"seed file {path}") as caught:
        load_seed(path)
    assert message in str(caught.value)


def test_unknown_top_level_sections_belong_to_others(tmp_path: Path) -> None:
    seed = load_seed(_write(tmp_path, ORG + "kafka: {topics: []}\n"))
    assert seed.people == [] and seed.teams == []
