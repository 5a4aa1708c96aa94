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

from app.domain.errors import InvalidError
from app.store.db import execute
from app.store.models import Lead, Ping, Source, Tenant
from app.store.secrets import public_id
from app.store.storable import storable

ACCEPTED, REJECTED = "accepted", "rejected"
#: Every status of a ping, in the order lists show them.
PING_STATUSES = (ACCEPTED, REJECTED)


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
    ping.save(force_insert=True)
    return ping


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
