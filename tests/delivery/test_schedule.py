"""The retry schedule: each step jittered by ±20%, Retry-After, dead after the last."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.delivery.schedule import next_attempt_at, retry_delay
from app.domain.delivery import DEFAULT_SCHEDULE

AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


class Extreme(random.Random):
    """A random source that always draws the lowest or the highest value."""

    def __init__(self, high: bool):
        super().__init__()
        self.high = high

    def random(self) -> float:
        return 1.0 if self.high else 0.0


@pytest.mark.parametrize("attempt", range(1, len(DEFAULT_SCHEDULE) + 1))
def test_each_wait_lies_within_a_fifth_of_its_step(attempt):
    step = DEFAULT_SCHEDULE[attempt - 1]
    rng = random.Random(attempt)
    waits = [retry_delay(attempt, rng=rng) for _ in range(500)]
    assert all(step * 0.8 <= wait <= step * 1.2 for wait in waits)
    assert min(waits) < step * 0.84 and max(waits) > step * 1.16  # spread over the range
    assert sum(waits) / len(waits) == pytest.approx(step, rel=0.03)  # the step on average
    assert retry_delay(attempt, rng=Extreme(high=True)) == pytest.approx(step * 1.2)
    assert retry_delay(attempt, rng=Extreme(high=False)) == pytest.approx(step * 0.8)


def test_the_default_schedule_spans_about_three_days():
    assert sum(DEFAULT_SCHEDULE) / 86400 == pytest.approx(2.95, abs=0.01)


def test_after_the_last_step_the_delivery_is_dead():
    last = len(DEFAULT_SCHEDULE)
    assert next_attempt_at(last, AT) is not None
    assert next_attempt_at(last + 1, AT) is None
    assert retry_delay(0) is None
    assert next_attempt_at(3, AT, schedule=(10, 20)) is None


def test_a_destination_schedule_replaces_the_default():
    high = Extreme(high=True)
    assert next_attempt_at(1, AT, schedule=(10, 20), rng=high) == AT + timedelta(seconds=12)
    assert next_attempt_at(2, AT, schedule=(10, 20), rng=high) == AT + timedelta(seconds=24)


def test_retry_after_wins_when_longer():
    low, high = Extreme(high=False), Extreme(high=True)
    assert retry_delay(1, retry_after_seconds=120, rng=high) == 120  # step 5 s
    assert retry_delay(5, retry_after_seconds=120, rng=high) == 2160  # the step is longer
    assert retry_delay(2, retry_after_seconds=120, rng=low) == 120  # step 30 s


def test_retry_after_is_capped_at_the_longest_step():
    longest = max(DEFAULT_SCHEDULE)
    assert retry_delay(1, retry_after_seconds=10 * 86400) == longest
    assert retry_delay(len(DEFAULT_SCHEDULE) + 1, retry_after_seconds=60) is None
