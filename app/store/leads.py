"""Posts and leads: recording submissions, creating leads, their timeline and outcome."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.domain.clock import utcnow
from app.domain.editing import EDITED
from app.domain.errors import ConflictError
from app.domain.status import Status
from app.store.db import (
    columns,
    database,
    defer,
    execute_together,
    is_postgresql,
    json_param,
    repeat,
    sqlstate,
)
from app.store.models import Lead, LeadEvent, Post, Source
from app.store.secrets import public_id
from app.store.storable import storable

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


def new_submission(
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
    status_code: int = 201,
) -> tuple[Post, Lead]:
    """Return an accepted post and its pending lead, not yet stored."""
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
    return post, lead


def received_events(post: Post, notes: tuple[str, ...] | list[str] = ()) -> list[tuple]:
    """Return the first entries of a new lead's timeline: (kind, message, details)."""
    source = post.source
    events = [("received", f"Received from source {source.name}.", {"post": post.public_id})]
    return events + [("note", note, None) for note in notes]


def keep_failed_submission(
    post: Post, lead: Lead, notes: tuple[str, ...] | list[str], message: str, request_id: str
) -> None:
    """Store a post whose routing failed, and its lead as `distribution_error`: reprocessable
    later, the post answered 500."""
    post.status_code = 500
    lead.status = Status.DISTRIBUTION_ERROR
    lead.updated_at = utcnow()
    failed = (
        Status.DISTRIBUTION_ERROR,
        "Distribution failed; the lead can be reprocessed.",
        {"error": message, "request_id": request_id},
    )
    with database.atomic():
        insert_submission(post, lead, [*received_events(post, notes), failed])


POST_COLUMNS = [
    "public_id",
    "tenant",
    "source",
    "received_at",
    "request_id",
    "payload",
    "headers",
    "accepted",
    "status_code",
]
LEAD_COLUMNS = [
    "uuid",
    "public_id",
    "tenant",
    "source",
    "rule_version",
    "category",
    "lead_type",
    "status",
    "data",
    "price_cents",
    "customer",
    "bid_id",
    "partner_id",
    "is_test",
    "received_at",
    "updated_at",
    "assigned_at",
    "offer_cents",
    "ping",
]


def insert_submission(
    post: Post,
    lead: Lead,
    events: list[tuple],
    *,
    commit: bool = False,
    also_write: Callable[[str], tuple[list[str], list, str, list]] | None = None,
) -> None:
    """Insert a post, its lead (as it stands) and its timeline, in the caller's transaction.

    On PostgreSQL this is one statement (one round trip), with the COMMIT when `commit`
    (the caller's `database.atomic()` block opened outside any transaction).
    `also_write(lead)`, given the SQL of the new lead's id, returns what else the statement
    writes: (CTEs,
    their parameters, an expression the statement answers, its parameters); that
    expression may raise to abort it all. The rows' ids are read back unless the COMMIT
    went in the same round trip (its result, which has none, comes last). On SQLite the rows are
    inserted one by one, ids read back, and `also_write` is not accepted.
    """
    at = utcnow()
    if not is_postgresql():
        if also_write is not None:
            raise ValueError("insert_submission(also_write=...) is for PostgreSQL")
        post.save(force_insert=True)
        lead.post = post
        lead.save(force_insert=True)
        for kind, message, details in events:
            LeadEvent.create(lead=lead.id, at=at, kind=kind, message=message, details=details)
        return
    params = _values(post, POST_COLUMNS) + _values(lead, LEAD_COLUMNS)
    rows = repeat("(%s::int, %s::timestamp, %s, %s, %s::jsonb)", len(events))
    for number, (kind, message, details) in enumerate(events):
        params += [number, at, kind, message, LeadEvent.details.db_value(details)]
    ctes = [
        f"p AS (INSERT INTO post ({columns('', Post, POST_COLUMNS)})"
        f" VALUES ({repeat('%s', len(POST_COLUMNS))}) RETURNING id)",
        f"l AS (INSERT INTO lead ({columns('', Lead, LEAD_COLUMNS)}, post_id)"
        f" SELECT {repeat('%s', len(LEAD_COLUMNS))}, p.id FROM p RETURNING id)",
        "e AS (INSERT INTO lead_event (lead_id, at, kind, message, details)"
        f" SELECT l.id, e.at, e.kind, e.message, e.details FROM l, (VALUES {rows})"
        " AS e(n, at, kind, message, details) ORDER BY e.n)",
    ]
    answer, answer_params = "NULL", []
    if also_write is not None:
        also_ctes, also_params, answer, answer_params = also_write("(SELECT id FROM l)")
        ctes += also_ctes
        params += also_params
    query = f"WITH {', '.join(ctes)} SELECT p.id, l.id, {answer} FROM p, l"
    cursor = execute_together([(query, params + answer_params)], commit=commit)
    if cursor.description is not None:
        post.id, lead.id, _ = cursor.fetchone()
        lead.post = post


