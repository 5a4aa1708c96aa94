"""Validating an intake's submitted fields: app/pipeline/leadfields.py's `check_lead`,
its errors raised as the API's 422."""

from __future__ import annotations

from typing import Any

from app.api.errors import ValidationFailed
from app.pipeline.leadfields import REQUIRED, RESERVED, LeadField, check_lead, lead_fields

__all__ = ["REQUIRED", "RESERVED", "LeadField", "lead_fields", "validate_lead"]


def validate_lead(
    submitted: dict[str, Any],
    ruleset,
    category: str,
    *,
    test_mode: bool,
    extra_required: frozenset[str] = frozenset(),
    require_zip: bool = True,
) -> tuple[dict[str, Any], bool, list[str]]:
    """Return (normalized values, is_test, notes); raise ValidationFailed with every error."""
    values, is_test, notes, errors = check_lead(
        submitted,
        ruleset,
        category,
        test_mode=test_mode,
        extra_required=extra_required,
        require_zip=require_zip,
    )
    if errors:
        raise ValidationFailed(errors)
    return values, is_test, notes
