"""One settings object for the API, the workers and the CLI (environment prefix ``OPTAAS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Runtime configuration.

    With neither ``database_url`` nor ``broker_url`` set, optaas runs embedded: SQLite and a
    filesystem broker under ``data_dir``, no server to install. Production sets both (PostgreSQL
    and Redis URLs).
    """

    model_config = SettingsConfigDict(env_prefix="OPTAAS_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("optaas-data")
    database_url: str | None = None
    broker_url: str | None = None

    # Auth: off only for a loopback-only embedded run (``optaas serve`` decides; see cli).
    auth_enabled: bool = True

    # Limits on what a request may ask for (413 beyond them).
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    max_problem_elements: int = Field(default=20_000_000, ge=1)
    max_metadata_bytes: int = Field(default=16 * 1024, ge=0)
    default_time_limit_s: float = Field(default=600.0, gt=0)
    max_time_limit_s: float = Field(default=3600.0, gt=0)

    # Execution and recovery.
    heartbeat_interval_s: float = Field(default=0.5, gt=0)
    lease_timeout_s: float = Field(default=30.0, gt=0)
    requeue_after_s: float = Field(default=30.0, gt=0)
    reconcile_interval_s: float = Field(default=5.0, gt=0)
    reconciler_enabled: bool = True
    max_attempts: int = Field(default=3, ge=1)
    worker_presence_ttl_s: float = Field(default=45.0, gt=0)
    min_trace_interval_s: float = Field(default=0.01, ge=0)
    suggestion_timeout_s: float = Field(default=30.0, gt=0)
    blas_threads: int = Field(default=1, ge=1)
    # Only the embedded filesystem broker polls (Redis blocks); 10 ms is ~100 directory listings
    # a second per worker, and halves the embedded submit->start latency measured at 50 ms.
    broker_polling_interval_s: float = Field(default=0.01, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.max_time_limit_s < self.default_time_limit_s:
            self.default_time_limit_s = self.max_time_limit_s
        if self.environment == "production":
            # The embedded defaults are for one machine; production must name its servers.
            missing = [
                name
                for name, value in (
                    ("database_url", self.database_url),
                    ("broker_url", self.broker_url),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"production needs OPTAAS_{'/OPTAAS_'.join(missing).upper()}")
            if not self.auth_enabled:
                raise ValueError("production cannot run with OPTAAS_AUTH_ENABLED=false")
        return self

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'optaas.sqlite3').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        # workers/file_broker.py: kombu's filesystem transport with atomic message files. It
        # ignores the host; naming one keeps kombu from warning.
        return self.broker_url or "optaasfs://localhost/"

    @property
    def broker_folder(self) -> Path:
        return (self.data_dir / "broker").resolve()


@lru_cache
def get_settings() -> Settings:
    return Settings()
