"""Deliveries as a tenant sees them: list, show with every attempt, replay dead ones.

The worker (app/services/worker.py) sends them; a replay only sets a dead delivery back to
pending with a new round of its retry schedule, and the worker takes it from there (on
PostgreSQL the database wakes it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.domain.delivery import DELIVERY_STATUSES, EVENTS
from app.domain.errors import ConflictError, InvalidError, NotFoundError
from app.services.actor import Actor
from app.store import deliveries_admin as store
from app.store.deliveries_admin import DeliveryFilter, Replay
from app.store.models import Delivery

#: How many deliveries one replay may name.
MAX_NAMED = 1000
#: What a reference (a public id, a slug) may look like: anything else names nothing.
REF = re.compile(r"[A-Za-z0-9_-]{1,64}")
FILTER_REFS = {
    "destination": "a destination or webhook id (dst_..., whk_...)",
    "customer": "a customer's slug or id (cus_...)",
    "lead": "a lead id (lead_...)",
}


def list_deliveries(
    actor: Actor, filters: DeliveryFilter, *, limit: int = 50, offset: int = 0
) -> list[Delivery]:
    """Return the tenant's deliveries matching the filters, newest first."""
    actor.require("deliveries.read")
    return store.list_deliveries(actor.acting_tenant(), checked_filter(filters), limit, offset)


def count_deliveries(actor: Actor, filters: DeliveryFilter) -> int:
    """Return how many of the tenant's deliveries match the filters."""
    actor.require("deliveries.read")
    return store.count_deliveries(actor.acting_tenant(), checked_filter(filters))


def show_delivery(actor: Actor, ref: str) -> Delivery:
    """Return a delivery with its payload and its attempts, oldest first (`history`)."""
    actor.require("deliveries.read")
    tenant = actor.acting_tenant()
    if not REF.fullmatch(ref):
        raise NotFoundError(f"no delivery {ref[:100]!r}")
    return store.get_delivery(tenant, ref)


def retry_deliveries(
    actor: Actor,
    ids: Sequence[str] | None = None,
    *,
    all_dead: bool = False,
    destination: str | None = None,
) -> Replay:
    """Replay the named deliveries (or every dead one, or a destination's dead ones): a
    dead one starts a new round of its retry schedule, a pending one is attempted now."""
    actor.require("deliveries.retry")
    tenant = actor.acting_tenant()
    named = [ref.strip() for ref in ids or ()]
    _check_replay(named, all_dead, destination)
    missing = [ref for ref in named if not REF.fullmatch(ref)]
    if missing:  # names no delivery, and need not be looked for
        raise NotFoundError("no delivery " + ", ".join(repr(ref[:100]) for ref in missing))
    row = None
    if destination is not None:
        if not REF.fullmatch(destination):
            raise NotFoundError(f"no destination {destination[:100]!r}")
        row = store.find_destination(tenant, destination)
        if row.removed_at is not None:
            raise ConflictError(
                f"destination {destination} was removed: its deliveries cannot be replayed"
            )
    return store.replay_deliveries(tenant, named, all_dead=all_dead, destination=row)


def _check_replay(named: list[str], all_dead: bool, destination: str | None) -> None:
    """Refuse a replay that names nothing, or both ids and all_dead, or too many."""
    if all_dead and named:
        raise InvalidError("give ids, or all_dead, not both", {"ids": ["not with all_dead"]})
    if not all_dead and not named:
        raise InvalidError(
            "name the deliveries to replay, or all_dead", {"ids": ["give one or more ids"]}
        )
    if len(named) > MAX_NAMED:
        raise InvalidError(
            f"at most {MAX_NAMED} deliveries at once", {"ids": [f"at most {MAX_NAMED}"]}
        )
    if destination is not None and not all_dead:
        raise InvalidError(
            "destination selects the dead deliveries to replay: only with all_dead",
            {"destination": ["only with all_dead"]},
        )


def checked_filter(filters: DeliveryFilter) -> DeliveryFilter:
    """Refuse a status or an event that does not exist (a typo would find nothing), and a
    reference that cannot name anything."""
    for name, expected in FILTER_REFS.items():
        value = getattr(filters, name)
        if value is not None and not REF.fullmatch(value):
            raise InvalidError(f"{name}: {value[:100]!r} is not {expected}", {name: [expected]})
    if filters.status is not None and filters.status not in DELIVERY_STATUSES:
        raise InvalidError(
            f"unknown status {filters.status!r}",
            {"status": [f"one of {', '.join(DELIVERY_STATUSES)}"]},
        )
    if filters.event is not None and filters.event not in EVENTS:
        raise InvalidError(
            f"unknown event {filters.event!r}", {"event": [f"one of {', '.join(EVENTS)}"]}
        )
    return filters
