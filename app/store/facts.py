"""Reading what routing decides on, inside the routing transaction: the dedupe history of the
lead's keys, and its candidate bids' customers, cap and budget counters and last wins.

The keys' rows are created if new and locked until the transaction ends, by one upsert in
key-hash order (its no-op update locks an existing row as FOR UPDATE would), so leads
sharing several keys never deadlock, and a second lead with a key waits here until the
first commits, then reads the `last_seen_at` the first one wrote. The bids' facts are read
without locks: the sale re-checks what the winner was chosen on (app/store/sales.py); the
counters and last wins are written only by the sale, under its customer's row lock, so
reading them after locking the customers (`lock_customers`) gives exact figures.

On PostgreSQL both reads are one statement, a round trip for every lead.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.routing import CustomerFacts, Facts, Needs, SeenKey
from app.store.customers import lock_customers
from app.store.db import execute, is_postgresql, repeat
from app.store.models import BidCounter, DedupeKey

#: Every read's rows are shaped (kind, name, period, at, number, cents, flag, ref):
#: 'k' a key (hash, last seen, lead, the lead's public id), 'c' a customer (slug, id,
#: balance, active, public id), 'u' a counter (bid, period, start, leads, cents), 'w' a last
#: win (bid, when).
_KEYS = (
    "INSERT INTO dedupe_key (tenant_id, key_hash) VALUES {values}"
    " ON CONFLICT (tenant_id, key_hash) DO UPDATE SET key_hash = excluded.key_hash"
    " RETURNING key_hash, last_seen_at, lead_id"
)
_KEY_ROWS = (
    "SELECT 'k', k.key_hash, CAST(NULL AS TEXT), k.last_seen_at, k.lead_id, CAST(NULL AS BIGINT),"
    " CAST(NULL AS INTEGER), l.public_id FROM k LEFT JOIN lead l ON l.id = k.lead_id"
)


@dataclass(frozen=True)
class FactsQuery:
    """The statements reading a lead's `Needs` for one tenant, and the `Facts` of their rows."""

    tenant_id: int
    needs: Needs

    def keys_statement(self) -> tuple[str, list]:
        """Return the upsert creating and locking the key rows (CTE `k`), and its parameters."""
        hashes = self.needs.key_hashes  # sorted: the rows are locked in this order
        params = [part for digest in hashes for part in (self.tenant_id, digest)]
        return _KEYS.format(values=repeat("(%s, %s)", len(hashes))), params

    def bidding_statement(self) -> tuple[str, list]:
        """Return the SELECT of the candidates' customers, counters and last wins."""
        needs, tenant_id = self.needs, self.tenant_id
        slugs_in, params = _in(list(needs.customers), [tenant_id])
        parts = [
            "SELECT 'c', slug, CAST(NULL AS TEXT), CAST(NULL AS TIMESTAMP), id, balance_cents,"
            " CAST(active AS INTEGER), public_id"
            f" FROM customer WHERE tenant_id = %s AND slug IN {slugs_in}"
        ]
        if needs.counters:
            bids_in, params = _in(sorted({key[0] for key in needs.counters}), params + [tenant_id])
            starts_in, params = _in(sorted({key[2] for key in needs.counters}), params)
            parts.append(
                "SELECT 'u', bid_id, period, period_start, leads, spent_cents, NULL, NULL"
                f" FROM bid_counter WHERE tenant_id = %s AND bid_id IN {bids_in}"
                f" AND period_start IN {starts_in}"
            )
        if needs.bids:
            won_in, params = _in(sorted(set(needs.bids)), params + [tenant_id])
            parts.append(
                "SELECT 'w', bid_id, NULL, last_won_at, NULL, NULL, NULL, NULL"
                f" FROM bid_state WHERE tenant_id = %s AND bid_id IN {won_in}"
            )
        return " UNION ALL ".join(parts), params

    def facts(self, rows) -> Facts:
        """Return the facts in the rows of these statements."""
        keys, customers, usage, last_won = {}, {}, {}, {}
        wanted = set(self.needs.counters)
        seen = DedupeKey.last_seen_at.python_value
        when = BidCounter.period_start.python_value
        for kind, name, period, at, number, cents, flag, ref in rows:
            if kind == "k":
                keys[name] = SeenKey(seen(at), number, ref)
            elif kind == "c":
                customers[name] = CustomerFacts(number, ref, name, bool(flag), cents)
            elif kind == "u":
                key = (name, period, when(at))
                if key in wanted:
                    usage[key] = (number, cents)
            elif kind == "w":
                last_won[name] = when(at)
        return Facts(keys, customers, usage, last_won)


