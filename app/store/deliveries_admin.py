"""A tenant's deliveries as the tenant sees them: lists, one with its attempts, and the
replay of dead ones (the worker's side, claiming and sending, is app/store/deliveries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import peewee as pw

from app.domain.clock import utcnow
from app.domain.delivery import DEAD, PENDING
from app.domain.errors import ConflictError, NotFoundError
from app.store.db import database, is_postgresql
from app.store.models import (
    Customer,
    Delivery,
    DeliveryAttempt,
    DeliveryDestination,
    Lead,
    Tenant,
)

#: What a list shows of a delivery: all but its payload.
_LISTED = [f for f in Delivery._meta.sorted_fields if f.name != "payload"]
#: What a list shows of its destination, customer and lead.
_RELATED = [
    DeliveryDestination.id,
    DeliveryDestination.public_id,
    DeliveryDestination.name,
    DeliveryDestination.customer,
    Customer.id,
    Customer.public_id,
    Customer.slug,
    Lead.id,
    Lead.public_id,
]


#: How many deliveries one UPDATE of a replay sets.
UPDATE_BATCH = 5000


@dataclass(frozen=True)
class DeliveryFilter:
    status: str | None = None  # app.domain.delivery.DELIVERY_STATUSES
    destination: str | None = None  # public id (dst_...)
    customer: str | None = None  # public id (cus_...) or slug
    lead: str | None = None  # public id (lead_...)
    event: str | None = None  # e.g. lead.sold
    #: Only the deliveries to this customer's destinations (row id): a customer's own view.
    customer_id: int | None = None


@dataclass(frozen=True)
class Replay:
    """What a replay did: dead deliveries given a new round of the retry schedule, and
    pending ones whose next attempt was moved to now (public ids, in the order given)."""

    replayed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)


def _with_related(query: pw.ModelSelect) -> pw.ModelSelect:
    """Join a delivery query to its destination, customer and lead."""
    return (
        query.join(DeliveryDestination)
        .join(Customer, pw.JOIN.LEFT_OUTER)
        .switch(Delivery)
        .join(Lead, pw.JOIN.LEFT_OUTER)
        .switch(Delivery)
    )


def _filtered(tenant: Tenant, filters: DeliveryFilter) -> pw.ModelSelect:
    query = _with_related(Delivery.select(*_LISTED, *_RELATED)).where(Delivery.tenant == tenant.id)
    if filters.status:
        query = query.where(Delivery.status == filters.status)
    if filters.destination:
        query = query.where(DeliveryDestination.public_id == filters.destination)
    if filters.customer:
        query = query.where(
            (Customer.public_id == filters.customer) | (Customer.slug == filters.customer)
        )
    if filters.lead:
        query = query.where(Lead.public_id == filters.lead)
    if filters.event:
        query = query.where(Delivery.event == filters.event)
    if filters.customer_id is not None:
        query = query.where(DeliveryDestination.customer == filters.customer_id)
    return query


def list_deliveries(
    tenant: Tenant, filters: DeliveryFilter, limit: int = 50, offset: int = 0
) -> list[Delivery]:
    """Return the tenant's deliveries matching the filters, newest first (without their
    payloads), each with its destination, customer and lead."""
    query = _filtered(tenant, filters)
    return list(
        query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit).offset(offset)
    )


def count_deliveries(tenant: Tenant, filters: DeliveryFilter) -> int:
    """Return how many of the tenant's deliveries match the filters."""
    count: int = _filtered(tenant, filters).count()
    return count


def lead_deliveries(lead: Lead, customer_id: int | None = None) -> list[Delivery]:
    """Return a lead's deliveries (only those to this customer's destinations, given a
    customer's row id), oldest first, without their payloads."""
    query = _with_related(Delivery.select(*_LISTED, *_RELATED)).where(Delivery.lead == lead.id)
    if customer_id is not None:
        query = query.where(DeliveryDestination.customer == customer_id)
    return list(query.order_by(Delivery.created_at, Delivery.id))


def with_attempts(deliveries: list[Delivery]) -> list[Delivery]:
    """Set each delivery's attempts, oldest first (`delivery.history`), in one query."""
    attempts: dict[int, list[DeliveryAttempt]] = {delivery.id: [] for delivery in deliveries}
    if attempts:
        query = (
            DeliveryAttempt.select()
            .where(DeliveryAttempt.delivery.in_(list(attempts)))
            .order_by(DeliveryAttempt.number, DeliveryAttempt.id)
        )
        for attempt in query:
            attempts[attempt.delivery_id].append(attempt)
    for delivery in deliveries:
        delivery.history = attempts[delivery.id]
    return deliveries


def get_delivery(tenant: Tenant, ref: str, customer_id: int | None = None) -> Delivery:
    """Return the tenant's delivery with this public id (only one to this customer's
    destinations, given a customer's row id), its payload, destination, customer and lead,
    and its attempts oldest first (`delivery.history`)."""
    query = _with_related(Delivery.select(Delivery, *_RELATED)).where(
        (Delivery.tenant == tenant.id) & (Delivery.public_id == ref)
    )
    if customer_id is not None:
        query = query.where(DeliveryDestination.customer == customer_id)
    delivery = query.first()
    if delivery is None:
        raise NotFoundError(f"no delivery {ref!r}")
    return with_attempts([delivery])[0]


