"""The lead as the rules see it: normalized field values plus `@` metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
