"""Posts and leads: recording submissions, creating leads, their timeline and outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.store.clock import utcnow
from app.store.db import database, is_postgresql
from app.store.errors import ConflictError
from app.store.models import Customer, Lead, LeadEvent, Post, RuleSetVersion, Source
from app.store.secrets import public_id
from app.store.storable import storable

REPROCESSABLE = ("pending", "unassigned", "uncategorized", "distribution_error")


def record_rejected_post(
    source: Source,
    request_id: str,
    payload: Any,
    headers: dict[str, str],
    status_code: int,
    errors: Any,
) -> Post:
    """Record a submission refused before any lead was created (whatever it held)."""
    with database.atomic():
        return Post.create(
            public_id=public_id("post"),
            tenant=source.tenant_id,
            source=source,
            request_id=request_id,
            payload=storable(payload),
            headers=storable(headers),
            accepted=False,
            status_code=status_code,
            errors=storable(errors),
        )


def accept_submission(
    source: Source,
    request_id: str,
    payload: Any,
    headers: dict[str, str],
    data: dict[str, Any],
    *,
    category: str,
    partner_id: str | None,
    is_test: bool,
    received_at: datetime,
    notes: tuple[str, ...] | list[str] = (),
    status_code: int = 201,
) -> tuple[Post, Lead]:
    """Record an accepted post and its pending lead, committed before any routing starts."""
    with database.atomic():
        post = Post.create(
            public_id=public_id("post"),
            tenant=source.tenant_id,
            source=source,
            received_at=received_at,
            request_id=request_id,
            payload=storable(payload),
            headers=storable(headers),
            accepted=True,
            status_code=status_code,
        )
        lead = Lead.create(
            public_id=public_id("lead"),
            tenant=source.tenant_id,
            source=source,
            post=post,
            category=category,
            data=data,
            partner_id=storable(partner_id),  # a header: any WSGI server may pass a NUL
            is_test=is_test,
            received_at=received_at,
            updated_at=received_at,
        )
        add_event(
            lead, "received", f"Received from source {source.name}.", {"post": post.public_id}
        )
        for note in notes:
            add_event(lead, "note", note)
    return post, lead


def add_event(lead: Lead, kind: str, message: str, details: Any = None) -> LeadEvent:
    """Append an entry to a lead's timeline."""
    return LeadEvent.create(lead=lead.id, kind=kind, message=message, details=details)


def add_events(lead: Lead, steps) -> None:
    """Append entries (objects with kind, message, details) to a lead's timeline at once."""
    rows = [
        {"lead": lead.id, "kind": s.kind, "message": s.message, "details": s.details} for s in steps
    ]
    if rows:
        # One INSERT: it runs while the routing transaction holds the customers' locks.
        LeadEvent.insert_many(rows).execute()


def lock_lead(lead: Lead, statuses: tuple[str, ...]) -> None:
    """Lock the lead's row for the routing transaction; refuse unless its status is allowed.

    Two routings of the same lead (an intake and a reprocess, or two reprocesses) thus
    run one after the other, and the second finds the lead already routed.
    """
    query = Lead.select(Lead.status).where(Lead.id == lead.id)
    if is_postgresql():
        query = query.for_update()
    status = query.scalar()
    if status not in statuses:
        raise ConflictError(f"lead {lead.public_id} is {status}: it cannot be routed now")


def save_outcome(
    lead: Lead,
    *,
    status: str,
    lead_type: str | None,
    version: RuleSetVersion | None,
    price_cents: int = 0,
    customer: Customer | None = None,
    bid_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Store where routing left the lead (inside the routing transaction)."""
    at = at or utcnow()
    (
        Lead.update(
            status=status,
            lead_type=lead_type,
            rule_version=version.id if version is not None else None,
            price_cents=price_cents,
            customer=customer.id if customer is not None else None,
            bid_id=bid_id,
            updated_at=at,
            assigned_at=at if status == "assigned" else None,
        )
        .where(Lead.id == lead.id)
        .execute()
    )


def mark_distribution_error(lead: Lead, post: Post | None, message: str, request_id: str) -> None:
    """Keep a lead whose routing failed, reprocessable later; the post answered 500."""
    with database.atomic():
        Lead.update(status="distribution_error", updated_at=utcnow()).where(
            Lead.id == lead.id
        ).execute()
        add_event(
            lead,
            "distribution_error",
            "Distribution failed; the lead can be reprocessed.",
            {"error": message, "request_id": request_id},
        )
        if post is not None:
            Post.update(status_code=500).where(Post.id == post.id).execute()


def get_lead(tenant, ref: str) -> Lead | None:
    """Return the tenant's lead with this public id or UUID, or None."""
    query = Lead.select().where(Lead.tenant == tenant)
    if ref.startswith("lead_"):
        return query.where(Lead.public_id == ref).first()
    try:
        return query.where(Lead.uuid == uuid.UUID(ref)).first()
    except ValueError:
        return None


def lead_events(lead: Lead) -> list[LeadEvent]:
    """Return a lead's timeline, oldest first."""
    return list(LeadEvent.select().where(LeadEvent.lead == lead).order_by(LeadEvent.id))
