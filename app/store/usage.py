"""A tenant's monthly threshold: its per-month counter, the withheld leads, the threshold.

A routing that counts (app/domain/threshold.py) takes one unit of its tenant's month in
`lead_usage` by a guarded upsert written with the routing itself: on PostgreSQL as a CTE
of the routing's one statement (the counter's row locked from that statement to the
COMMIT in the same round trip), on SQLite as one more statement of its transaction. The
guard (`leads < threshold`, and for a new lead no older lead withheld) is checked on the
row's latest version under its lock, so two routings racing for the last unit cannot both
take it: the one refused fails (SQLSTATE SL429, `OverThreshold`) and rolls back whole.
Tenants without a threshold never touch the counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from peewee import DatabaseError, fn

from app.domain.status import Status
from app.domain.threshold import Quota, month_of
from app.store.db import database, execute, is_postgresql, sqlstate
from app.store.models import Lead, LeadUsage, Tenant

OVER_THRESHOLD = "SL429"  # SQLSTATE of sluice_over_threshold() (migration 48)
RELEASE_LOCK = 0x51C6  # pg_advisory_lock class: one release of a tenant's leads at a time


class OverThreshold(Exception):
    """The routing's tenant has no capacity left this month: nothing was written."""


@dataclass(frozen=True)
class MonthUsage:
    """A tenant's month against its threshold."""

    month: date
    counted: int  # leads counted in the month
    threshold: int | None
    withheld: int  # leads waiting, withheld (any month)

    @property
    def remaining(self) -> int | None:
        """Return the leads that may still be routed this month (None: no limit)."""
        return None if self.threshold is None else max(0, self.threshold - self.counted)


_WAITING = (
    "NOT EXISTS (SELECT 1 FROM lead w WHERE w.tenant_id = %s AND w.status = 'withheld'"
    " AND w.deleted_at IS NULL)"
)


def quota_statement(quota: Quota) -> tuple[str, list]:
    """Return the guarded upsert taking one unit of the quota's month; it answers a row
    when it took it, none when the month is full (or older leads wait, for a new lead)."""
    # Older leads waiting stop the row being proposed at all, so its update need not ask.
    waiting, params = "", [quota.tenant_id, quota.month, quota.threshold]
    if quota.behind_withheld:
        waiting = f" AND {_WAITING}"
        params.append(quota.tenant_id)
    query = (
        "INSERT INTO lead_usage AS u (tenant_id, month, leads) SELECT %s, %s, 1"
        f" WHERE %s > 0{waiting}"
        " ON CONFLICT (tenant_id, month) DO UPDATE SET leads = u.leads + 1"
        " WHERE u.leads < %s RETURNING 1"
    )
    return query, [*params, quota.threshold]


def quota_ctes(quota: Quota, answer: str, answer_params: list) -> tuple[list[str], list, str, list]:
    """Return the quota as a PostgreSQL CTE wrapped around a statement's `answer`: (CTEs,
    their parameters, the answer, or SL429 when no unit was taken, its parameters)."""
    query, params = quota_statement(quota)
    guarded = (
        f"CASE WHEN (SELECT count(*) FROM quota) = 1 THEN {answer}"
        " ELSE sluice_over_threshold(%s) END"
    )
    return [f"quota AS ({query})"], params, guarded, [*answer_params, f"tenant {quota.tenant_id}"]


def take_unit(quota: Quota) -> None:
    """Take one unit of the quota in the caller's transaction (SQLite), or raise
    OverThreshold: the caller must roll back."""
    if not execute(*quota_statement(quota)).fetchall():
        raise OverThreshold


def over_threshold(error: Exception) -> bool:
    """Tell whether a database error is the quota's refusal (SL429)."""
    return isinstance(error, DatabaseError) and sqlstate(error) == OVER_THRESHOLD


