"""Reverse auctions: a customer's want ("a lead like this one") that sources fill.

An imported CSV row is a want. Its criteria are the fields a filling lead must match,
value for value after normalization; the identity fields (who the person is, how to reach
them) are never criteria by default and never shown to sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

OPEN, FILLED, EXPIRED, CANCELED = "open", "filled", "expired", "canceled"
#: Every status of an auction, in the order lists show them.
AUCTION_STATUSES = (OPEN, FILLED, EXPIRED, CANCELED)

#: Fields that say who a person is or how to reach them: never a default criterion, never
#: shown to sources. The one list: the import's defaults and the sources' view use it.
IDENTITY_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "name",
        "full_name",
        "email",
        "phone",
        "mobile",
        "phone_2",
        "address",
        "address_1",
        "address_2",
        "address_line_1",
        "address_line_2",
        "street",
        "ip",
        "ip_address",
        "date_of_birth",
        "dob",
        "ssn",
        "trusted_form_url",
        "jornaya_lead_id",
    }
)


def is_identity(field: str) -> bool:
    """Tell whether a field names or reaches a person (never a default criterion)."""
    return field in IDENTITY_FIELDS


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
