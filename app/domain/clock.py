"""Time as the store keeps it: naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime (what the columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)


def aware(moment: datetime) -> datetime:
    """Return a stored naive UTC datetime as an aware one."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def naive(moment: datetime) -> datetime:
    """Return an aware datetime as the naive UTC value to store."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def iso_utc(moment: datetime) -> str:
    """Return a time as ISO 8601 UTC with a Z, e.g. 2026-12-07T01:28:43Z (naive times are
    UTC; microseconds shown when it has some)."""
    return aware(moment).isoformat().replace("+00:00", "Z")
