"""The one place that reads the environment. Read once at start-up, passed down.

Every setting has a safe embedded default so ``cds-service serve`` runs with no
configuration at all (development mode: SQLite under the working directory, no
trusted clients, loopback only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore")

    # Deployment
    environment: Literal["development", "production"] = "development"
    base_url: str | None = Field(
        default=None,
        description="Externally visible base URL (scheme://host[:port][/prefix]); JWT aud "
        "is checked against it. Defaults to the URL the request arrived on.",
    )
    hooks_dir: Path = PROJECT_ROOT / "hooks"
    fixtures_dir: Path = PROJECT_ROOT / "fixtures"

    # Persistence (feedback store, issued cards)
    database_url: str = "sqlite:///./prenatal-cds.sqlite3"
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # The service call waits at most this long for its cards to be recorded, then answers.
    database_record_timeout_seconds: float = Field(default=0.25, gt=0)

    # Caller authentication (CDS Hooks §5)
    clients_file: Path | None = None
    jwt_leeway_seconds: int = 30
    jwt_max_lifetime_seconds: int = 3600
    jwt_max_token_bytes: int = 8192
    jwks_cache_seconds: int = 300
    jwks_refetch_min_interval_seconds: int = 30
    jwks_fetch_timeout_seconds: float = 2.0

    # FHIR access when prefetch is missing
    fhir_request_timeout_seconds: float = 0.25
    fhir_deadline_seconds: float = 0.4
    fhir_max_pages: int = 5
    fhir_retries: int = 1
    allow_http_fhir_server: bool = True

    # HTTP limits and CORS
    max_body_bytes: int = 5 * 1024 * 1024
    cors_origins: list[str] = Field(default_factory=list)

    # Integrator tools
    sandbox_enabled: bool | None = None

    # Logging
    log_level: str = "INFO"
    log_json: bool = True

    # Metrics across worker processes: prometheus-client's own variable (no CDS_ prefix);
    # `cds-service serve --workers N` sets it to a fresh directory when N > 1.
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @property
    def sandbox_on(self) -> bool:
        """Sandbox page: on in development unless disabled, off in production unless enabled."""
        if self.sandbox_enabled is None:
            return self.development
        return self.sandbox_enabled


def load_settings() -> Settings:
    return Settings()
