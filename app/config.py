"""Configuration from the environment: every setting is a `SLUICE_*` variable."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///instance/sluice.sqlite3",
    "MAX_BODY_BYTES": 1024 * 1024,
    "PUBLIC_URL": None,  # unset: the request's own URL (app/api/forwarded.py)
    "LOG_LEVEL": "INFO",
    "RULES_DIR": None,
    "TEST_PRICE": Decimal("45.00"),
    # Rate limits (docs/operations.md): kept in Redis when REDIS_URL is set, else in memory.
    "REDIS_URL": None,
    "RATE_LIMIT": 60,  # requests per minute per source API key, unless the source says
    "AUTH_FAILURE_LIMIT": 20,  # failed authentications per minute per client IP
    "TRUSTED_PROXIES": 0,  # proxies in front whose X-Forwarded-For entry is trusted
    "RATE_LIMIT_PREFIX": "sluice",  # Redis key prefix: several deployments can share one Redis
    # Fernet key(s), comma-separated, the first encrypting: destinations' secrets at rest.
    "SECRET_KEY": None,
    # Delivery workers (docs/delivery.md): attempts in flight per worker, and when a
    # destination that keeps failing is paused.
    "WORKER_CONCURRENCY": 32,
    "PAUSE_AFTER_FAILURES": 20,
    "PAUSE_AFTER_HOURS": 24.0,
}

# Settings read from SLUICE_<NAME>, with the type they are converted to.
ENVIRONMENT = {
    "DATABASE_URL": str,
    "MAX_BODY_BYTES": int,
    "PUBLIC_URL": str,
    "LOG_LEVEL": str,
    "RULES_DIR": str,
    "REDIS_URL": str,
    "RATE_LIMIT": int,
    "AUTH_FAILURE_LIMIT": int,
    "TRUSTED_PROXIES": int,
    "RATE_LIMIT_PREFIX": str,
    "SECRET_KEY": str,
    "WORKER_CONCURRENCY": int,
    "PAUSE_AFTER_FAILURES": int,
    "PAUSE_AFTER_HOURS": float,
}


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings: defaults, then `SLUICE_*` environment variables, then overrides."""
    config = dict(DEFAULTS)
    for name, convert in ENVIRONMENT.items():
        raw = os.environ.get(f"SLUICE_{name}")
        if raw is not None and raw != "":
            try:
                config[name] = convert(raw)
            except ValueError:
                raise ValueError(f"SLUICE_{name} must be {convert.__name__}, got {raw!r}") from None
    config.update(overrides or {})
    return config
