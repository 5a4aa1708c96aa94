"""Time as bidding sees it: the current period of a cap or budget, and whether a schedule
is open, each remembered until time leaves it.

Both remember one immutable tuple, replaced whole: a router shared by threads reads either
the old state or the new one, never half of each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.dsl.ruleset import Bid, Schedule

_SPAN = {  # from a period's start, a moment surely inside the next period
    "hour": timedelta(minutes=90),
    "day": timedelta(hours=36),
    "week": timedelta(days=7, hours=12),
    "month": timedelta(days=32),
}


class PeriodClock:
    """The current hour, day, week or month of a bid's time zone (a cap's or budget's)."""

    __slots__ = ("bid", "period", "span")

    def __init__(self, bid: Bid, period: str) -> None:
        self.bid = bid  # any bid of the zone: the zone is what counts
        self.period = period
        #: (start, end) in epoch seconds, and the start as naive UTC (what counters are keyed by)
        self.span: tuple[float, float, datetime] = (0.0, 0.0, datetime.min)

    def at(self, at: float) -> tuple[float, float, datetime]:
        """Return the span of the period containing `at` (epoch seconds)."""
        span = self.span
        if span[0] <= at < span[1]:
            return span
        start = self.bid.period_start(self.period, datetime.fromtimestamp(at, UTC))
        end = self.bid.period_start(self.period, start + _SPAN[self.period])
        span = (start.timestamp(), end.timestamp(), start.replace(tzinfo=None))
        self.span = span
        return span


class OpenHours:
    """Whether a schedule is open, per quarter hour of UTC when the schedule opens and closes
    on quarter hours (08:00..20:00), else per minute (windows are whole minutes)."""

    __slots__ = ("schedule", "seconds", "state")

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        quarters = all(t.minute % 15 == 0 and not t.second for t in (schedule.start, schedule.end))
        self.seconds = 900 if quarters else 60
        #: (span number, open? or None: an offset change inside the span, look by the minute)
        self.state: tuple[int | None, bool | None] = (None, None)

    def is_open(self, at: float) -> bool:
        """Tell whether the schedule is open at `at` (epoch seconds)."""
        seconds = self.seconds
        span = int(at // seconds)
        state = self.state
        if state[0] != span:
            state = (span, self._constant_over(span * seconds, seconds))
            self.state = state
        if state[1] is None:
            return self.schedule.is_open(datetime.fromtimestamp(int(at // 60) * 60, UTC))
        return state[1]

    def _constant_over(self, start: int, seconds: int) -> bool | None:
        """Return whether the schedule is open throughout [start, start + seconds), or None
        when it may change inside: a quarter-hour window is constant over a quarter hour of
        UTC when the zone's offset is a whole number of quarter hours and does not change
        inside (most offset changes fall on quarter hours; a few, like St. John's at 00:01,
        do not)."""
        schedule = self.schedule
        at = datetime.fromtimestamp(start, UTC)
        if seconds > 60:
            zone = ZoneInfo(schedule.timezone)
            offset = at.astimezone(zone).utcoffset()
            end = datetime.fromtimestamp(start + seconds - 1, UTC).astimezone(zone).utcoffset()
            if offset is None or offset != end or offset.total_seconds() % seconds:
                return None
        return schedule.is_open(at)
