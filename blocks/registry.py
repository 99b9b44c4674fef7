"""Where the registry database lives."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

__all__ = ["RegistryDatabase"]


class RegistryDatabase(Block):
    """The registry's database: SQLite for the local stack, PostgreSQL in production.

    The URL is secret because a PostgreSQL URL carries a password.
    """

    _block_type_name = "Paved Registry Database"
    _block_type_slug = "paved-registry-database"
    _documentation_url = "https://docs.sqlalchemy.org/en/20/core/engines.html#database-urls"  # type: ignore[assignment]
    _code_example = """
```python
from blocks.registry import RegistryDatabase

registry_database = RegistryDatabase.load("BLOCK_NAME")
url = registry_database.url.get_secret_value()
admins = registry_database.admin_team
```
"""

    url: SecretStr = Field(
        description="SQLAlchemy URL of the registry, e.g. sqlite:////srv/paved/registry.db."
    )
    admin_team: str = Field(
        default="platform",
        description=(
            "Slug of the registry team whose active members are Paved's admins: they approve "
            "when the change approver and the team lead both asked themselves."
        ),
    )