def fetch_facts(tenant_id: int, needs: Needs, *, lock_buyers: bool = False) -> Facts:
    """Return what routing needs to decide, read in the caller's transaction.

    With `lock_buyers`, the candidates' customers are locked (in id order) before their
    facts are read: the figures are then exact, and the sale cannot lose its race.
    """
    query = FactsQuery(tenant_id, needs)
    rows: list = []
    if needs.key_hashes:
        upsert, params = query.keys_statement()
        if not is_postgresql():
            rows += _key_rows_portable(upsert, params)
        elif needs.bidding and not lock_buyers:  # one statement: a round trip less
            bidding, bidding_params = query.bidding_statement()
            sql = f"WITH k AS ({upsert}) {_KEY_ROWS} UNION ALL {bidding}"
            return query.facts(execute(sql, params + bidding_params).fetchall())
        else:
            rows += execute(f"WITH k AS ({upsert}) {_KEY_ROWS}", params).fetchall()
    if needs.bidding:
        if lock_buyers:
            lock_customers(tenant_id, set(needs.customers))
        rows += execute(*query.bidding_statement()).fetchall()
    return query.facts(rows)


_PEEK_KEYS = (
    "SELECT 'k', k.key_hash, CAST(NULL AS TEXT), k.last_seen_at, k.lead_id, CAST(NULL AS BIGINT),"
    " CAST(NULL AS INTEGER), l.public_id FROM dedupe_key k LEFT JOIN lead l ON l.id = k.lead_id"
    " WHERE k.tenant_id = %s AND k.key_hash IN {hashes}"
)


def peek_facts(tenant_id: int, needs: Needs) -> Facts:
    """Return what routing would decide on, read without writing or locking anything (a
    ping's bidding): one statement, outside any transaction."""
    query = FactsQuery(tenant_id, needs)
    parts, params = [], []
    if needs.key_hashes:
        hashes_in, params = _in(list(needs.key_hashes), [tenant_id])
        parts.append(_PEEK_KEYS.format(hashes=hashes_in))
    if needs.bidding:
        bidding, bidding_params = query.bidding_statement()
        parts.append(bidding)
        params += bidding_params
    if not parts:
        return query.facts([])
    return query.facts(execute(" UNION ALL ".join(parts), params).fetchall())


def _key_rows_portable(upsert: str, params: list) -> list[tuple]:
    """Run the keys' upsert alone (SQLite: no RETURNING in a CTE); return its rows shaped as
    the key rows, the original leads' public ids read next."""
    returned = execute(upsert, params).fetchall()
    lead_ids = sorted({lead_id for _, _, lead_id in returned if lead_id is not None})
    originals = {}
    if lead_ids:
        found = execute(
            f"SELECT id, public_id FROM lead WHERE id IN ({repeat('%s', len(lead_ids))})", lead_ids
        )
        originals = dict(found.fetchall())
    return [
        ("k", digest, None, at, lead_id, None, None, originals.get(lead_id))
        for digest, at, lead_id in returned
    ]


def _in(values: list, params: list) -> tuple[str, list]:
    """Return an `IN (...)` list of placeholders for the values, and params extended by them."""
    return f"({repeat('%s', len(values))})", params + list(values)


__all__ = ["FactsQuery", "fetch_facts", "peek_facts"]
