"""Returns: a tenant's reasons, and a return written in one transaction under the lead's
lock (status, credit and its wallet entry, the bid's counters freed, timeline, event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.errors import ConflictError
from app.domain.money import as_number
from app.domain.returns import (
    CREDIT,
    DEFAULT_REASONS,
    PERIOD_SPANS,
    RETURNED,
    Breach,
    ReturnPolicy,
    month_start,
    next_month,
    policy_breach,
)
from app.domain.status import SOLD, Status
from app.store.db import database, execute, is_postgresql, repeat
from app.store.deliveries import enqueue_event
from app.store.models import Lead, LeadEvent, Tenant

#: The event a return sends to the tenant's webhooks.
EVENT = "lead.returned"


def return_reasons(tenant: Tenant) -> list[str]:
    """Return the reasons the tenant offers (its own, or the default ones)."""
    row = Tenant.select(Tenant.return_reasons).where(Tenant.id == tenant.id).first()
    stored = row.return_reasons if row is not None else None
    return list(stored) if stored else list(DEFAULT_REASONS)


def set_return_reasons(tenant: Tenant, reasons: list[str] | None) -> list[str]:
    """Store the tenant's reasons (None: back to the default ones); return them."""
    Tenant.update(return_reasons=reasons).where(Tenant.id == tenant.id).execute()
    return return_reasons(tenant)


@dataclass(frozen=True)
class Return:
    """A return to write: why, who, when, and whether an admin overrides the policy."""

    reason: str
    note: str | None
    by: str
    at: datetime  # naive UTC
    override: bool = False
    event_data: dict[str, Any] | None = None  # the lead.returned event's data


def return_refusal(
    lead: Lead, status: str, customer_id: int | None, deleted: bool
) -> ConflictError | None:
    """Return why a lead with this status and buyer cannot be returned, or None."""
    ref = lead.public_id
    if deleted:
        return ConflictError(f"lead {ref} was deleted: it cannot be returned")
    if lead.is_test:
        return ConflictError(f"lead {ref} is a test lead: it was sold to no one, nothing to return")
    if status == Status.RETURNED:
        return ConflictError(f"lead {ref} was returned already")
    if status != Status.ASSIGNED or customer_id is None:
        return ConflictError(f"lead {ref} is {status}: only a lead sold to a customer is returned")
    return None


def record_return(lead: Lead, done: Return) -> int:
    """Return the lead in one transaction under its row lock; answer the customer's new
    balance.

    The lead's row is locked, then its buyer's (so two returns of one customer's leads
    count its monthly returns one after the other), and the lead checked again: a second
    return of the lead is refused (ConflictError), so is one outside the customer's policy
    unless `done.override`. Then: status `returned`, the price credited to the buyer's wallet
    with a `credit` entry, the sale freed from the bid's counters, a `returned` entry on the
    timeline, and the `lead.returned` event to the tenant's webhooks.
    """
    lock = " FOR UPDATE" if is_postgresql() else ""  # SQLite: BEGIN IMMEDIATE locked it all
    with database.atomic():
        row = execute(
            "SELECT status, customer_id, bid_id, price_cents, assigned_at, deleted_at"
            f" FROM lead WHERE id = %s{lock}",
            [lead.id],
        ).fetchone()
        status, customer_id, bid_id, price, assigned_at, deleted_at = row
        refusal = return_refusal(lead, status, customer_id, deleted_at is not None)
        if refusal is not None:
            raise refusal
        sold_at = Lead.assigned_at.python_value(assigned_at)
        customer = execute(
            "SELECT slug, return_window_days, return_limit_percent FROM customer"
            f" WHERE id = %s{lock}",
            [customer_id],
        ).fetchone()
        slug, window_days, limit_percent = customer
        policy = ReturnPolicy(window_days, limit_percent)
        breach = _breach(customer_id, slug, policy, sold_at, done.at)
        if breach is not None and not done.override:
            raise ConflictError(
                f"lead {lead.public_id} cannot be returned: {breach.message}",
                {breach.rule: [breach.message]},
            )
        execute(
            "UPDATE lead SET status = %s, updated_at = %s WHERE id = %s",
            [Status.RETURNED.value, done.at, lead.id],
        )
        (balance,) = execute(
            "UPDATE customer SET balance_cents = balance_cents + %s WHERE id = %s"
            " RETURNING balance_cents",
            [price, customer_id],
        ).fetchone()
        note = f"return of lead {lead.public_id}: {done.reason}"
        execute(
            "INSERT INTO wallet_entry"
            " (customer_id, kind, amount_cents, balance_after_cents, lead_id, note, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [customer_id, CREDIT, price, balance, lead.id, note[:200], done.at],
        )
        if bid_id is not None and sold_at is not None:
            _free_counters(lead.tenant_id, bid_id, assigned_at, sold_at, price)
        _timeline(lead, done, slug, price, breach)
        if done.event_data is not None:
            enqueue_event(lead.tenant_id, EVENT, done.event_data, lead_id=lead.id)
    return balance


