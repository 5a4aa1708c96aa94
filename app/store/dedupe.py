"""Dedupe history: one row per (tenant, key), locked while a lead with that key is routed.

A lead that passes the dedupe stage is recorded on its keys with the rest of its routing
(app/store/routing.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.store import counters
from app.store.counters import BiddingRead
from app.store.db import execute, is_postgresql, repeat
from app.store.models import DedupeKey


@dataclass(frozen=True)
class Match:
    key_hash: str
    window: timedelta
    lead_id: int | None
    last_seen_at: datetime


def key_hash(category: str, key: str) -> str:
    """Return the stored form of a dedupe key (keys hold personal data: hash them)."""
    return hashlib.sha256(f"{category}\n{key}".encode()).hexdigest()


def lock_keys(
    tenant_id: int, hashes: list[str], read: BiddingRead | None = None
) -> tuple[dict[str, DedupeKey], Any]:
    """Return the key rows, created if new, row-locked until the transaction ends, and what
    `read` (bidding's read, sent in the same statement: a round trip less) found, or None.

    One upsert creates the new rows and locks the others (its no-op update locks them as
    FOR UPDATE would), in hash order, so leads sharing several keys never deadlock. A
    second lead with the same key waits here until the first one commits, then reads the
    `last_seen_at` the first one wrote.
    """
    ordered = sorted(set(hashes))
    values = repeat("(%s, %s)", len(ordered))
    params = [part for digest in ordered for part in (tenant_id, digest)]
    upsert = (
        f"INSERT INTO dedupe_key (tenant_id, key_hash) VALUES {values}"
        " ON CONFLICT (tenant_id, key_hash) DO UPDATE SET key_hash = excluded.key_hash"
        " RETURNING id, key_hash, last_seen_at, lead_id"
    )
    if read is None or not is_postgresql():
        rows = execute(upsert, params).fetchall()
        found = None if read is None else counters.read_bidding(read)
    else:  # one statement: the upsert's rows tagged 'k', shaped as the read's
        query, read_params = read.query()
        rows, read_rows = [], []
        for row in execute(
            f"WITH k AS ({upsert}) SELECT 'k', key_hash, NULL, last_seen_at, id, lead_id,"
            f" NULL, NULL, NULL FROM k UNION ALL {query}",
            params + read_params,
        ).fetchall():
            if row[0] == "k":
                rows.append((row[4], row[1], row[3], row[5]))
            else:
                read_rows.append(row)
        found = read.result(read_rows)
    seen = DedupeKey.last_seen_at.python_value
    keys = {
        digest: DedupeKey(
            __no_default__=1,  # a row read back: no defaults to make
            id=row_id,
            tenant=tenant_id,
            key_hash=digest,
            last_seen_at=seen(at),
            lead=lead,
        )
        for row_id, digest, at, lead in rows
    }
    return keys, found


def find_match(
    rows: dict[str, DedupeKey],
    checks: list[tuple[str, timedelta]],
    now: datetime,
    lead_id: int | None = None,
) -> Match | None:
    """Return the first (hash, window) whose key was seen within its window, or None.

    A key last seen on `lead_id` itself (a lead being reprocessed) is no duplicate.
    """
    for digest, window in checks:
        row = rows[digest]
        if row.lead_id is not None and row.lead_id == lead_id:
            continue
        if row.last_seen_at is not None and row.last_seen_at >= now - window:
            return Match(digest, window, row.lead_id, row.last_seen_at)
    return None
