"""Kafka topic domains: a team's own slug, domains granted to it, never `paved`."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry.domains import grant_topic_domain, require_topic_domain, topic_domains
from registry.errors import Conflict, NotAuthorized, PolicyViolation


def test_a_team_uses_its_slug_and_what_it_is_granted(seeded: Session) -> None:
    assert topic_domains(seeded, team="payments") == ["payments"]
    grant_topic_domain(seeded, team="payments", domain="orders")
    grant_topic_domain(seeded, team="payments", domain="orders")  # idempotent

    assert topic_domains(seeded, team="payments") == ["payments", "orders"]
    assert require_topic_domain(seeded, team="payments", domain="orders") == "orders"
    assert require_topic_domain(seeded, team="payments", domain="payments") == "payments"


def test_another_teams_domain_is_refused_with_the_ones_it_may_use(seeded: Session) -> None:
    with pytest.raises(
        NotAuthorized,
        match=r"team 'payments' may not name topics `platform\.\*`: its topic domains are payments",
    ):
        require_topic_domain(seeded, team="payments", domain="platform")


def test_a_domain_belongs_to_one_team(seeded: Session) -> None:
    grant_topic_domain(seeded, team="payments", domain="orders")
    with pytest.raises(Conflict, match="granted to team 'payments'"):
        grant_topic_domain(seeded, team="platform", domain="orders")
    with pytest.raises(Conflict, match="is the slug of team 'platform'"):
        grant_topic_domain(seeded, team="payments", domain="platform")


def test_paved_is_reserved(seeded: Session) -> None:
    with pytest.raises(PolicyViolation, match=r"reserved: topics `paved\.\*` are Paved's own"):
        grant_topic_domain(seeded, team="platform", domain="paved")
    with pytest.raises(PolicyViolation, match="reserved"):
        require_topic_domain(seeded, team="platform", domain="paved")
