"""Dedupe history as live routing keeps it: keys hashed as stored, and their history entries.

The decision itself (a key recorded within the check's window makes a duplicate; a missing
field skips the check; only a lead that passes is recorded on its keys) is the router's
(app/pipeline/router.py). Here: a lead's keys as the store finds them (SHA-256 of the
category and the normalized key: keys hold personal data), and the entries the router reads
from what the store found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from app.domain.routing import SeenKey
from app.dsl.ruleset import DedupeCheck, RuleSet
from app.pipeline.bidding import NEVER, epoch

#: A live history entry: [when the key was last recorded (epoch seconds, NEVER: not, or on
#: this very lead), its hash, the public id of the lead it was recorded on]
Entry = list[Any]


def key_hash(category: str, key: str) -> str:
    """Return the stored form of a dedupe key."""
    return hashlib.sha256(f"{category}\n{key}".encode()).hexdigest()


def lead_key_hashes(
    ruleset: RuleSet, lead: Mapping[str, Any], category: str
) -> dict[DedupeCheck, str]:
    """Return {check: key hash} of the lead's dedupe checks whose fields are all present."""
    return {check: key_hash(category, key) for check, key in ruleset.dedupe_keys(lead, category)}


def history_entry(digest: str, seen: SeenKey | None, lead_id: int | None) -> Entry:
    """Return the router's entry of a key as read. A key last recorded on the lead itself (a
    lead routed again) makes no duplicate: it reads as never recorded."""
    if seen is None or seen.last_seen_at is None:
        return [NEVER, digest, None]
    if lead_id is not None and seen.lead_id == lead_id:
        return [NEVER, digest, None]
    return [epoch(seen.last_seen_at), digest, seen.original]
