"""Selling a lead: the charge, its wallet entry, the bid's counters and its last win.

Bidding decides on what it read without locks; this module writes the sale only if what
made the winner eligible and ranked first still holds, checked by the writes themselves:
the balance still covers the price and the customer is active, the bid's cap and budget
counters still have room, and (when the ranking depended on it) the bid has not won since
it was read. Each of those rows is changed only here, so the winning customer's row lock,
taken by the charge, orders every sale of that customer's bids.

The routing transaction writes the sale last, just before COMMIT, so the customer's row
is locked for one statement and the commit rather than for the whole routing. When a
condition fails, another routing took the money, the cap or the turn first: the caller
rolls back and decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from peewee import DatabaseError

from app.store.clock import utcnow
from app.store.db import database, is_postgresql, repeat
from app.store.models import BidCounter, BidState, Customer, WalletEntry

LOST_RACE = "SL409"  # SQLSTATE of sluice_sale_lost() (migration 30)


@dataclass(frozen=True)
class Sale:
    """A winning bid, with what its eligibility and rank were decided on."""

    tenant_id: int
    customer_id: int
    bid_id: str
    price_cents: int
    lead_id: int
    note: str
    at: datetime  # naive UTC: when the lead was routed
    periods: tuple[tuple[str, datetime], ...] = ()  # (period, start) of the cap and budget
    cap: tuple[str, int] | None = None  # (period, most leads)
    budget: tuple[str, int] | None = None  # (period, most cents)
    last_won: datetime | None = None  # the bid's last win as read
    check_last_won: bool = False  # the ranking depended on it (round robin, a tie)
    # The win itself is stamped with the clock when the sale is written, under the
    # customer's lock, not with `at`: so wins are ordered as they commit, and leads routed
    # at the same moment take turns.


def record_sale(sale: Sale) -> int | None:
    """Write the sale if it still holds; return the customer's new balance, else None.

    None means nothing valid was written: the caller must roll its transaction back.
    """
    if is_postgresql():
        query, params = sale_statement(sale)
        try:
            return database.execute_sql(query, params).fetchone()[0]
        except DatabaseError as error:
            if lost_race(error):
                return None
            raise
    return _record_sale_portable(sale)


def lost_race(error: Exception) -> bool:
    """Tell whether a database error is a sale's signal that it lost its race (SL409)."""
    return getattr(getattr(error, "orig", None), "pgcode", None) == LOST_RACE


def _counter_guard(sale: Sale, table: str) -> tuple[str, list]:
    """Return the ON CONFLICT ... WHERE that keeps an existing counter within its limits."""
    cap_period, cap = sale.cap or ("", 0)
    budget_period, budget = sale.budget or ("", 0)
    return (
        f"({table}.period <> %s OR {table}.leads < %s) AND "
        f"({table}.period <> %s OR {table}.spent_cents + %s <= %s)",
        [cap_period, cap, budget_period, sale.price_cents, budget],
    )


def _counter_has_room(sale: Sale):
    """Return _counter_guard as a peewee expression on BidCounter."""
    cap_period, cap = sale.cap or ("", 0)
    budget_period, budget = sale.budget or ("", 0)
    return ((BidCounter.period != cap_period) | (BidCounter.leads < cap)) & (
        (BidCounter.period != budget_period) | (BidCounter.spent_cents + sale.price_cents <= budget)
    )


