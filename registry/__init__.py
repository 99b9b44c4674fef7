"""The registry: who is who, what exists, who answers for it, and what happened.

- ``registry.models``: the tables (SQLAlchemy 2.0, every relationship ``lazy="raise"``)
- ``registry.db``: ``make_engine``, ``session_scope``, ``migrate`` (Alembic, in code)
- ``registry.queries``: every query function (keyword-only, session first, no commits)
- ``registry.policy``: the naming and tagging policy every action applies
- ``registry.seed``: loading people and teams from ``sandbox/seed.yaml``
- ``registry.errors``: PolicyViolation, NotAuthorized, NotFound, Conflict

The registry imports no provider SDK and nothing from Prefect: flows call it, never the
other way round.
"""

__all__: list[str] = []
