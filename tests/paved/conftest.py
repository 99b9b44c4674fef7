"""Fixtures for the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.db import make_engine, migrate, session_scope
from registry.seed import apply_seed, load_seed

SEED_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "seed.yaml"


@pytest.fixture
def seeded_registry_env(tmp_path: Path) -> dict[str, str]:
    """PAVED_* variables naming a fresh SQLite registry, migrated and seeded from the
    sandbox's seed, and a home of its own."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            apply_seed(session, seed=load_seed(SEED_FILE))
    finally:
        engine.dispose()
    return {"PAVED_HOME": str(tmp_path / "home"), "PAVED_REGISTRY_URL": url}
