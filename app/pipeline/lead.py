"""The lead as the rules see it: normalized field values plus `@` metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from app.domain.clock import aware
from app.dsl.fieldtypes import format_datetime


def build_lead(
    values: dict[str, Any],
    *,
    category: str,
    source: str,
    partner: str | None,
    received_at: datetime,
    is_test: bool,
) -> dict[str, Any]:
    """Return the dict a RuleSet evaluates: field values and the lead's metadata."""
    lead = dict(values)
    lead.update(
        {
            "@category": category,
            "@source": source,
            "@partner": partner,
            "@received_at": format_datetime(received_at),
            "@is_test": is_test,
        }
    )
    return lead


class StoredLead(Protocol):
    """What a stored lead (the store's row) offers the rules."""

    data: dict[str, Any]
    category: str
    partner_id: str | None
    received_at: datetime
    is_test: bool


def lead_from_row(row: StoredLead, source_name: str) -> dict[str, Any]:
    """Return the dict a RuleSet evaluates for a stored lead row."""
    return build_lead(
        row.data,
        category=row.category,
        source=source_name,
        partner=row.partner_id,
        received_at=aware(row.received_at),
        is_test=row.is_test,
    )
