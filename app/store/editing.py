"""Editing and reclassifying a lead: its row locked, the change decided on what the lead
holds then, and its data, lead type and timeline written, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.clock import utcnow
from app.domain.editing import edit_refusal
from app.domain.errors import NotFoundError
from app.domain.partners import calls_in_flight
from app.store.db import database, execute, is_postgresql
from app.store.models import Lead, LeadEvent


@dataclass(frozen=True)
class Locked:
    """What a locked lead holds now: its status, data and lead type."""

    status: str
    data: dict[str, Any]
    lead_type: str | None


@dataclass(frozen=True)
class Entry:
    """A timeline entry to write with a lead's change."""

    kind: str
    message: str
    details: dict[str, Any]


@dataclass(frozen=True)
class LeadChange:
    """What to write to a locked lead: its new data and lead type, and its timeline entries."""

    data: dict[str, Any]
    lead_type: str | None
    entries: Sequence[Entry] = field(default_factory=tuple)
    data_changed: bool = False


def change_lead(
    lead: Lead,
    decide: Callable[[Locked], LeadChange | None],
    at: datetime,
    then: Callable[[], object] | None = None,
) -> LeadChange | None:
    """Lock the lead's row, refuse unless it may be edited (ConflictError), let `decide`
    say what changes from what it holds now, and write that: its data, its lead type, its
    timeline entries, then `then()` (the analysis projection's row) when its data changed;
    all in one transaction. `decide` answers None for no change: nothing is written.

    An edit and a routing of the same lead (a reprocess, an approval, a claim) thus run one
    after the other: an edit that waited for a sale finds the lead sold and is refused, and
    an edit never overwrites another edit it did not see.
    """
    with database.atomic():
        locked = _lock_for_edit(lead)
        change = decide(locked)
        if change is None:
            return None
        values: dict[Any, Any] = {Lead.lead_type: change.lead_type, Lead.updated_at: at}
        if change.data_changed:
            values[Lead.data] = change.data
        Lead.update(values).where(Lead.id == lead.id).execute()
        if change.entries:
            LeadEvent.insert_many(
                [
                    {
                        "lead": lead.id,
                        "at": at,
                        "kind": entry.kind,
                        "message": entry.message,
                        "details": entry.details,
                    }
                    for entry in change.entries
                ]
            ).execute()
        if change.data_changed and then is not None:
            then()
    return change


def _lock_for_edit(lead: Lead) -> Locked:
    """Lock the lead's row and return what it holds; ConflictError if it cannot be edited."""
    lock = " FOR UPDATE" if is_postgresql() else ""  # SQLite: BEGIN IMMEDIATE locked it all
    row = execute(
        f"SELECT status, deleted_at, lead_type, updated_at FROM lead WHERE id = %s{lock}",
        [lead.id],
    ).fetchone()
    if row is None:  # a lead's row goes only with its tenant
        raise NotFoundError(f"no lead {lead.public_id!r}")
    updated_at = Lead._meta.fields["updated_at"].python_value(row[3])
    calling = calls_in_flight(row[0], updated_at, utcnow())
    refusal = edit_refusal(lead.public_id, row[0], row[1] is not None, calling)
    if refusal is not None:
        raise refusal
    # Read through the model after the lock: the JSON column comes back as the model
    # converts it on either database.
    data = Lead.select(Lead.data).where(Lead.id == lead.id).scalar()
    return Locked(row[0], dict(data or {}), row[2])
