"""Dedupe: a lead whose key was seen within a check's window is a duplicate, never sold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.clock import naive
from app.store import dedupe as history
from app.store.counters import BiddingRead


@dataclass(frozen=True)
class Duplicate:
    check: str  # the dedupe check's label
    original_lead_id: int | None
    seen_at: datetime


def find_duplicate(
    lead: dict[str, Any],
    ruleset,
    category: str,
    *,
    tenant_id: int,
    lead_row,
    now: datetime,
    read: BiddingRead | None = None,
) -> tuple[Duplicate | None, list[int], Any]:
    """Return (the duplicate match or None, the ids of the key rows to record the lead on,
    what `read` found or None).

    Runs inside the routing transaction: the key rows stay locked until it commits, so of
    two simultaneous leads with the same key the second sees the first one's record. The
    lead is recorded on its keys (app/store/routing.py) only when it is no duplicate.
    `read`, bidding's read, goes with the keys' statement when there are keys.
    """
    keys = ruleset.dedupe_keys(lead, category)
    if not keys:
        return None, [], None
    checks = [(history.key_hash(category, key), check) for check, key in keys]
    rows, found = history.lock_keys(tenant_id, [digest for digest, _ in checks], read)
    windows = [(digest, check.window) for digest, check in checks]
    match = history.find_match(rows, windows, naive(now), lead_row.id)
    if match is not None:
        label = next(check.label for digest, check in checks if digest == match.key_hash)
        return Duplicate(label, match.lead_id, match.last_seen_at), [], found
    return None, [row.id for row in rows.values()], found
