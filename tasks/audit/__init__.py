"""What the providers hold, as the drift audit sees it: one inventory per provider.

Each provider module (`github_inventory`, `aws_inventory`, `kafka_inventory`) lists what
exists in batched, paginated calls and returns a `ProviderInventory`: every resource of
the kinds it covers, with the settings and tags the registry declares, normalised to the
registry's own spec keys so the audit can compare them field by field, and the number of
provider API calls it took (the audit's budget is one call per 50 resources).

The vocabulary is the registry's: `provider` is "github", "aws" or "kafka"; `kind` is the
registry's resource kind; `external_id` is what the registry stores for the resource
(ARN, `org/repo`, topic name). Tasks do not import the registry, so these are strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Observed", "ProviderInventory"]


class Observed(BaseModel):
    """One resource as its provider reports it."""

    provider: str = Field(description='"github", "aws" or "kafka".')
    kind: str = Field(description="Registry resource kind, e.g. s3_bucket, kafka_topic.")
    external_id: str = Field(description="ARN, org/repo or topic name: the registry's key.")
    name: str = Field(description="The provider's own short name (bucket, queue, repo, topic).")
    tags: dict[str, str] | None = Field(
        default=None,
        description="Tags as the provider holds them; None for kinds that carry no tags.",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Observed settings under the registry spec's keys (only those audited).",
    )


class ProviderInventory(BaseModel):
    """Everything one provider holds of the kinds listed, and what listing it cost."""

    provider: str = Field(description='"github", "aws" or "kafka".')
    kinds: list[str] = Field(
        description="Kinds listed completely: a registered resource of these kinds that is "
        "not among `resources` is missing."
    )
    resources: list[Observed] = Field(description="Every resource found of those kinds.")
    calls: int = Field(ge=0, description="Provider API calls made, retries included.")
    notes: list[str] = Field(
        default_factory=list,
        description="What could not be checked and why (shown in the audit's artifact).",
    )
