"""Save Paved's blocks for production, once, and make the crash-detection automation.

The platform team runs it against the production Prefect server (docs/deploy.md, "The
blocks"), from a checkout or from Paved's image:

    python deploy/save_blocks.py

Everything comes from the environment, never from arguments (argv shows in `ps` and shell
history): the GitHub organization and its token, the AWS account (region, and a role to
assume or keys, or neither when the pod's identity is enough), the Kafka cluster (MSK or
Confluent Cloud: SASL_SSL with its mechanism, user and password), the registry's URL, and
where Prefect is. Every required variable is checked first; if one is missing it stops,
naming each, before it saves anything. Then it saves the four blocks the flows load
(blocks.GITHUB_BLOCK, AWS_BLOCK, KAFKA_BLOCK, REGISTRY_BLOCK) and calls
paved.automations.ensure_crash_detection(). Running it again overwrites them: harmless.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

__all__ = ["REQUIRED", "ProductionBlocks", "main", "missing_variables", "read_environment"]

# Variable -> what it is; all must be set (docs/deploy.md lists them with the optional ones).
REQUIRED: dict[str, str] = {
    "PREFECT_API_URL": "Prefect's API the blocks are saved to (e.g. http://prefect-server:4200/api)",
    "PREFECT_API_AUTH_STRING": "Prefect server's auth string (Secret prefect-auth)",
    "PAVED_GITHUB_ORGANIZATION": "login of the GitHub organization Paved manages",
    "PAVED_GITHUB_TOKEN": "token with admin rights on that organization",
    "PAVED_AWS_REGION": "AWS region Paved provisions into by default",
    "PAVED_KAFKA_BOOTSTRAP_SERVERS": "the cluster's SASL_SSL bootstrap servers (host:port,...)",
    "PAVED_KAFKA_SASL_MECHANISM": "PLAIN (Confluent Cloud), SCRAM-SHA-512 (MSK) or SCRAM-SHA-256",
    "PAVED_KAFKA_USERNAME": "SASL user name (Confluent Cloud: the API key)",
    "PAVED_KAFKA_PASSWORD": "SASL password (Confluent Cloud: the API secret)",
    "PAVED_REGISTRY_URL": "SQLAlchemy URL of the registry's PostgreSQL (postgresql+psycopg://...)",
}

SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ProductionBlocks(BaseModel):
    """What the production blocks are made of, read from the environment."""

    github_api_url: str = Field(
        description="GitHub REST API (GitHub Enterprise: https://HOST/api/v3)."
    )
    github_organization: str = Field(description="Organization Paved creates repositories in.")
    github_token: SecretStr = Field(description="Token with admin rights on the organization.")
    github_template_repository: str = Field(description="Golden-path template repository.")
    aws_region: str = Field(description="Default region; the first of the allowed regions.")
    aws_allowed_regions: list[str] = Field(description="Regions a request may ask for.")
    aws_role_arn: str | None = Field(description="Role the flow runs assume, if any.")
    aws_access_key_id: str | None = Field(description="Access key, when no pod identity is used.")
    aws_secret_access_key: SecretStr | None = Field(description="Its secret key.")
    aws_ecs_cluster: str = Field(description="Shared ECS cluster that services run in.")
    kafka_bootstrap_servers: str = Field(description="SASL_SSL bootstrap servers.")
    kafka_sasl_mechanism: SaslMechanism = Field(description="SASL mechanism of the cluster.")
    kafka_username: str = Field(description="SASL user name.")
    kafka_password: SecretStr = Field(description="SASL password.")
    kafka_replication_factor: int = Field(ge=1, description="Replication factor of new topics.")
    kafka_has_authorizer: bool = Field(description="Whether the cluster enforces ACLs.")
    registry_url: SecretStr = Field(description="SQLAlchemy URL of the registry.")
    admin_team: str = Field(description="Team whose active members administer Paved.")

    @model_validator(mode="after")
    def _keys_come_in_pairs(self) -> ProductionBlocks:
        # One half of a key pair would make boto3 fail at the first call, in a flow run.
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError(
                "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither "
                "(then the pod's identity, or PAVED_AWS_ROLE_ARN, is used)"
            )
        return self


def missing_variables(environ: Mapping[str, str]) -> list[str]:
    """The required variables that are unset or empty, in REQUIRED's order."""
    return [name for name in REQUIRED if not environ.get(name, "").strip()]


def _regions(environ: Mapping[str, str], default_region: str) -> list[str]:
    listed = [r.strip() for r in environ.get("PAVED_AWS_ALLOWED_REGIONS", "").split(",")]
    others = [region for region in listed if region and region != default_region]
    return [default_region, *others]


