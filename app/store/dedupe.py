"""Dedupe history: one row per (tenant, key), locked while a lead with that key is routed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.store.db import is_postgresql
from app.store.models import DedupeKey, Lead


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

    Rows are created and locked in hash order, so leads sharing several keys never
    deadlock. A second lead with the same key waits here until the first one commits,
    then reads the `last_seen_at` the first one wrote.
    """
    ordered = sorted(set(hashes))
    if ordered:  # one INSERT; its rows go in (and take their index locks) in hash order
        rows = [{"tenant": tenant_id, "key_hash": digest} for digest in ordered]
        DedupeKey.insert_many(rows).on_conflict_ignore().execute()
    query = (
        DedupeKey.select()
        .where((DedupeKey.tenant == tenant_id) & DedupeKey.key_hash.in_(ordered))
        .order_by(DedupeKey.key_hash)
    )
    if is_postgresql():
        query = query.for_update()
    return {row.key_hash: row for row in query}


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


def remember(rows: dict[str, DedupeKey], lead: Lead, now: datetime) -> None:
    """Record the lead as the latest one seen with each key."""
    if rows:
        (
            DedupeKey.update(last_seen_at=now, lead=lead.id)
            .where(DedupeKey.id.in_([row.id for row in rows.values()]))
            .execute()
        )