def _values(row, names: list[str]) -> list:
    """Return the row's values for these fields, converted as peewee would store them."""
    meta = type(row)._meta
    return [meta.fields[name].db_value(row.__data__.get(name)) for name in names]


def stored_id(lead: Lead) -> int:
    """Return the id of a lead inserted with its commit (whose answer was the COMMIT's)."""
    if lead.id is None:
        lead.id = Lead.select(Lead.id).where(Lead.public_id == lead.public_id).scalar()
    return lead.id


def lock_lead(lead: Lead, statuses: tuple[str, ...]) -> None:
    """Lock the lead's row for the routing transaction; refuse unless its status is allowed
    and its data is still the data the routing decided on.

    Two routings of the same lead (an intake and a reprocess, or two reprocesses) thus
    run one after the other, and the second finds the lead already routed; a deleted lead
    counts as status `deleted`, so a routing that waited for its deletion is refused, and
    one whose lead was edited since it was read counts as `edited` (it would sell, and
    deliver, the data the edit replaced). On PostgreSQL the lock goes with the transaction's
    next statement, which fails with SQLSTATE SL423 (`not_routable`) when the status is not
    allowed; the caller turns that into the ConflictError raised here on SQLite.
    """
    if is_postgresql():
        placeholder, data = json_param(lead.data)
        # One subquery locks the row and reads it: after waiting for the lock it reads the
        # row as the transaction it waited for left it.
        defer(
            "SELECT CASE WHEN l.status = ANY(%s) THEN 0 ELSE sluice_not_routable(l.status) END"
            " FROM (SELECT (SELECT CASE WHEN deleted_at IS NOT NULL THEN 'deleted'"
            f" WHEN status = ANY(%s) AND data <> {placeholder} THEN '{EDITED}' ELSE status END"
            " FROM lead WHERE id = %s FOR UPDATE) AS status) l",
            [list(statuses), list(statuses), data, lead.id],
        )
        return
    row = Lead.select(Lead.status, Lead.deleted_at, Lead.data).where(Lead.id == lead.id).first()
    status = None
    if row is not None:
        status = "deleted" if row.deleted_at is not None else row.status
        status = EDITED if status in statuses and row.data != lead.data else status
    if status not in statuses:
        raise not_routable(lead, status)


def not_routable(lead: Lead, status: str | None) -> ConflictError:
    """Return the error of a routing refused because of the lead's status."""
    if status == EDITED:
        return ConflictError(
            f"lead {lead.public_id} was edited meanwhile: route it again to route its new data"
        )
    return ConflictError(f"lead {lead.public_id} is {status}: it cannot be routed now")


def refusal(lead: Lead, error: Exception) -> ConflictError | None:
    """Return the ConflictError of a database error raised by the lead's lock (SL423),
    or None for any other error."""
    if sqlstate(error) != NOT_ROUTABLE:
        return None
    status = error.orig.diag.message_primary
    return not_routable(lead, None if status == "missing" else status)


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


def get_leads(tenant, refs: list[str]) -> dict[str, Lead]:
    """Return the tenant's leads with these public ids or UUIDs, by the ref given; refs
    that name no lead are left out."""
    public_ids = [ref for ref in refs if ref.startswith("lead_")]
    uuids: dict[uuid.UUID, str] = {}
    for ref in refs:
        if not ref.startswith("lead_"):
            try:
                uuids[uuid.UUID(ref)] = ref
            except ValueError:
                continue
    if not public_ids and not uuids:
        return {}
    query = Lead.select().where(
        Lead.tenant == tenant, (Lead.public_id.in_(public_ids)) | (Lead.uuid.in_(list(uuids)))
    )
    found = {}
    for lead in query:
        found[lead.public_id] = lead
        if lead.uuid in uuids:
            found[uuids[lead.uuid]] = lead
    return {ref: found[ref] for ref in refs if ref in found}
