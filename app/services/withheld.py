"""Withheld leads: a tenant's monthly threshold, its month's usage, and the release.

The operator sets a tenant's threshold (the most leads routed in a calendar month, UTC);
a new lead that counts and finds it reached is stored `withheld` (app/services/routing.py).
Withheld leads are released, oldest first, as capacity frees (a new month, a raised or
removed threshold): each is routed as a reprocess is, under its row lock, taking its unit
of the month in the same transaction, so a release racing the intake never exceeds the
threshold. The delivery worker releases them every few seconds (`release_due`);
`sluice leads release-withheld` does it at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from app.domain.clock import naive
from app.domain.errors import ConflictError, InvalidError
from app.domain.routing import Step
from app.domain.status import Status
from app.domain.threshold import Quota, month_of, release_reason
from app.services.actor import Actor
from app.services.routing import reroute_lead
from app.store import usage as store
from app.store.models import Tenant
from app.store.rules import active_ruleset
from app.store.usage import MonthUsage, OverThreshold

log = logging.getLogger("sluice.withheld")
#: The highest threshold accepted (a counter is a 32-bit integer).
MAX_THRESHOLD = 2_000_000_000
#: Leads a release may fail to route before it gives up until the next look.
MAX_FAILURES = 3


def set_threshold(actor: Actor, threshold: int | None, *, now: datetime | None = None) -> Tenant:
    """Set the acting tenant's monthly lead threshold, or remove it with None (operator only).

    Raising or removing it frees capacity: the withheld leads that fit are released by the
    worker's next look, or by `release_withheld`.
    """
    actor.require("tenants.write")
    if threshold is not None and not 0 <= threshold <= MAX_THRESHOLD:
        raise InvalidError(
            f"a monthly threshold is between 0 and {MAX_THRESHOLD} leads, or none",
            {"monthly_threshold": [f"must be between 0 and {MAX_THRESHOLD}, or none"]},
        )
    return store.set_threshold(actor.acting_tenant(), threshold, naive(now or datetime.now(UTC)))


def month_usage(actor: Actor, *, now: datetime | None = None) -> MonthUsage:
    """Return the acting tenant's month: leads counted, its threshold, leads withheld."""
    actor.require("leads.read")
    return store.month_usage(actor.acting_tenant(), naive(now or datetime.now(UTC)))


def release_withheld(actor: Actor, *, now: datetime | None = None) -> int:
    """Route the acting tenant's withheld leads that fit now, oldest first; return how many
    were routed."""
    actor.require("leads.reprocess")
    return _release(actor.acting_tenant(), now or datetime.now(UTC))


def release_due(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Route every tenant's withheld leads that fit now, oldest first, at most `limit` in
    all; return how many were routed (the worker's periodic look: no actor, the system)."""
    now = now or datetime.now(UTC)
    released = 0
    for tenant in store.tenants_with_capacity(naive(now)):
        left = None if limit is None else limit - released
        if left is not None and left <= 0:
            break
        released += _release(tenant, now, left)
    return released


def _release(tenant: Tenant, now: datetime, limit: int | None = None) -> int:
    """Route the tenant's withheld leads in arrival order until its month is full."""
    with store.releasing(tenant.id):
        released = _release_in_order(tenant, now, limit)
    if released:
        log.info("released %d withheld lead(s) of tenant %s", released, tenant.code)
    return released


def _release_in_order(tenant: Tenant, now: datetime, limit: int | None) -> int:
    version, ruleset = active_ruleset(tenant)
    threshold = tenant.monthly_lead_threshold
    quota = None
    if threshold is not None:
        quota = Quota(tenant.id, month_of(now), threshold, behind_withheld=False)
    released, failed, after, unruled = 0, 0, None, set()
    while limit is None or released < limit:
        lead = store.oldest_withheld(tenant.id, after)
        if lead is None:
            break
        after = (lead.received_at, lead.id)
        if ruleset is None or lead.category not in ruleset.categories:
            unruled.add(lead.category)
            continue  # it waits for its category's rules; the next ones need not
        reason = release_reason(threshold, lead.received_at, naive(now))
        step = Step("released", f"Released from withheld: {reason}.", {"threshold": threshold})
        try:
            reroute_lead(
                lead,
                version,
                ruleset,
                now=now,
                statuses=(Status.WITHHELD,),
                quota=quota,
                first_steps=(step,),
            )
        except OverThreshold:
            break  # the month is full again: the rest wait, still in order
        except ConflictError:
            continue  # another release routed it, or it was deleted, meanwhile
        except Exception:
            # Nothing was written: it stays withheld and is tried again at the next look,
            # without holding up the leads after it, unless routing fails again and again
            # (the database, not the lead): then the look ends.
            failed += 1
            if failed >= MAX_FAILURES:
                raise
            log.exception("withheld lead %s could not be routed; it waits", lead.public_id)
            continue
        released += 1
    if unruled:
        names = ", ".join(sorted(unruled))
        log.warning("tenant %s: withheld leads wait for active rules of %s", tenant.code, names)
    return released
