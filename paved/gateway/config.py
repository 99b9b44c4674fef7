"""What the gateway needs to know: where Prefect is, how to reach GitHub, its secrets.

Read from `PAVED_GATEWAY_*` environment variables, so the same process runs beside the
local stack (`paved up` sets them) and in production (docs/deploy.md).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewayConfig"]


class GatewayConfig(BaseSettings):
    """The gateway's configuration."""

    model_config = SettingsConfigDict(env_prefix="PAVED_GATEWAY_", extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(default=4200, ge=1, le=65535, description="Port the gateway listens on.")
    prefect_url: str = Field(
        description="Prefect server's root URL (UI at /, API at /api), e.g. http://127.0.0.1:4201."
    )
    prefect_auth_string: SecretStr = Field(
        description="Prefect's PREFECT_SERVER_API_AUTH_STRING; the gateway sends it upstream."
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        description="GitHub's REST API: tokens are resolved with GET /user there.",
    )
    github_web_url: str = Field(
        default="https://github.com",
        description="Where GitHub's OAuth web flow lives (/login/oauth/authorize).",
    )
    oauth_client_id: str = Field(description="Client id of the gateway's GitHub OAuth app.")
    oauth_client_secret: SecretStr = Field(description="Its client secret.")
    session_key: SecretStr = Field(description="Signs the session cookies of signed-in browsers.")
    registry_url: SecretStr = Field(description="SQLAlchemy URL of Paved's registry.")
    admin_team: str = Field(
        default="platform",
        description="Slug of the team whose active members administer Paved.",
    )
    identity_ttl_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long GitHub's answer to who a token belongs to is trusted before it is "
        "asked again (the registry is read on every request).",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark session cookies Secure (set it when the gateway is served over HTTPS).",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Addresses (comma-separated, or `*`) of the proxy in front of the gateway "
        "whose X-Forwarded-Proto/-For it trusts: behind an Ingress that ends TLS, the sign-in "
        "callback URL must say https. Unset: no forwarded header is trusted (the local stack).",
    )
