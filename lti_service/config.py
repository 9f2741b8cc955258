"""Typed settings read from ``LTI_SERVICE_*`` environment variables.

One object serves the web app and every CLI command, so a value is read and validated the
same way everywhere. The embedded default (``demo``) may generate its secret into the
instance folder; production (``serve``) must be given one explicitly.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """All settings of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="LTI_SERVICE_", extra="ignore")

    instance_dir: Path = Path("instance")
    frameworks_dir: Path | None = None  # Quality Development Tool frameworks (XML + XSD)
    database_url: str | None = None
    base_url: str | None = None
    secret_key: str | None = None
    redis_url: str | None = None
    demo_lms: bool = False
    json_logs: bool = False
    log_level: str = "INFO"
    # Number of trusted proxies in front of the app (X-Forwarded-For/Proto/Host/Prefix).
    proxy_fix: int = Field(default=0, ge=0, le=5)
    # Clock skew tolerated on iat/exp/nbf of platform tokens, in seconds.
    jwt_leeway: int = Field(default=5, ge=0, le=60)
    # How long a platform key set is trusted before it is fetched again, in seconds.
    jwks_cache_seconds: int = Field(default=3600, ge=10)
    # Minimum seconds between two forced re-fetches of one key set (unknown kid).
    jwks_refetch_interval: int = Field(default=10, ge=0)
    # How long a process trusts its copy of a registration's identity and state for logins
    # (launches always check the database), in seconds.
    registration_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Lifetime of an OIDC login (state + nonce), in seconds.
    login_lifetime: int = Field(default=600, ge=30)
    # Lifetime of the app session inside the LMS, in seconds.
    session_lifetime: int = Field(default=8 * 3600, ge=60)
    port: int = 5000
    # Dynamic Registration: activate new registrations at once (else they wait for approval).
    auto_activate: bool = False
    # Comma-separated issuers (fnmatch patterns, e.g. https://*.moodle.example.edu) whose
    # dynamic registrations are activated at once.
    trusted_issuers: str = ""
    # Name and description the tool gives itself when it registers with a platform.
    tool_name: str = "Quality Club"
    tool_description: str = (
        "Peer-learning clubs on quality in learning mobility: self-assessment with the "
        "Quality Development Tool, club meetings, action plans and critical-friend feedback."
    )

    # --- grade sync (AGS) worker and LMS service calls (AGS, NRPS) -------------------------
    # Score sends in flight at once per worker process (threads, each with its own
    # keep-alive connection); the latency limit is concurrency / round-trip time.
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    # Jobs claimed per database round trip.
    worker_batch_size: int = Field(default=100, ge=1, le=5000)
    # Failed sends of one score before it is parked as dead (re-queue: grades retry).
    worker_max_attempts: int = Field(default=12, ge=1, le=100)
    # Retry delay: min(cap, base * 2**(attempt-1)), with jitter (half to full); seconds.
    worker_backoff_base: float = Field(default=2.0, gt=0)
    worker_backoff_cap: float = Field(default=900.0, gt=0)
    # Seconds an idle worker waits before looking for due jobs again.
    worker_poll_interval: float = Field(default=1.0, gt=0)
    # Seconds a claimed job stays reserved for its worker; a killed worker's jobs are
    # claimed again after this (must exceed a send: timeout + one re-authentication).
    worker_lease_seconds: float = Field(default=120.0, gt=0)
    # Timeout of each HTTP request to an LMS (token, line items, scores, roster), seconds.
    service_timeout: float = Field(default=10.0, gt=0)
    # An access token is renewed this many seconds before its expires_in runs out.
    service_token_margin: float = Field(default=60.0, ge=0)
    # Course roster (NRPS): page size asked for, and how long a fetched roster is fresh.
    roster_page_size: int = Field(default=100, ge=1, le=1000)
    roster_cache_seconds: int = Field(default=3600, ge=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("LTI_SERVICE_BASE_URL must start with http:// or https://")
        return value

    @property
    def trusted_issuer_patterns(self) -> list[str]:
        return [p.strip() for p in self.trusted_issuers.split(",") if p.strip()]

    @property
    def instance_path(self) -> Path:
        return self.instance_dir.resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the common postgres:// and postgresql:// spellings; use psycopg 3.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{self.instance_path / 'lti_service.db'}"

    @property
    def effective_base_url(self) -> str:
        return self.base_url or f"http://127.0.0.1:{self.port}"

    def ensure_instance_dir(self) -> Path:
        path = self.instance_path
        path.mkdir(parents=True, exist_ok=True)
        return path

    def require_production_values(self) -> None:
        """``serve`` refuses to start without an explicit base URL and secret."""
        missing = [
            name
            for name, value in (("LTI_SERVICE_BASE_URL", self.base_url),
                                ("LTI_SERVICE_SECRET_KEY", self.secret_key))
            if not value
        ]
        if missing:
            raise ConfigError("missing required setting(s): " + ", ".join(missing))
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ConfigError("LTI_SERVICE_SECRET_KEY must be at least 32 characters")

    def resolve_secret_key(self) -> str:
        """The configured secret, else one generated once into the instance folder."""
        if self.secret_key:
            return self.secret_key
        path = self.ensure_instance_dir() / "secret_key"
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI flags) on top."""
    try:
        return Settings(**overrides)
    except Exception as exc:  # pydantic.ValidationError: turn into a readable message
        raise ConfigError(str(exc)) from exc
