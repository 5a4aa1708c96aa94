"""Reverse auctions: a customer's want ("a lead like this one") that sources fill.

An imported CSV row is a want. Its criteria are the fields a filling lead must match,
value for value after normalization; the identity fields (who the person is, how to reach
them) are never criteria by default and never shown to sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.domain.identity import is_identity

OPEN, FILLED, EXPIRED, CANCELED = "open", "filled", "expired", "canceled"
#: Every status of an auction, in the order lists show them.
AUCTION_STATUSES = (OPEN, FILLED, EXPIRED, CANCELED)


def default_criteria(fields: Iterable[str]) -> list[str]:
    """Return the criteria of a want when none are chosen: every field but identity fields."""
    return [name for name in fields if not is_identity(name)]


def mismatch(criteria: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """Return why a lead's normalized values do not fill a want's criteria, or None."""
    for name, wanted in criteria.items():
        if name not in values:
            return f"{name}: the lead has no value, the auction wants {wanted!r}"
        if values[name] != wanted:
            return f"{name}: the lead has {values[name]!r}, the auction wants {wanted!r}"
    return None
