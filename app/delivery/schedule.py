"""When to try a delivery again: the destination's schedule, each wait jittered by ±20%."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from app.domain.delivery import DEFAULT_SCHEDULE

_random = random.Random()
#: How far a wait may stray from its step, either way (a fraction of the step).
JITTER = 0.2


def retry_delay(
    attempts_made: int,
    *,
    schedule: tuple[int, ...] = DEFAULT_SCHEDULE,
    retry_after_seconds: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Return the seconds to wait after attempt n (1-based), or None: no attempt is left.

    The wait is drawn uniformly between 80% and 120% of the schedule's n-th step: the
    retries of many deliveries that failed together spread out, and the schedule still
    spans what it says on average (about three days for the default). A Retry-After from
    the answer wins when it is longer, up to the schedule's longest step.
    """
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    step = schedule[attempts_made - 1]
    jittered = (rng or _random).uniform(step * (1 - JITTER), step * (1 + JITTER))
    if retry_after_seconds is None:
        return jittered
    return max(jittered, min(float(retry_after_seconds), float(max(schedule))))


def next_attempt_at(
    attempts_made: int,
    last_attempt_at: datetime,
    *,
    schedule: tuple[int, ...] = DEFAULT_SCHEDULE,
    retry_after_seconds: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """Return when to try again after attempt n, or None: dead-letter the delivery."""
    delay = retry_delay(
        attempts_made, schedule=schedule, retry_after_seconds=retry_after_seconds, rng=rng
    )
    if delay is None:
        return None
    return last_attempt_at + timedelta(seconds=delay)
