"""Audit reviews: the lead's lock, the check and the timeline entry of an approval or a
rejection; the reviews of listed leads."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from app.domain.errors import ConflictError
from app.domain.review import REJECTED, REVIEW_KINDS, Review
from app.domain.status import Status
from app.store.db import database, execute, is_postgresql
from app.store.models import Lead, LeadEvent

_DECISIONS = {kind: decision for decision, kind in REVIEW_KINDS.items()}


def record_review(
    lead: Lead, review: Review, message: str, then: Callable[[], object] | None = None
) -> None:
    """Lock the lead's row, refuse unless it is held for audit and not rejected, add the
    review to its timeline and run `then` (an approval's routing), in one transaction.

    Two reviews of one lead thus run one after the other: the second finds the lead routed
    (approved) or rejected, and is refused with a ConflictError; so is everything the first
    wrote if `then` raises.
    """
    with database.atomic():
        refusal = _lock_for_review(lead)
        if refusal is not None:
            raise refusal
        LeadEvent.create(
            lead=lead.id,
            at=review.at,
            kind=REVIEW_KINDS[review.decision],
            message=message,
            details={"by": review.by, "note": review.note},
        )
        if then is not None:
            then()


def review_refusal(lead: Lead, status: str, rejected: bool) -> ConflictError | None:
    """Return why a lead with this status (rejected or not) cannot be reviewed, or None."""
    if lead.deleted_at is not None:
        return ConflictError(f"lead {lead.public_id} was deleted: it cannot be reviewed")
    if rejected:
        return ConflictError(f"lead {lead.public_id} was rejected: it is never distributed")
    if status != Status.AUDIT:
        return ConflictError(
            f"lead {lead.public_id} is {status}: only a lead held for audit can be reviewed"
        )
    if lead.is_test:
        return ConflictError(
            f"lead {lead.public_id} is a test lead: its zip code sets its outcome, "
            "there is no audit to review"
        )
    return None


def _lock_for_review(lead: Lead) -> ConflictError | None:
    """Lock the lead's row and return why it cannot be reviewed now, or None."""
    lock = " FOR UPDATE" if is_postgresql() else ""  # SQLite: BEGIN IMMEDIATE locked it all
    row = execute(f"SELECT status FROM lead WHERE id = %s{lock}", [lead.id]).fetchone()
    # A second statement: on PostgreSQL it reads after the lock was granted, so it sees a
    # rejection committed by the review this one waited for.
    return review_refusal(lead, row[0], bool(rejected_leads([lead.id])))


def rejected_leads(lead_ids: Iterable[int]) -> set[int]:
    """Return the ids, among these leads', of those whose review rejected them."""
    ids = list(lead_ids)
    if not ids:
        return set()
    found = (
        LeadEvent.select(LeadEvent.lead)
        .where(LeadEvent.lead.in_(ids), LeadEvent.kind == REVIEW_KINDS[REJECTED])
        .distinct()
        .tuples()
    )
    return {lead_id for (lead_id,) in found}


def reviews_of(lead_ids: Iterable[int]) -> dict[int, Review]:
    """Return the last review of each of these leads that has one, by lead id."""
    ids = list(lead_ids)
    if not ids:
        return {}
    events = (
        LeadEvent.select()
        .where(LeadEvent.lead.in_(ids), LeadEvent.kind.in_(list(_DECISIONS)))
        .order_by(LeadEvent.id)
    )
    return {event.lead_id: review_of(event) for event in events}


def review_of(event: LeadEvent) -> Review:
    """Return the review a timeline entry records (its kind is a review's)."""
    details = event.details or {}
    return Review(_DECISIONS[event.kind], details.get("by", ""), event.at, details.get("note"))


def is_review(event: LeadEvent) -> bool:
    """Tell whether a timeline entry records a review."""
    return event.kind in _DECISIONS


def lead_status(lead: Lead) -> str:
    """Return the lead's stored status (a routing does not update the row object)."""
    return Lead.select(Lead.status).where(Lead.id == lead.id).scalar()


def unless_rejected(lead: Lead, then: Callable[[], object]) -> None:
    """Lock the lead's row and run `then` in one transaction, unless a review rejected the
    lead (ConflictError): a rejection that raced with `then` is seen after the lock."""
    lock = " FOR UPDATE" if is_postgresql() else ""
    with database.atomic():
        execute(f"SELECT status FROM lead WHERE id = %s{lock}", [lead.id])
        if rejected_leads([lead.id]):
            raise ConflictError(f"lead {lead.public_id} was rejected: it is never distributed")
        then()
