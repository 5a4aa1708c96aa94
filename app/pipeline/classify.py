"""Classification: the lead type whose condition holds first, by priority."""

from __future__ import annotations

from typing import Any


def classify(lead: dict[str, Any], ruleset, category: str):
    """Return the lead's LeadType, or None when no lead type (nor fallback) takes it."""
    return ruleset.classify(lead, category)
