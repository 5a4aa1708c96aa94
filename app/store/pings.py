"""The ping log: every inbound ping with its answer, and the posts that use them.

A ping writes only its own row, in one statement (its bidding read nothing it wrote:
app/store/facts.py `peek_facts`). A post naming a ping marks it used inside the post's
routing transaction, by one conditional UPDATE: of two posts naming the same ping at once,
the second waits on the row and then finds it used, so one lead only is taken for a ping.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import peewee as pw

from app.domain.errors import InvalidError
from app.store.db import columns, execute, json_text, repeat
from app.store.models import Lead, Ping, Source, Tenant
from app.store.secrets import public_id
from app.store.storable import storable

ACCEPTED, REJECTED = "accepted", "rejected"
#: Every status of a ping, in the order lists show them.
PING_STATUSES = (ACCEPTED, REJECTED)
#: What a new ping's row holds (`used_at` and `used_by` are set by the post that uses it).
NEW_PING_FIELDS = (
    "public_id",
    "tenant",
    "source",
    "received_at",
    "request_id",
    "category",
    "payload",
    "data",
    "status",
    "status_code",
    "reason",
    "errors",
    "lead_type",
    "bids",
    "expires_at",
)
# Written by hand, prepared once per connection on PostgreSQL: peewee building the INSERT,
# and PostgreSQL planning it each time, cost a ping a sixth of its CPU (bench/levers.py).
_INSERT_PING = (
    f"INSERT INTO ping ({columns('', Ping, NEW_PING_FIELDS)})"
    f" VALUES ({repeat('%s', len(NEW_PING_FIELDS))}) RETURNING id"
)


def new_ping(
    source: Source,
    request_id: str,
    payload: Any,
    *,
    category: str,
    received_at: datetime,
    expires_at: datetime,
) -> Ping:
    """Return a ping of the source, not yet stored (its answer is set before `save_ping`)."""
    return Ping(
        public_id=public_id("png"),
        tenant=source.tenant_id,
        source=source,
        received_at=received_at,
        request_id=request_id,
        category=category,
        payload=storable(payload),
        status=REJECTED,
        status_code=200,
        bids=[],
        expires_at=expires_at,
    )


def save_ping(ping: Ping) -> Ping:
    """Insert the ping with its answer: one statement."""
    fields = Ping._meta.fields
    values = [_stored(fields[name], ping.__data__.get(name)) for name in NEW_PING_FIELDS]
    ping.id = execute(_INSERT_PING, values).fetchone()[0]
    return ping


def _stored(field: pw.Field, value: Any) -> Any:
    """Return the parameter storing a value in the field's column, on either database."""
    if isinstance(field, pw.JSONField):  # its text (peewee would wrap it in SQL on SQLite)
        return None if value is None else json_text(value)
    return field.db_value(value)


def find_ping(tenant_id: int, ref: str) -> Ping | None:
    """Return the tenant's ping with this public id, or None."""
    return Ping.select().where((Ping.tenant == tenant_id) & (Ping.public_id == ref)).first()


def claim_ping(ping: Ping, lead_public_id: str, now: datetime) -> None:
    """Mark the ping used by this lead, in the caller's transaction (the post's routing);
    InvalidError on `ping_id` when another post used it first or it expired meanwhile.

    Its row stays locked until the caller's transaction ends: a concurrent post naming the
    same ping waits, then finds it used.
    """
    claimed = execute(
        "UPDATE ping SET used_at = %s, used_by = %s"
        " WHERE id = %s AND used_at IS NULL AND expires_at > %s RETURNING id",
        [now, lead_public_id, ping.id, now],
    ).fetchall()
    if not claimed:
        raise InvalidError(
            "The ping cannot be posted.",
            {"ping_id": [f"Ping {ping.public_id} was used by another post or has expired."]},
        )


def ping_refs(ping_ids: Iterable[int]) -> dict[int, str]:
    """Return the public ids of these pings (row id -> png_...), in one query."""
    wanted = sorted(set(ping_ids))
    if not wanted:
        return {}
    return dict(Ping.select(Ping.id, Ping.public_id).where(Ping.id.in_(wanted)).tuples())


def list_pings(
    tenant: Tenant,
    limit: int = 50,
    offset: int = 0,
    source: str | None = None,
    status: str | None = None,
) -> list[Ping]:
    """Return the tenant's pings, newest first, with their source."""
    query = Ping.select(Ping, Source).join(Source).where(Ping.tenant == tenant)
    if source:
        query = query.where(Source.public_id == source)
    if status is not None:
        query = query.where(Ping.status == status)
    return list(query.order_by(Ping.received_at.desc(), Ping.id.desc()).limit(limit).offset(offset))


def get_ping(tenant: Tenant, ref: str) -> tuple[Ping, Lead | None] | None:
    """Return (ping, the lead posted against it or None) for the tenant's ping, or None."""
    ping = (
        Ping.select(Ping, Source)
        .join(Source)
        .where((Ping.tenant == tenant) & (Ping.public_id == ref))
        .first()
    )
    if ping is None:
        return None
    lead = Lead.select(Lead.id, Lead.uuid, Lead.public_id).where(Lead.ping == ping).first()
    return ping, lead
