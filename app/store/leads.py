"""Posts and leads: recording submissions, creating leads, their timeline and outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.store.clock import utcnow
from app.store.db import (
    columns,
    database,
    defer,
    execute,
    execute_together,
    is_postgresql,
    repeat,
    sqlstate,
)
from app.store.errors import ConflictError
from app.store.models import Lead, LeadEvent, Post, Source
from app.store.secrets import public_id
from app.store.storable import storable

REPROCESSABLE = ("pending", "unassigned", "uncategorized", "distribution_error")
NOT_ROUTABLE = "SL423"  # SQLSTATE of sluice_not_routable() (migration 31)


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
    post = Post(
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
    lead = Lead(
        public_id=public_id("lead"),
        tenant=source.tenant_id,
        source=source,
        category=category,
        data=data,
        partner_id=storable(partner_id),  # a header: any WSGI server may pass a NUL
        is_test=is_test,
        received_at=received_at,
        updated_at=received_at,
    )
    events = [("received", f"Received from source {source.name}.", {"post": post.public_id})]
    events += [("note", note, None) for note in notes]
    if is_postgresql():
        _insert_accepted(post, lead, events, at=utcnow())
        return post, lead
    with database.atomic():
        post.save(force_insert=True)
        lead.post = post
        lead.save(force_insert=True)
        for kind, message, details in events:
            add_event(lead, kind, message, details)
    return post, lead


def _insert_accepted(post: Post, lead: Lead, events: list[tuple], at: datetime) -> None:
    """Insert the post, its lead and their first events in one statement (one round trip).

    PostgreSQL runs the query string as one transaction and commits it asynchronously.
    """
    post_columns = ["public_id", "tenant", "source", "received_at", "request_id", "payload",
                    "headers", "accepted", "status_code"]  # fmt: skip
    lead_columns = ["uuid", "public_id", "tenant", "source", "category", "status", "data",
                    "price_cents", "partner_id", "is_test", "received_at",
                    "updated_at"]  # fmt: skip
    params = _values(post, post_columns) + _values(lead, lead_columns)
    rows = repeat("(%s::int, %s::timestamp, %s, %s, %s::jsonb)", len(events))
    for number, (kind, message, details) in enumerate(events):
        params += [number, at, kind, message, LeadEvent.details.db_value(details)]
    # Committed without waiting for the WAL flush: the routing's COMMIT, synchronous and
    # later in the WAL, makes it durable before any answer says the lead was taken (see
    # docs/architecture.md, "Durability").
    query = (
        f"WITH p AS (INSERT INTO post ({columns('', Post, post_columns)})"
        f" VALUES ({repeat('%s', len(post_columns))}) RETURNING id),"
        f" l AS (INSERT INTO lead ({columns('', Lead, lead_columns)}, post_id)"
        f" SELECT {repeat('%s', len(lead_columns))}, p.id FROM p RETURNING id),"
        " e AS (INSERT INTO lead_event (lead_id, at, kind, message, details)"
        f" SELECT l.id, e.at, e.kind, e.message, e.details FROM l, (VALUES {rows})"
        " AS e(n, at, kind, message, details) ORDER BY e.n)"
        " SELECT p.id, l.id FROM p, l"
    )
    cursor = execute_together([("SET LOCAL synchronous_commit = off", []), (query, params)])
    post.id, lead.id = cursor.fetchone()
    lead.post = post


def _values(row, names: list[str]) -> list:
    """Return the row's values for these fields, converted as peewee would store them."""
    meta = type(row)._meta
    return [meta.fields[name].db_value(row.__data__.get(name)) for name in names]


def add_event(lead: Lead, kind: str, message: str, details: Any = None) -> LeadEvent:
    """Append an entry to a lead's timeline."""
    return LeadEvent.create(lead=lead.id, kind=kind, message=message, details=details)


def lock_lead(lead: Lead, statuses: tuple[str, ...]) -> None:
    """Lock the lead's row for the routing transaction; refuse unless its status is allowed.

    Two routings of the same lead (an intake and a reprocess, or two reprocesses) thus
    run one after the other, and the second finds the lead already routed. On PostgreSQL
    the lock goes with the transaction's next statement, which fails with SQLSTATE SL423
    (`not_routable`) when the status is not allowed; the caller turns that into the
    ConflictError raised here on SQLite.
    """
    if is_postgresql():
        defer(
            "SELECT CASE WHEN l.status = ANY(%s) THEN 0 ELSE sluice_not_routable(l.status) END"
            " FROM (SELECT (SELECT status FROM lead WHERE id = %s FOR UPDATE) AS status) l",
            [list(statuses), lead.id],
        )
        return
    row = execute("SELECT status FROM lead WHERE id = %s", [lead.id]).fetchone()
    status = row[0] if row else None
    if status not in statuses:
        raise not_routable(lead, status)


def not_routable(lead: Lead, status: str | None) -> ConflictError:
    """Return the error of a routing refused because of the lead's status."""
    return ConflictError(f"lead {lead.public_id} is {status}: it cannot be routed now")


def refusal(lead: Lead, error: Exception) -> ConflictError | None:
    """Return the ConflictError of a database error raised by the lead's lock (SL423),
    or None for any other error."""
    if sqlstate(error) != NOT_ROUTABLE:
        return None
    status = error.orig.diag.message_primary
    return not_routable(lead, None if status == "missing" else status)


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
