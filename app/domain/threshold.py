"""A tenant's monthly lead threshold: which leads count, in which month, and the withheld.

What counts (docs/leads.md, "Withheld leads"): an accepted lead that is not a test lead, when it is
routed (at intake, or when released from `withheld`), whatever its outcome except
`duplicate`; it counts once, in the calendar month (UTC) it was routed in. A lead over the
threshold is stored `withheld`, counts nothing, and is routed when capacity frees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.domain.routing import Decision, Step
from app.domain.status import Status


@dataclass(frozen=True)
class Quota:
    """A routing's claim on its tenant's threshold: one unit of `month`'s count."""

    tenant_id: int
    month: date  # the first day of the calendar month (UTC) the lead counts in
    threshold: int
    # A new lead also waits while older leads are withheld, so they are routed first (in
    # arrival order); a release does not (it routes the oldest withheld lead itself).
    behind_withheld: bool = True


def month_of(at: datetime) -> date:
    """Return the first day of the calendar month of a naive UTC (or aware) time."""
    return date(at.year, at.month, 1)


def counts(status: str) -> bool:
    """Tell whether a routed lead with this outcome counts against the threshold."""
    return status != Status.DUPLICATE


def withheld_decision(threshold: int) -> Decision:
    """Return the decision of a lead over its tenant's threshold: stored, not routed."""
    message = (
        f"Withheld: the monthly threshold of {threshold} lead(s) is reached, or older leads"
        " are withheld; it is routed automatically, in arrival order, once capacity frees."
    )
    return Decision(Status.WITHHELD, steps=(Step("withheld", message, {"threshold": threshold}),))


def release_reason(threshold: int | None, received_at: datetime, now: datetime) -> str:
    """Return why a withheld lead may be routed now: the capacity that freed."""
    if threshold is None:
        return "the monthly threshold was removed"
    if month_of(received_at) < month_of(now):
        return f"a new month began ({month_of(now):%Y-%m})"
    return f"the monthly threshold was raised to {threshold}"