def find_destination(tenant: Tenant, ref: str) -> DeliveryDestination:
    """Return the tenant's destination (a customer's or a webhook) with this public id."""
    row = (
        DeliveryDestination.select()
        .where((DeliveryDestination.tenant == tenant.id) & (DeliveryDestination.public_id == ref))
        .first()
    )
    if row is None:
        raise NotFoundError(f"no destination {ref!r}")
    return row


def replay_deliveries(
    tenant: Tenant,
    refs: Sequence[str] = (),
    *,
    all_dead: bool = False,
    destination: DeliveryDestination | None = None,
    now: datetime | None = None,
) -> Replay:
    """Send deliveries again: each dead one (those named by `refs`, or all the tenant's dead
    ones, or only `destination`'s) starts a new round of its retry schedule now; a pending
    one named is attempted now. All or nothing, in one transaction.

    Named deliveries of no such id (or another tenant's) are not found; one delivered,
    canceled, being sent, or whose destination was removed is refused (ConflictError
    naming each). The rows are locked while they are read, so two replays of the same
    delivery at once replay it once: the second finds it pending.
    """
    now = now or utcnow()
    with database.atomic():
        rows = _locked(tenant, refs, all_dead=all_dead, destination=destination)
        _hold_destinations(rows)
        if all_dead:
            rows = [row for row in rows if row.destination.removed_at is None]
        else:
            rows = _check_named(refs, rows)
        dead = [row for row in rows if row.status == DEAD]
        pending = [row for row in rows if row.status == PENDING]
        was_dead = Delivery.status == DEAD
        # One statement per few thousand rows: SQLite takes at most 32,766 parameters.
        for batch in pw.chunked([row.id for row in rows], UPDATE_BATCH):
            (
                Delivery.update(
                    status=PENDING,
                    tries=pw.Case(None, [(was_dead, 0)], Delivery.tries),
                    claimed_by=pw.Case(None, [(was_dead, None)], Delivery.claimed_by),
                    claimed_until=pw.Case(None, [(was_dead, None)], Delivery.claimed_until),
                    next_attempt_at=now,
                    updated_at=now,
                )
                .where(Delivery.id.in_(batch) & Delivery.status.in_([DEAD, PENDING]))
                .execute()
            )
    return Replay([row.public_id for row in dead], [row.public_id for row in pending])


def _locked(
    tenant: Tenant,
    refs: Sequence[str],
    *,
    all_dead: bool,
    destination: DeliveryDestination | None,
) -> list[Delivery]:
    """Return the deliveries to replay with their current status, their rows locked until
    the transaction ends (on SQLite the transaction holds the write lock already)."""
    query = (
        Delivery.select(
            Delivery.id,
            Delivery.public_id,
            Delivery.status,
            DeliveryDestination.id,
            DeliveryDestination.public_id,
            DeliveryDestination.removed_at,
        )
        .join(DeliveryDestination)
        .where(Delivery.tenant == tenant.id)
    )
    if all_dead:
        query = query.where((Delivery.status == DEAD) & DeliveryDestination.removed_at.is_null())
    else:
        query = query.where(Delivery.public_id.in_(list(refs)))
    if destination is not None:
        query = query.where(Delivery.destination == destination.id)
    query = query.order_by(Delivery.id)
    if is_postgresql():
        # PostgreSQL waits for a replay (or a worker) holding a row, then reads its status
        # as that transaction left it; a row no longer dead drops out of `all_dead`.
        query = query.for_update(of=Delivery)
    return list(query)


def _hold_destinations(rows: list[Delivery]) -> None:
    """Keep the deliveries' destinations from being removed until the replay commits, and
    read whether they were: a removal waits, then cancels what the replay set pending,
    rather than leave it pending for a destination no worker sends to."""
    if not rows or not is_postgresql():
        return  # SQLite: the transaction holds the database's write lock already
    ids = sorted({row.destination.id for row in rows})
    query = (
        DeliveryDestination.select(DeliveryDestination.id, DeliveryDestination.removed_at)
        .where(DeliveryDestination.id.in_(ids))
        .order_by(DeliveryDestination.id)
        .for_update("FOR SHARE")
    )
    removed = {row.id: row.removed_at for row in query}
    for row in rows:
        row.destination.removed_at = removed[row.destination.id]


def _check_named(refs: Sequence[str], rows: list[Delivery]) -> list[Delivery]:
    """Return the named deliveries in the order named; refuse unless every one exists and
    may be replayed now."""
    named = list(dict.fromkeys(refs))
    found = {row.public_id: row for row in rows}
    missing = [ref for ref in named if ref not in found]
    if missing:
        raise NotFoundError("no delivery " + ", ".join(repr(ref) for ref in missing))
    refused = []
    for ref in named:
        row = found[ref]
        if row.status not in (DEAD, PENDING):
            refused.append(f"{ref} is {row.status}")
        elif row.destination.removed_at is not None:
            refused.append(f"{ref}'s destination {row.destination.public_id} was removed")
    if refused:
        raise ConflictError(
            "cannot replay: "
            + "; ".join(refused)
            + " (only a dead delivery is replayed, and a pending one attempted now)"
        )
    return [found[ref] for ref in named]
