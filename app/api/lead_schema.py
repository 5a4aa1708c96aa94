"""Validating submitted fields against a category's field reference (marshmallow).

The schema of each (rule set, category) is built once from the compiled rule set: one
field per declared field, required when the rules say "required for post", `zip` always.
Values come out normalized (phone E.164, trimmed text, canonical choices), as the rules
expect them.
"""

from __future__ import annotations

import threading
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load

from app.api.errors import ValidationFailed
from app.dsl.fieldtypes import is_blank, normalize_value

REQUIRED = "This field is required."
RESERVED = {
    "ping_id": "Ping-post is not available yet: post the lead without ping_id.",
    "bid_id": "Ping-post is not available yet: post the lead without bid_id.",
}
_schemas: dict[tuple[str, str], Schema] = {}
_lock = threading.Lock()


class LeadValue(fields.Field):
    """A lead field of a rules field type; deserializes to the normalized value."""

    def __init__(self, field_type: str, choices: tuple[str, ...] = (), **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {"required": REQUIRED, "null": REQUIRED})
        super().__init__(**kwargs)
        self.field_type = field_type
        self.choices = tuple(choices)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return normalize_value(self.field_type, value, self.choices)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class _LeadSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def drop_blanks(self, data, **kwargs):
        """Treat empty values as not sent, so a blank required field reads 'required'."""
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if not is_blank(value)}


def lead_schema(
    ruleset, category: str, *, extra_required: frozenset[str] = frozenset(), require_zip=True
) -> Schema:
    """Return the (cached) schema validating a category's leads under this rule set.

    Required: the fields the rules mark required(post), those of `extra_required` that the
    category declares, and `zip` (declared or not) when `require_zip`.
    """
    key = (ruleset.content_hash, category, extra_required, require_zip)
    with _lock:
        schema = _schemas.get(key)
    if schema is not None:
        return schema
    declared = {}
    for field in ruleset.categories[category].fields:
        declared[field.name] = LeadValue(
            field.type,
            field.choices,
            required=field.required_post
            or field.name in extra_required
            or (require_zip and field.name == "zip"),
            metadata={"description": f"{field.type} field"},
        )
    if require_zip and "zip" not in declared:
        declared["zip"] = LeadValue("zip", required=True)
    schema_class = _LeadSchema.from_dict(declared, name=f"Lead_{category}")
    schema = schema_class()
    with _lock:
        if len(_schemas) > 256:
            _schemas.clear()
        _schemas[key] = schema
    return schema


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
    fields_only = {k: v for k, v in submitted.items() if k not in RESERVED and k != "is_test"}
    try:
        schema = lead_schema(
            ruleset, category, extra_required=extra_required, require_zip=require_zip
        )
        values = schema.load(fields_only)
    except ValidationError as error:
        errors.update(error.normalized_messages())
        values = {}
    if errors:
        raise ValidationFailed(dict(sorted(errors.items())))
    return values, is_test, notes
