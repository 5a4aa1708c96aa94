"""Validating submitted fields against a category's field reference.

The field list of each (rule set, category) is built once from the compiled rule set: one
entry per declared field, required when the rules say "required for post", `zip` always.
Values come out normalized (phone E.164, trimmed text, canonical choices), as the rules
expect them. The fields are dynamic (the tenant's rules declare them), so this is a plain
loop over them rather than a marshmallow schema: marshmallow's per-field machinery cost
as much as the normalizing itself on the intake's hot path (docs/architecture.md).
The intake (app/api/lead_schema.py) and the CSV import (app/services/imports.py) both
validate with `check_lead`.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from app.dsl.fieldtypes import is_blank, normalize_value

REQUIRED = "This field is required."
RESERVED = {
    "ping_id": "Ping-post is not available yet: post the lead without ping_id.",
    "bid_id": "Ping-post is not available yet: post the lead without bid_id.",
}
_specs: dict[tuple[Any, ...], tuple[LeadField, ...]] = {}
_lock = threading.Lock()


class LeadField(NamedTuple):
    """A field a lead may carry: its rules type, allowed choices, and whether required."""

    name: str
    type: str
    choices: tuple[str, ...]
    required: bool


def lead_fields(
    ruleset: Any,
    category: str,
    *,
    extra_required: frozenset[str] = frozenset(),
    require_zip: bool = True,
) -> tuple[LeadField, ...]:
    """Return the (cached) fields a category's leads are validated against under this rule set.

    Required: the fields the rules mark required(post), those of `extra_required` that the
    category declares, and `zip` (declared or not) when `require_zip`.
    """
    key = (ruleset.content_hash, category, extra_required, require_zip)
    with _lock:
        spec = _specs.get(key)
    if spec is not None:
        return spec
    declared = {
        field.name: LeadField(
            field.name,
            field.type,
            tuple(field.choices),
            field.required_post
            or field.name in extra_required
            or (require_zip and field.name == "zip"),
        )
        for field in ruleset.categories[category].fields
        if field.name not in RESERVED and field.name != "is_test"  # checked apart
    }
    if require_zip and "zip" not in declared:
        declared["zip"] = LeadField("zip", "zip", (), True)
    spec = tuple(declared.values())
    with _lock:
        if len(_specs) > 256:
            _specs.clear()
        _specs[key] = spec
    return spec


def check_lead(
    submitted: dict[str, Any],
    ruleset: Any,
    category: str,
    *,
    test_mode: bool,
    extra_required: frozenset[str] = frozenset(),
    require_zip: bool = True,
) -> tuple[dict[str, Any], bool, list[str], dict[str, list[str]]]:
    """Return (normalized values, is_test, notes, errors by field, sorted; empty if valid)."""
    errors: dict[str, list[str]] = {}
    for name, message in RESERVED.items():
        if not is_blank(submitted.get(name)):
            errors[name] = [message]
    notes = []
    is_test = test_mode
    if not is_blank(submitted.get("is_test")):
        if not test_mode:
            notes.append("is_test was ignored: the source is not in test mode.")
        else:
            try:
                normalize_value("bool", submitted["is_test"])
            except ValueError as error:
                errors["is_test"] = [str(error)]
    values: dict[str, Any] = {}
    for field in lead_fields(
        ruleset, category, extra_required=extra_required, require_zip=require_zip
    ):
        value = submitted.get(field.name)
        if is_blank(value):  # empty counts as not sent, so a blank required field reads so
            if field.required:
                errors[field.name] = [REQUIRED]
            continue
        try:
            values[field.name] = normalize_value(field.type, value, field.choices)
        except ValueError as error:
            errors[field.name] = [str(error)]
    return values, is_test, notes, dict(sorted(errors.items()))
