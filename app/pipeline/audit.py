"""Audits: conditions that hold a lead back for review instead of distributing it."""

from __future__ import annotations

from typing import Any


def audit(lead: dict[str, Any], ruleset, category: str) -> list[str]:
    """Return the labels of the audits that flag the lead (empty: the lead goes on)."""
    return [check.label for check in ruleset.audits(lead, category)]
