"""A lead's status: where routing (or a later action) left it."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Every status a lead can have (docs/api.md lists what each means)."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    POSTED = "posted"  # sold to a partner by an outbound post (ping-post stages)
    DUPLICATE = "duplicate"
    RETURNED = "returned"  # sold, then returned by (or for) its buyer: still sold
    UNASSIGNED = "unassigned"
    WITHHELD = "withheld"  # over the tenant's monthly threshold: routed when capacity frees
    MARKETPLACE = "marketplace"
    AUDIT = "audit"
    UNCATEGORIZED = "uncategorized"
    DISTRIBUTION_ERROR = "distribution_error"


#: Every status, in the order lists and choices show them.
STATUSES: tuple[str, ...] = tuple(status.value for status in Status)

#: A lead is sold when it is assigned, posted or returned: a returned lead was delivered,
#: its buyer chose to return it afterwards. Every count of sold leads uses this.
SOLD: tuple[Status, ...] = (Status.ASSIGNED, Status.POSTED, Status.RETURNED)
#: The pseudo-status lists and filters accept for "any of SOLD".
SOLD_FILTER = "sold"

#: What a lead list's status filter accepts: a status, or `sold`.
STATUS_FILTERS: tuple[str, ...] = (*STATUSES, SOLD_FILTER)


def statuses_of(status_filter: str) -> tuple[str, ...]:
    """Return the statuses a status filter keeps (`sold`: assigned, posted and returned)."""
    if status_filter == SOLD_FILTER:
        return tuple(status.value for status in SOLD)
    return (status_filter,)


def same_outcome(stored: str, replayed: str) -> bool:
    """Tell whether a replayed routing agrees with a lead's stored status: the same status,
    or both sold (a returned lead's routing sold it)."""
    return stored == replayed or (stored in SOLD and replayed in SOLD)


#: The statuses a lead may be routed again from (reprocess).
REPROCESSABLE: tuple[Status, ...] = (
    Status.PENDING,
    Status.UNASSIGNED,
    Status.UNCATEGORIZED,
    Status.DISTRIBUTION_ERROR,
)