def set_threshold(tenant: Tenant, threshold: int | None, now: datetime) -> Tenant:
    """Set the tenant's monthly threshold (None: none).

    A tenant without a threshold has no counter: when it gets one, its month's counter
    starts from the leads it received this month that count, so the usage is the month's.
    """
    with database.atomic():
        Tenant.update(monthly_lead_threshold=threshold).where(Tenant.id == tenant.id).execute()
        if threshold is not None and tenant.monthly_lead_threshold is None:
            month = month_of(now)
            counted = _received_counting(tenant.id, month)
            execute(
                "INSERT INTO lead_usage AS u (tenant_id, month, leads) VALUES (%s, %s, %s)"
                " ON CONFLICT (tenant_id, month) DO UPDATE"
                " SET leads = CASE WHEN u.leads > excluded.leads THEN u.leads"
                " ELSE excluded.leads END",
                [tenant.id, month, counted],
            )
    tenant.monthly_lead_threshold = threshold
    return tenant


def _received_counting(tenant_id: int, month: date) -> int:
    """Return how many of the tenant's leads received in the month count (routed, not
    test, not duplicate)."""
    start = datetime(month.year, month.month, 1)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (
        Lead.select()
        .where(
            Lead.tenant == tenant_id,
            Lead.received_at >= start,
            Lead.received_at < end,
            ~Lead.is_test,
            Lead.status.not_in(
                [Status.WITHHELD, Status.DUPLICATE, Status.DISTRIBUTION_ERROR, Status.PENDING]
            ),
        )
        .count()
    )


def month_usage(tenant: Tenant, now: datetime) -> MonthUsage:
    """Return the tenant's month: what counted (the counter, or without a threshold the
    leads received this month that count), its threshold and its withheld leads."""
    month = month_of(now)
    threshold = tenant.monthly_lead_threshold
    if threshold is None:
        counted = _received_counting(tenant.id, month)
    else:
        row = LeadUsage.get_or_none(LeadUsage.tenant == tenant.id, LeadUsage.month == month)
        counted = row.leads if row is not None else 0
    return MonthUsage(month, counted, threshold, _withheld(tenant.id).count())


def _withheld(tenant_id: int):
    return Lead.select().where(
        Lead.tenant == tenant_id, Lead.status == Status.WITHHELD, Lead.deleted_at.is_null()
    )


def oldest_withheld(tenant_id: int, after: tuple[datetime, int] | None = None) -> Lead | None:
    """Return the tenant's oldest withheld lead (arrival order), after `after`
    ((received_at, id) of one passed over) if given; None when none waits."""
    query = _withheld(tenant_id)
    if after is not None:
        at, lead_id = after
        query = query.where(
            (Lead.received_at > at) | ((Lead.received_at == at) & (Lead.id > lead_id))
        )
    return query.order_by(Lead.received_at, Lead.id).first()


@contextmanager
def releasing(tenant_id: int) -> Iterator[None]:
    """Hold the tenant's release lock (PostgreSQL): releases of its withheld leads run one
    after the other, each taking the oldest first, so they are routed in arrival order.
    (SQLite runs one worker.)"""
    if not is_postgresql():
        yield
        return
    execute("SELECT pg_advisory_lock(%s, %s)", [RELEASE_LOCK, tenant_id])
    try:
        yield
    finally:
        execute("SELECT pg_advisory_unlock(%s, %s)", [RELEASE_LOCK, tenant_id])


def tenants_with_capacity(now: datetime) -> list[Tenant]:
    """Return the tenants with withheld leads and room to route some now: no threshold, or
    a count this month under it."""
    month = month_of(now)
    waiting = Lead.select(Lead.id).where(
        Lead.tenant == Tenant.id, Lead.status == Status.WITHHELD, Lead.deleted_at.is_null()
    )
    full = LeadUsage.select(LeadUsage.id).where(
        LeadUsage.tenant == Tenant.id,
        LeadUsage.month == month,
        LeadUsage.leads >= Tenant.monthly_lead_threshold,
    )
    # One probe of the lead's (tenant, status) index per tenant: tenants are few, leads many.
    threshold = Tenant.monthly_lead_threshold
    return list(
        Tenant.select()
        .where(threshold.is_null() | (threshold > 0), fn.EXISTS(waiting), ~fn.EXISTS(full))
        .order_by(Tenant.id)
    )
