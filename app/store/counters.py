"""Reading the bid counters behind caps and budgets, and when each bid last won.

They are written only with a sale (app/store/sales.py), by the statement that charges the
bid's customer: reading them after locking that customer's row gives exact figures, and
reading them without the lock gives figures the sale re-checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.store.db import execute, repeat
from app.store.models import BidCounter, Customer


@dataclass(frozen=True)
class BiddingRead:
    """What bidding reads for its candidate bids: their customers, counters and last wins."""

    tenant_id: int
    slugs: frozenset[str]
    keys: tuple[tuple[str, str, datetime], ...]  # (bid id, period, period start)
    bid_ids: tuple[str, ...]

    def query(self) -> tuple[str, list]:
        """Return the read as one SELECT of rows shaped (kind, name, period, at, number,
        cents, flag, ref, label), and its parameters."""
        tenant_id = self.tenant_id
        slugs_in, params = _in(sorted(self.slugs), [tenant_id])
        parts = [
            "SELECT 'c', slug, CAST(NULL AS TEXT), CAST(NULL AS TIMESTAMP), id, balance_cents,"
            " CAST(active AS INTEGER), public_id, name"
            f" FROM customer WHERE tenant_id = %s AND slug IN {slugs_in}"
        ]
        if self.keys:
            counter_ids, params = _in(sorted({key[0] for key in self.keys}), params + [tenant_id])
            starts, params = _in(sorted({key[2] for key in self.keys}), params)
            parts.append(
                "SELECT 'u', bid_id, period, period_start, leads, spent_cents, NULL, NULL, NULL"
                f" FROM bid_counter WHERE tenant_id = %s AND bid_id IN {counter_ids}"
                f" AND period_start IN {starts}"
            )
        if self.bid_ids:
            won_ids, params = _in(sorted(set(self.bid_ids)), params + [tenant_id])
            parts.append(
                "SELECT 'w', bid_id, NULL, last_won_at, NULL, NULL, NULL, NULL, NULL"
                f" FROM bid_state WHERE tenant_id = %s AND bid_id IN {won_ids}"
            )
        return " UNION ALL ".join(parts), params

    def result(self, rows) -> tuple[dict[str, Customer], dict[tuple, tuple[int, int]], dict]:
        """Return (customers by slug, usage by (bid id, period, start), last wins) of the
        query's rows."""
        customers, used, last_won = {}, {}, {}
        wanted = set(self.keys)
        when = BidCounter.period_start.python_value
        for kind, name, period, at, number, cents, flag, ref, label in rows:
            if kind == "c":
                customers[name] = Customer(
                    __no_default__=1,
                    id=number,
                    tenant=self.tenant_id,
                    slug=name,
                    public_id=ref,
                    name=label,
                    balance_cents=cents,
                    active=bool(flag),
                )
            elif kind == "u" and (name, period, when(at)) in wanted:
                used[(name, period, when(at))] = (number, cents)
            elif kind == "w":
                last_won[name] = when(at)
        return customers, used, last_won


def read_bidding(read: BiddingRead):
    """Return what bidding reads, as `BiddingRead.result` returns it, in one query.

    Nothing is locked: bidding decides on this and the sale re-checks (app/store/sales.py).
    """
    query, params = read.query()
    return read.result(execute(query, params).fetchall())


def _in(values: list, params: list) -> tuple[str, list]:
    """Return an `IN (...)` list of placeholders for the values, and params extended by them."""
    return f"({repeat('%s', len(values))})", params + list(values)
