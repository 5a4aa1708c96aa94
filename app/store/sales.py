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

from app.domain.clock import utcnow
from app.store.db import execute, is_postgresql, repeat, sqlstate

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
            return execute(query, params).fetchone()[0]
        except DatabaseError as error:
            if lost_race(error):
                return None
            raise
    return _record_sale_portable(sale)


def lost_race(error: Exception) -> bool:
    """Tell whether a database error is a sale's signal that it lost its race (SL409)."""
    return sqlstate(error) == LOST_RACE


# The sale's statements, shared by PostgreSQL (as one statement of CTEs, each fed by the
# charge's RETURNING) and SQLite (one by one).
_CHARGE = (
    "UPDATE customer SET balance_cents = balance_cents - %s"
    " WHERE id = %s AND active AND balance_cents >= %s RETURNING balance_cents"
)
_COUNT = (
    "INSERT INTO bid_counter AS c (tenant_id, bid_id, period, period_start, leads, spent_cents)"
)
_COUNT_CONFLICT = (
    " ON CONFLICT (tenant_id, bid_id, period, period_start) DO UPDATE"
    " SET leads = c.leads + 1, spent_cents = c.spent_cents + excluded.spent_cents"
    " WHERE {guard} RETURNING 1"
)
_WIN = "INSERT INTO bid_state AS s (tenant_id, bid_id, last_won_at)"
_WIN_CONFLICT = (
    " ON CONFLICT (tenant_id, bid_id) DO UPDATE SET last_won_at = excluded.last_won_at"
    " WHERE NOT %s OR s.last_won_at {same} RETURNING 1"
)
_ENTRY = (
    "INSERT INTO wallet_entry"
    " (customer_id, kind, amount_cents, balance_after_cents, lead_id, note, created_at)"
)


def _counter_guard(sale: Sale) -> tuple[str, list]:
    """Return the ON CONFLICT ... WHERE that keeps an existing counter within its limits."""
    cap_period, cap = sale.cap or ("", 0)
    budget_period, budget = sale.budget or ("", 0)
    return (
        "(c.period <> %s OR c.leads < %s) AND (c.period <> %s OR c.spent_cents + %s <= %s)",
        [cap_period, cap, budget_period, sale.price_cents, budget],
    )


def sale_statement(sale: Sale) -> tuple[str, list]:
    """Return the PostgreSQL statement writing the sale, and its parameters.

    It answers the customer's new balance, or fails with SQLSTATE SL409 (`lost_race`) when
    a condition no longer holds, aborting the transaction: so a COMMIT may follow it in the
    same round trip and applies only to a sale that held.
    """
    ctes, params, held, held_params = sale_ctes(sale)
    query = f"WITH {', '.join(ctes)} SELECT {held}"
    return query, [*params, *held_params]


def sale_ctes(sale: Sale, lead_ref: str | None = None) -> tuple[list[str], list, str, list]:
    """Return the sale as PostgreSQL CTEs: (CTEs, their parameters, the expression that
    answers the new balance or raises SL409, its parameters).

    The wallet entry's lead is `sale.lead_id`, or with `lead_ref` an SQL expression of the
    enclosing statement (the id of a lead that statement inserts).
    """
    # The charge, then the rest only from its RETURNING, so none of them happens unless the
    # customer could pay. A counter row new in this period is inserted (bidding checked
    # that one lead at this price fits an unused cap and budget).
    params: list = [sale.price_cents, sale.customer_id, sale.price_cents]
    ctes = [f"charged AS ({_CHARGE})"]
    counted = "0"
    if sale.periods:
        values = repeat("(%s, %s::timestamp)", len(sale.periods))
        guard, guard_params = _counter_guard(sale)
        ctes.append(
            f"counted AS ({_COUNT} SELECT %s, %s, p.period, p.start, 1, %s FROM charged,"
            f" (VALUES {values}) AS p(period, start){_COUNT_CONFLICT.format(guard=guard)})"
        )
        params += [sale.tenant_id, sale.bid_id, sale.price_cents]
        params += [part for period in sale.periods for part in period]
        params += guard_params
        counted = "(SELECT count(*) FROM counted)"
    same = _WIN_CONFLICT.format(same="IS NOT DISTINCT FROM %s::timestamp")
    ctes.append(
        f"won AS ({_WIN} SELECT %s, %s, clock_timestamp() AT TIME ZONE 'UTC' FROM charged{same})"
    )
    params += [sale.tenant_id, sale.bid_id, sale.check_last_won, sale.last_won]
    ctes.append(
        f"entry AS ({_ENTRY} SELECT %s, 'charge', %s, balance_cents, {lead_ref or '%s'}, %s,"
        " %s FROM charged)"
    )
    params += [sale.customer_id, -sale.price_cents]
    params += [sale.lead_id] if lead_ref is None else []
    params += [sale.note, sale.at]
    held = (
        f"CASE WHEN (SELECT balance_cents FROM charged) IS NOT NULL AND {counted} = %s"
        " AND (SELECT count(*) FROM won) = 1"
        " THEN (SELECT balance_cents FROM charged) ELSE sluice_sale_lost(%s) END"
    )
    return ctes, params, held, [len(sale.periods), f"bid {sale.bid_id}"]


def _record_sale_portable(sale: Sale) -> int | None:
    # SQLite: the transaction holds the database's write lock from its first statement, so
    # these cannot fail after an exact read; they are checked all the same.
    charged = execute(_CHARGE, [sale.price_cents, sale.customer_id, sale.price_cents]).fetchall()
    if not charged:
        return None
    balance = charged[0][0]
    guard, guard_params = _counter_guard(sale)
    for period, start in sale.periods:
        counted = execute(
            f"{_COUNT} VALUES (%s, %s, %s, %s, 1, %s){_COUNT_CONFLICT.format(guard=guard)}",
            [sale.tenant_id, sale.bid_id, period, start, sale.price_cents, *guard_params],
        ).fetchall()
        if not counted:
            return None
    won_at = utcnow()  # under the database's write lock: in the order the sales commit
    won = execute(
        f"{_WIN} VALUES (%s, %s, %s){_WIN_CONFLICT.format(same='IS %s')}",
        [sale.tenant_id, sale.bid_id, won_at, sale.check_last_won, sale.last_won],
    ).fetchall()
    if not won:
        return None
    execute(
        f"{_ENTRY} VALUES (%s, 'charge', %s, %s, %s, %s, %s)",
        [sale.customer_id, -sale.price_cents, balance, sale.lead_id, sale.note, sale.at],
    )
    return balance
