"""Dedupe history: one row per (tenant, key), locked while a lead with that key is routed.

A lead that passes the dedupe stage is recorded on its keys with the rest of its routing
(app/store/routing.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.store.db import execute, repeat
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


def lock_keys(tenant_id: int, hashes: list[str]) -> dict[str, DedupeKey]:
    """Return the key rows, created if new, row-locked until the transaction ends.

    One upsert creates the new rows and locks the others (its no-op update locks them as
    FOR UPDATE would), in hash order, so leads sharing several keys never deadlock. A
    second lead with the same key waits here until the first one commits, then reads the
    `last_seen_at` the first one wrote.
    """
    ordered = sorted(set(hashes))
    if not ordered:
        return {}
    values = repeat("(%s, %s)", len(ordered))
    params = [part for digest in ordered for part in (tenant_id, digest)]
    cursor = execute(
        f"INSERT INTO dedupe_key (tenant_id, key_hash) VALUES {values}"
        " ON CONFLICT (tenant_id, key_hash) DO UPDATE SET key_hash = excluded.key_hash"
        " RETURNING id, key_hash, last_seen_at, lead_id",
        params,
    )
    seen = DedupeKey.last_seen_at.python_value
    return {
        digest: DedupeKey(
            __no_default__=1,  # a row read back: no defaults to make
            id=row_id,
            tenant=tenant_id,
            key_hash=digest,
            last_seen_at=seen(at),
            lead=lead,
        )
        for row_id, digest, at, lead in cursor.fetchall()
    }


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