def sale_statement(sale: Sale) -> tuple[str, list]:
    """Return the PostgreSQL statement writing the sale, and its parameters.

    It answers the customer's new balance, or fails with SQLSTATE SL409 (`lost_race`) when
    a condition no longer holds, aborting the transaction: so a COMMIT may follow it in the
    same round trip and applies only to a sale that held.
    """
    # One statement: the charge, then the rest only from its RETURNING, so none of them
    # happens unless the customer could pay. A counter row new in this period is inserted
    # (bidding checked that one lead at this price fits an unused cap and budget).
    params: list = [sale.price_cents, sale.customer_id, sale.price_cents]
    ctes = [
        "charged AS (UPDATE customer SET balance_cents = balance_cents - %s"
        " WHERE id = %s AND active AND balance_cents >= %s RETURNING balance_cents)"
    ]
    counted = "0"
    if sale.periods:
        values = repeat("(%s, %s::timestamp)", len(sale.periods))
        guard, guard_params = _counter_guard(sale, "c")
        ctes.append(
            "counted AS (INSERT INTO bid_counter AS c"
            " (tenant_id, bid_id, period, period_start, leads, spent_cents)"
            f" SELECT %s, %s, p.period, p.start, 1, %s FROM charged, (VALUES {values})"
            " AS p(period, start)"
            " ON CONFLICT (tenant_id, bid_id, period, period_start) DO UPDATE"
            " SET leads = c.leads + 1, spent_cents = c.spent_cents + EXCLUDED.spent_cents"
            f" WHERE {guard} RETURNING 1)"
        )
        params += [sale.tenant_id, sale.bid_id, sale.price_cents]
        params += [part for period in sale.periods for part in period]
        params += guard_params
        counted = "(SELECT count(*) FROM counted)"
    ctes.append(
        "won AS (INSERT INTO bid_state AS s (tenant_id, bid_id, last_won_at)"
        " SELECT %s, %s, clock_timestamp() AT TIME ZONE 'UTC' FROM charged"
        " ON CONFLICT (tenant_id, bid_id) DO UPDATE SET last_won_at = EXCLUDED.last_won_at"
        " WHERE NOT %s OR s.last_won_at IS NOT DISTINCT FROM %s::timestamp RETURNING 1)"
    )
    params += [sale.tenant_id, sale.bid_id, sale.check_last_won, sale.last_won]
    ctes.append(
        "entry AS (INSERT INTO wallet_entry"
        " (customer_id, kind, amount_cents, balance_after_cents, lead_id, note, created_at)"
        " SELECT %s, 'charge', %s, balance_cents, %s, %s, %s FROM charged)"
    )
    params += [sale.customer_id, -sale.price_cents, sale.lead_id, sale.note, sale.at]
    held = (
        f"(SELECT balance_cents FROM charged) IS NOT NULL AND {counted} = %s"
        " AND (SELECT count(*) FROM won) = 1"
    )
    query = (
        "WITH " + ", ".join(ctes) + f" SELECT CASE WHEN {held}"
        " THEN (SELECT balance_cents FROM charged) ELSE sluice_sale_lost(%s) END"
    )
    return query, [*params, len(sale.periods), f"bid {sale.bid_id}"]


def _record_sale_portable(sale: Sale) -> int | None:
    # SQLite: the transaction holds the database's write lock from its first statement, so
    # these cannot fail after an exact read; they are checked all the same.
    charged = list(
        Customer.update(balance_cents=Customer.balance_cents - sale.price_cents)
        .where(
            (Customer.id == sale.customer_id)
            & Customer.active
            & (Customer.balance_cents >= sale.price_cents)
        )
        .returning(Customer.balance_cents)
        .tuples()
        .execute()
    )
    if not charged:
        return None
    balance = charged[0][0]
    for period, start in sale.periods:
        counted = list(
            BidCounter.insert(
                tenant=sale.tenant_id,
                bid_id=sale.bid_id,
                period=period,
                period_start=start,
                leads=1,
                spent_cents=sale.price_cents,
            )
            .on_conflict(
                conflict_target=[
                    BidCounter.tenant,
                    BidCounter.bid_id,
                    BidCounter.period,
                    BidCounter.period_start,
                ],
                update={
                    BidCounter.leads: BidCounter.leads + 1,
                    BidCounter.spent_cents: BidCounter.spent_cents + sale.price_cents,
                },
                where=_counter_has_room(sale),
            )
            .returning(BidCounter.id)
            .tuples()
            .execute()
        )
        if not counted:
            return None
    won_at = utcnow()  # under the database's write lock: in the order the sales commit
    won = BidState.insert(tenant=sale.tenant_id, bid_id=sale.bid_id, last_won_at=won_at)
    update = {BidState.last_won_at: won_at}
    if sale.check_last_won:
        seen = (
            BidState.last_won_at.is_null()
            if sale.last_won is None
            else BidState.last_won_at == sale.last_won
        )
        won = won.on_conflict(
            conflict_target=[BidState.tenant, BidState.bid_id], update=update, where=seen
        )
    else:
        won = won.on_conflict(conflict_target=[BidState.tenant, BidState.bid_id], update=update)
    if not list(won.returning(BidState.id).tuples().execute()):
        return None
    WalletEntry.create(
        customer=sale.customer_id,
        kind="charge",
        amount_cents=-sale.price_cents,
        balance_after_cents=balance,
        lead=sale.lead_id,
        note=sale.note,
        created_at=sale.at,
    )
    return balance
