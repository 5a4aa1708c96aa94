"""A lead's return: the reasons a tenant offers, a customer's return policy (a window after
the sale, a monthly limit) and the pure decisions on them. docs/leads.md ("Returns")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.errors import InvalidError

#: The reasons a tenant offers until it sets its own.
DEFAULT_REASONS: tuple[str, ...] = (
    "Invalid phone",
    "Invalid email",
    "Wrong person or never asked",
    "Duplicate",
    "Outside service area",
    "Other",
)
#: The longest reason, and the most reasons a tenant may offer.
REASON_CHARS = 100
MAX_REASONS = 50
#: The longest note a return keeps.
NOTE_CHARS = 500
#: A customer's policy until it is changed: 7 days, at most 15% of the month's leads.
DEFAULT_WINDOW_DAYS = 7
DEFAULT_LIMIT_PERCENT = 15
MAX_WINDOW_DAYS = 365
#: The timeline entry of a return; the wallet entry of its credit.
RETURNED = "returned"
CREDIT = "credit"
#: How long each cap/budget period lasts at most (a day of a DST change lasts 25 hours):
#: a counter row older than that before the sale is not the sale's.
PERIOD_SPANS: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(hours=25),
    "week": timedelta(days=7, hours=1),
    "month": timedelta(days=31, hours=1),
}


@dataclass(frozen=True)
class ReturnPolicy:
    """A customer's return policy: days after the sale, and a percent of the month's leads
    (None: no limit)."""

    window_days: int = DEFAULT_WINDOW_DAYS
    limit_percent: int | None = DEFAULT_LIMIT_PERCENT


@dataclass(frozen=True)
class Breach:
    """Which rule of the policy a return breaks (`window` or `limit`), with the figures."""

    rule: str
    message: str


def clean_reasons(reasons: list[str]) -> list[str]:
    """Return a tenant's reasons stripped, in order; refuse none, blanks, repeats (whatever
    the case), too long or too many (InvalidError on `reasons`)."""
    cleaned = [" ".join(str(reason).split()) for reason in reasons]
    problems = []
    if not cleaned:
        problems.append("give at least one reason")
    if len(cleaned) > MAX_REASONS:
        problems.append(f"at most {MAX_REASONS} reasons")
    if any(not reason for reason in cleaned):
        problems.append("a reason cannot be blank")
    problems += [
        f"{reason!r} is longer than {REASON_CHARS} characters"
        for reason in cleaned
        if len(reason) > REASON_CHARS
    ]
    seen: set[str] = set()
    for reason in cleaned:
        if reason.casefold() in seen:
            problems.append(f"{reason!r} is given twice")
        seen.add(reason.casefold())
    if problems:
        raise InvalidError("the return reasons are invalid", {"reasons": problems})
    return cleaned


def match_reason(reasons: list[str], given: str | None) -> str:
    """Return the tenant's reason that `given` names (its text, any case and spacing);
    InvalidError on `reason` listing the allowed ones otherwise."""
    wanted = " ".join((given or "").split()).casefold()
    for reason in reasons:
        if reason.casefold() == wanted:
            return reason
    allowed = ", ".join(repr(reason) for reason in reasons)
    problem = "a return needs a reason" if not wanted else f"{given!r} is not a return reason"
    raise InvalidError(f"{problem}: one of {allowed}", {"reason": [f"one of {allowed}"]})


def clean_note(note: str | None) -> str | None:
    """Return a return's note stripped (None if blank); refuse one too long."""
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_CHARS:
        raise InvalidError("the note is too long", {"note": [f"at most {NOTE_CHARS} characters"]})
    return note


def check_policy_values(window_days: int | None, limit_percent: int | None) -> None:
    """Refuse a window outside 0..365 days or a limit outside 0..100 percent."""
    errors = {}
    if window_days is not None and not 0 <= window_days <= MAX_WINDOW_DAYS:
        errors["return_window_days"] = [f"from 0 to {MAX_WINDOW_DAYS} days"]
    if limit_percent is not None and not 0 <= limit_percent <= 100:
        errors["return_limit_percent"] = ["from 0 to 100 percent, or none for no limit"]
    if errors:
        raise InvalidError("the return policy is invalid", errors)


def month_start(at: datetime) -> datetime:
    """Return the start of the calendar month (UTC, naive) containing `at`."""
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    """Return the start of the month after the one starting at `start`."""
    return (start + timedelta(days=32)).replace(day=1)


def allowed_returns(limit_percent: int, sold: int) -> int:
    """Return how many of `sold` leads a month may be returned: floor(percent × sold),
    at least 1 unless the percent is 0."""
    if limit_percent <= 0:
        return 0
    return max(1, limit_percent * sold // 100)


def policy_breach(
    policy: ReturnPolicy,
    *,
    customer: str,
    sold_at: datetime,
    now: datetime,
    returned_this_month: int,
    sold_this_month: int,
) -> Breach | None:
    """Return the rule a return made `now` breaks, or None: the window (at most
    `window_days` × 24 hours after the sale), then the limit (this return included, the
    customer's returns made this calendar month, UTC, against `allowed_returns` of the
    leads sold to it this month)."""
    age = now - sold_at
    if age > timedelta(days=policy.window_days):
        days = age.total_seconds() / 86400
        return Breach(
            "window",
            f"the lead was sold {days:.1f} days ago ({sold_at:%Y-%m-%d %H:%M} UTC): customer "
            f"{customer}'s return window is {policy.window_days} days",
        )
    if policy.limit_percent is None:
        return None
    allowed = allowed_returns(policy.limit_percent, sold_this_month)
    if returned_this_month + 1 > allowed:
        return Breach(
            "limit",
            f"customer {customer} has returned {returned_this_month} of the "
            f"{sold_this_month} leads sold to it in {now:%B %Y} (UTC): its limit of "
            f"{policy.limit_percent}% allows {allowed}",
        )
    return None