def read_environment(environ: Mapping[str, str]) -> ProductionBlocks:
    """The blocks' settings from `environ` (every REQUIRED variable must be set)."""
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    return ProductionBlocks.model_validate(
        {
            "github_api_url": environ.get("PAVED_GITHUB_API_URL", "https://api.github.com"),
            "github_organization": environ["PAVED_GITHUB_ORGANIZATION"],
            "github_token": environ["PAVED_GITHUB_TOKEN"],
            "github_template_repository": environ.get(
                "PAVED_GITHUB_TEMPLATE_REPOSITORY", "service-template"
            ),
            "aws_region": environ["PAVED_AWS_REGION"],
            "aws_allowed_regions": _regions(environ, environ["PAVED_AWS_REGION"]),
            "aws_role_arn": environ.get("PAVED_AWS_ROLE_ARN") or None,
            "aws_access_key_id": environ.get("AWS_ACCESS_KEY_ID") or None,
            "aws_secret_access_key": secret_key or None,
            "aws_ecs_cluster": environ.get("PAVED_AWS_ECS_CLUSTER", "paved-shared"),
            "kafka_bootstrap_servers": environ["PAVED_KAFKA_BOOTSTRAP_SERVERS"],
            "kafka_sasl_mechanism": environ["PAVED_KAFKA_SASL_MECHANISM"],
            "kafka_username": environ["PAVED_KAFKA_USERNAME"],
            "kafka_password": environ["PAVED_KAFKA_PASSWORD"],
            # Managed clusters keep three copies (MSK and Confluent Cloud both expect 3).
            "kafka_replication_factor": environ.get("PAVED_KAFKA_REPLICATION_FACTOR", "3"),
            "kafka_has_authorizer": environ.get("PAVED_KAFKA_HAS_AUTHORIZER", "true").lower()
            in {"1", "true", "yes"},
            "registry_url": environ["PAVED_REGISTRY_URL"],
            "admin_team": environ.get("PAVED_ADMIN_TEAM", "platform"),
        }
    )


def save_blocks(config: ProductionBlocks) -> None:
    """Save the four blocks the flows load, then make the crash-detection automation."""
    # Imported here, not at the top: a refusal (a missing variable) must not need Prefect,
    # and importing it costs seconds.
    from prefect_aws.credentials import AwsCredentials

    from blocks import (
        AWS_BLOCK,
        GITHUB_BLOCK,
        KAFKA_BLOCK,
        REGISTRY_BLOCK,
        AwsAccount,
        GitHubOrganization,
        KafkaCluster,
        RegistryDatabase,
        TopicDefaults,
    )
    from paved.automations import ensure_crash_detection

    GitHubOrganization(
        api_url=config.github_api_url,
        organization=config.github_organization,
        token=config.github_token,
        template_repository=config.github_template_repository,
    ).save(GITHUB_BLOCK, overwrite=True)
    _say(f"saved {GITHUB_BLOCK}: organization {config.github_organization}")
    AwsAccount(
        credentials=AwsCredentials(
            aws_access_key_id=config.aws_access_key_id,
            aws_secret_access_key=config.aws_secret_access_key,
            region_name=config.aws_region,
            assume_role_arn=config.aws_role_arn,
        ),
        allowed_regions=config.aws_allowed_regions,
        ecs_cluster=config.aws_ecs_cluster,
    ).save(AWS_BLOCK, overwrite=True)
    _say(f"saved {AWS_BLOCK}: regions {', '.join(config.aws_allowed_regions)}")
    KafkaCluster(
        bootstrap_servers=config.kafka_bootstrap_servers,
        security_protocol="SASL_SSL",
        sasl_mechanism=config.kafka_sasl_mechanism,
        sasl_username=config.kafka_username,
        sasl_password=config.kafka_password,
        has_authorizer=config.kafka_has_authorizer,
        topic_defaults=TopicDefaults(replication_factor=config.kafka_replication_factor),
    ).save(KAFKA_BLOCK, overwrite=True)
    _say(f"saved {KAFKA_BLOCK}: SASL_SSL {config.kafka_sasl_mechanism}")
    RegistryDatabase(url=config.registry_url, admin_team=config.admin_team).save(
        REGISTRY_BLOCK, overwrite=True
    )
    _say(f"saved {REGISTRY_BLOCK}")
    automation_id = ensure_crash_detection()
    _say(f"crash-detection automation {automation_id}")


def _say(message: str) -> None:
    print(message, flush=True)


def main(environ: Mapping[str, str] | None = None) -> int:
    """Check the environment, then save; 2 (and nothing saved) when a variable is missing."""
    environ = os.environ if environ is None else environ
    missing = missing_variables(environ)
    if missing:
        lines = [f"  {name}: {REQUIRED[name]}" for name in missing]
        print(
            "refusing to save Paved's blocks: these environment variables are not set "
            "(nothing was saved):\n" + "\n".join(lines),
            file=sys.stderr,
        )
        return 2
    try:
        config = read_environment(environ)
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(map(str, e['loc'])) or 'environment'}: {e['msg']}" for e in exc.errors()
        ]
        print(
            "refusing to save Paved's blocks: the environment is not valid "
            "(nothing was saved):\n" + "\n".join(problems),
            file=sys.stderr,
        )
        return 2
    save_blocks(config)
    return 0


if __name__ == "__main__":
    # The project's root first on the path: `python deploy/save_blocks.py` from a checkout.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
