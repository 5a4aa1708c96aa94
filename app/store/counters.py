"""Reading the bid counters behind caps and budgets, and when each bid last won.

They are written only with a sale (app/store/sales.py), by the statement that charges the
bid's customer: reading them after locking that customer's row gives exact figures, and
reading them without the lock gives figures the sale re-checks.
"""

from __future__ import annotations

from datetime import datetime

from app.store.db import execute, repeat
from app.store.models import BidCounter, Customer


def read_bidding(
    tenant_id: int, slugs: set[str], keys: list[tuple[str, str, datetime]], bid_ids: list[str]
) -> tuple[dict[str, Customer], dict[tuple, tuple[int, int]], dict[str, datetime]]:
    """Return (customers by slug, usage as `usage` returns it, last wins) in one query.

    Nothing is locked: bidding decides on this and the sale re-checks (app/store/sales.py).
    """
    slugs_in, params = _in(sorted(slugs), [tenant_id])
    parts = [
        "SELECT 'c', slug, CAST(NULL AS TEXT), CAST(NULL AS TIMESTAMP), id, balance_cents,"
        " CAST(active AS INTEGER), public_id, name"
        f" FROM customer WHERE tenant_id = %s AND slug IN {slugs_in}"
    ]
    wanted = set(keys)
    if keys:
        counter_ids, params = _in(sorted({key[0] for key in keys}), params + [tenant_id])
        starts, params = _in(sorted({key[2] for key in keys}), params)
        parts.append(
            "SELECT 'u', bid_id, period, period_start, leads, spent_cents, NULL, NULL, NULL"
            f" FROM bid_counter WHERE tenant_id = %s AND bid_id IN {counter_ids}"
            f" AND period_start IN {starts}"
        )
    if bid_ids:
        won_ids, params = _in(sorted(set(bid_ids)), params + [tenant_id])
        parts.append(
            "SELECT 'w', bid_id, NULL, last_won_at, NULL, NULL, NULL, NULL, NULL"
            f" FROM bid_state WHERE tenant_id = %s AND bid_id IN {won_ids}"
        )
    customers, used, last_won = {}, {}, {}
    when = BidCounter.period_start.python_value
    for kind, name, period, at, number, cents, flag, ref, label in execute(
        " UNION ALL ".join(parts), params
    ).fetchall():
        if kind == "c":
            customers[name] = Customer(
                __no_default__=1, id=number, tenant=tenant_id, slug=name, public_id=ref, name=label,
                balance_cents=cents, active=bool(flag),
            )  # fmt: skip
        elif kind == "u" and (name, period, when(at)) in wanted:
            used[(name, period, when(at))] = (number, cents)
        elif kind == "w":
            last_won[name] = when(at)
    return customers, used, last_won


def _in(values: list, params: list) -> tuple[str, list]:
    """Return an `IN (...)` list of placeholders for the values, and params extended by them."""
    return f"({repeat('%s', len(values))})", params + list(values)
