"""Editing a lead's data and reclassifying it: which leads may be edited, what an edit may
name, the changes it makes and the timeline entries that record them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.errors import ConflictError
from app.domain.partners import IN_FLIGHT
from app.domain.status import SOLD, Status

#: The timeline entries of an edit and of a reclassification.
EDITED, RECLASSIFIED = "edited", "reclassified"
#: A lead may be edited unless it was sold (or deleted): every other status.
EDITABLE: tuple[Status, ...] = tuple(status for status in Status if status not in SOLD)
#: What a lead holds beside its data: an edit naming one of these is refused (a field the
#: category declares under such a name is data, and editable).
METADATA = frozenset(
    {
        "id",
        "public_id",
        "uuid",
        "tenant",
        "source",
        "post",
        "category",
        "lead_type",
        "status",
        "price",
        "price_cents",
        "customer",
        "bid_id",
        "partner_id",
        "is_test",
        "received_at",
        "updated_at",
        "assigned_at",
        "deleted",
        "deleted_at",
        "rule_version",
        "review",
        "timeline",
        "deliveries",
        "data",
    }
)
#: The most fields one edit names.
MAX_CHANGES = 200


@dataclass(frozen=True)
class Change:
    """One field's change: its value before and after (None: absent)."""

    old: Any
    new: Any


@dataclass(frozen=True)
class Reclassification:
    """A lead classified against the active rules: its lead type before and after.

    The category is the source's and never changes; `applied` tells whether the new lead
    type was written (a dry classification, or no change, writes nothing).
    """

    category: str
    old_lead_type: str | None
    new_lead_type: str | None
    applied: bool

    @property
    def changed(self) -> bool:
        return self.old_lead_type != self.new_lead_type


def edit_refusal(
    public_id: str, status: str, deleted: bool, calling: bool = False
) -> ConflictError | None:
    """Return why a lead with this status (deleted or not; its plan `calling` partners for
    it) cannot be edited, or None."""
    if deleted:
        return ConflictError(f"lead {public_id} was deleted: it cannot be edited")
    if calling:
        return ConflictError(f"lead {public_id} is pending: {IN_FLIGHT}")
    if status not in EDITABLE:
        return ConflictError(
            f"lead {public_id} is {status}: a sold lead (assigned, posted or returned) "
            "cannot be edited"
        )
    return None


def changes_between(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Change]:
    """Return the fields whose value differs between two versions of a lead's data, by name."""
    changed = {}
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        # 1 == True and 1 == 1.0 in Python: a change of JSON type is a change too.
        if before != after or type(before) is not type(after):
            changed[name] = Change(before, after)
    return changed


def edit_message(by: str, changes: Mapping[str, Change]) -> str:
    """Return the timeline message of an edit."""
    return f"Edited by {by}: {', '.join(changes)}."


def reclassify_message(by: str, old: str | None, new: str | None) -> str:
    """Return the timeline message of a reclassification."""
    return f"Reclassified by {by}: {old or 'none'} -> {new or 'none'}."
