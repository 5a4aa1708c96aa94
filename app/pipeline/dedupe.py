"""Dedupe: a lead whose key was seen within a check's window is a duplicate, never sold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.store import dedupe as history
from app.store.clock import naive


@dataclass(frozen=True)
class Duplicate:
    check: str  # the dedupe check's label
    original_lead_id: int | None
    seen_at: datetime


def find_duplicate(
    lead: dict[str, Any], ruleset, category: str, *, tenant_id: int, lead_row, now: datetime
) -> Duplicate | None:
    """Return the duplicate match, or None after recording the lead's keys in the history.

    Runs inside the routing transaction: the key rows stay locked until it commits, so of
    two simultaneous leads with the same key the second sees the first one's record.
    """
    keys = ruleset.dedupe_keys(lead, category)
    if not keys:
        return None
    checks = [(history.key_hash(category, key), check) for check, key in keys]
    rows = history.lock_keys(tenant_id, [digest for digest, _ in checks])
    at = naive(now)
    windows = [(digest, check.window) for digest, check in checks]
    match = history.find_match(rows, windows, at, lead_row.id)
    if match is not None:
        label = next(check.label for digest, check in checks if digest == match.key_hash)
        return Duplicate(label, match.lead_id, match.last_seen_at)
    history.remember(rows, lead_row, at)
    return None
