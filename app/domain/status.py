"""A lead's status: where routing (or a later action) left it."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Every status a lead can have (docs/api.md lists what each means)."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    DUPLICATE = "duplicate"
    UNASSIGNED = "unassigned"
    MARKETPLACE = "marketplace"
    AUDIT = "audit"
    UNCATEGORIZED = "uncategorized"
    DISTRIBUTION_ERROR = "distribution_error"


#: Every status, in the order lists and choices show them.
STATUSES: tuple[str, ...] = tuple(status.value for status in Status)

#: The statuses a lead may be routed again from (reprocess).
REPROCESSABLE: tuple[Status, ...] = (
    Status.PENDING,
    Status.UNASSIGNED,
    Status.UNCATEGORIZED,
    Status.DISTRIBUTION_ERROR,
)