def _breach(
    customer_id: int,
    slug: str,
    policy: ReturnPolicy,
    sold_at: datetime | None,
    now: datetime,
) -> Breach | None:
    """Return the rule of the customer's policy this return breaks, or None."""
    if sold_at is None:  # an assigned lead always has its sale's time; none: nothing to judge
        return None
    start, end = month_start(now), next_month(month_start(now))
    returned = sold = 0
    if policy.limit_percent is not None:
        returned = execute(
            "SELECT count(*) FROM lead_event e JOIN lead l ON l.id = e.lead_id"
            " WHERE l.customer_id = %s AND e.kind = %s AND e.at >= %s AND e.at < %s",
            [customer_id, RETURNED, start, end],
        ).fetchone()[0]
        statuses = [status.value for status in SOLD]
        sold = execute(
            "SELECT count(*) FROM lead WHERE customer_id = %s AND NOT is_test"
            f" AND status IN ({repeat('%s', len(statuses))})"
            " AND assigned_at >= %s AND assigned_at < %s",
            [customer_id, *statuses, start, end],
        ).fetchone()[0]
    return policy_breach(
        policy,
        customer=slug,
        sold_at=sold_at,
        now=now,
        returned_this_month=returned,
        sold_this_month=sold,
    )


def _free_counters(
    tenant_id: int, bid_id: str, stored_at: Any, sold_at: datetime, price: int
) -> None:
    """Take the sale out of the bid's counters: in each period, the row of the period the
    sale fell in (the latest starting at or before it, and not longer ago than the period
    lasts), one lead and its price fewer, never below zero.

    `stored_at` is the sale's time as the lead's row holds it, `sold_at` the same as a
    datetime: compared as stored, so SQLite's text times compare alike.
    """
    rows = execute(
        "SELECT period, max(period_start) FROM bid_counter"
        " WHERE tenant_id = %s AND bid_id = %s AND period_start <= %s GROUP BY period",
        [tenant_id, bid_id, stored_at],
    ).fetchall()
    for period, start in rows:
        span = PERIOD_SPANS.get(period)
        if span is None or sold_at - Lead.assigned_at.python_value(start) >= span:
            continue
        execute(
            "UPDATE bid_counter SET"
            " leads = CASE WHEN leads > 0 THEN leads - 1 ELSE 0 END,"
            " spent_cents = CASE WHEN spent_cents > %s THEN spent_cents - %s ELSE 0 END"
            " WHERE tenant_id = %s AND bid_id = %s AND period = %s AND period_start = %s",
            [price, price, tenant_id, bid_id, period, start],
        )


def _timeline(lead: Lead, done: Return, customer: str, price: int, breach: Breach | None) -> None:
    """Write the return's timeline entry: who, why, the credit, and any policy overridden."""
    message = f"Returned by {done.by} for {customer} ({done.reason}"
    message += f": {done.note})" if done.note else ")"
    message += f"; {as_number(price):.2f} credited."
    if breach is not None:
        message += f" Policy overridden: {breach.message}."
    LeadEvent.create(
        lead=lead.id,
        at=done.at,
        kind=RETURNED,
        message=message,
        details={
            "by": done.by,
            "reason": done.reason,
            "note": done.note,
            "credit": as_number(price),
            "override": breach is not None,
            "overridden": None if breach is None else breach.message,
        },
    )
