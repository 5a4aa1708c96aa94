"""Rate limits of the intake: per source API key, and failed authentications per client IP.

Counting is the `limits` library's (the engine of flask-limiter), with a moving window: at
most N requests in any 60 seconds. With SLUICE_REDIS_URL the counters live in Redis, shared
by every worker process and every instance; without it they live in this process's memory,
which is right for one process only (docs/operations.md).

flask-limiter's decorators count before the view runs, but the key here is the source, known
only once the request is authenticated, and a refusal must be recorded as a post and shaped
in the source's API style; so the view asks this module directly.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, Request, current_app
from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.api.forwarded import client_ip

log = logging.getLogger("sluice.ratelimit")
EXTENSION = "sluice_rate_limiter"
REDIS_TIMEOUT = 1.0  # seconds; a slow Redis must not hold leads up


@dataclass(frozen=True)
class LimitState:
    """Where a client stands against a limit after this request."""

    limit: int
    remaining: int
    reset_at: float  # epoch seconds when a slot frees up
    allowed: bool

    def headers(self) -> dict[str, str]:
        """Return the X-RateLimit-* headers (Reset in epoch seconds, as GitHub and
        flask-limiter send it)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }

    def retry_after(self, now: float) -> int:
        """Return whole seconds until a request may succeed (at least 1)."""
        return max(1, math.ceil(self.reset_at - now))


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage, its expired entries dropped at most once a second.

    The library's own sweep runs on a timer thread started 10 ms after a request whenever
    none is pending: under steady traffic, a new thread for nearly every request (about a
    millisecond of a worker's time each). The windows' counts never depended on the sweep,
    which only frees memory; here it runs on the request's thread, once a second at most.
    """

    SWEEP_SECONDS = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's timer
        now = time.time()  # the library's clock
        if now >= self.next_sweep:
            self.next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()


class RateLimiter:
    """Moving-window counters in Redis (shared) or memory (this process)."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        if redis_url:
            self.storage = storage_from_string(
                redis_url,
                key_prefix=prefix,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
        else:
            self.storage = SweptMemoryStorage(wrap_exceptions=True)
        self.shared = bool(redis_url)
        self.strategy = MovingWindowRateLimiter(self.storage)

    def hit(self, scope: str, identity: str, per_minute: int) -> LimitState | None:
        """Count one request of `identity`; return its state, or None if the store is down.

        A store that cannot be reached lets requests through (leads matter more than
        limits) and logs the error.
        """
        item = RateLimitItemPerMinute(per_minute)
        try:
            allowed = self.strategy.hit(item, scope, identity)
            stats = self.strategy.get_window_stats(item, scope, identity)
        except StorageError as error:
            log.error("rate limit store unavailable", extra={"error": str(error.storage_error)})
            return None
        return LimitState(per_minute, stats.remaining, stats.reset_time, allowed)


def init_app(app: Flask) -> RateLimiter:
    """Create the app's rate limiter from its settings."""
    for name in ("RATE_LIMIT", "AUTH_FAILURE_LIMIT"):
        if int(app.config[name]) < 1:
            raise ValueError(f"SLUICE_{name} must be at least 1 request per minute")
    limiter = RateLimiter(app.config.get("REDIS_URL"), app.config["RATE_LIMIT_PREFIX"])
    app.extensions[EXTENSION] = limiter
    return limiter


def limiter() -> RateLimiter:
    """Return the current app's rate limiter."""
    return current_app.extensions[EXTENSION]


def hit_source(source) -> LimitState | None:
    """Count a request of an authenticated source against its limit."""
    per_minute = source.rate_limit or int(current_app.config["RATE_LIMIT"])
    return limiter().hit("source", source.public_id, per_minute)


def hit_auth_failure(request: Request) -> LimitState | None:
    """Count a failed authentication against the client IP's limit."""
    per_minute = int(current_app.config["AUTH_FAILURE_LIMIT"])
    return limiter().hit("auth-failure", client_ip(request), per_minute)
