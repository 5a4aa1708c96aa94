"""Validating a lead's fields against its category's field reference: one implementation,
for the intake (app/api/intake.py) and for an edit (app/services/editing.py).

The field list of each (rule set, category) is built once from the compiled rule set: one
entry per declared field, required when the rules say "required for post", `zip` always.
Values come out normalized (phone E.164, trimmed text, canonical choices), as the rules
expect them. The fields are dynamic (the tenant's rules declare them), so this is a plain
loop over them rather than a marshmallow schema: marshmallow's per-field machinery cost
as much as the normalizing itself on the intake's hot path (docs/architecture.md).
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from app.domain.errors import InvalidError
from app.domain.identity import is_identity
from app.dsl.fieldtypes import is_blank, normalize_value
from app.dsl.ruleset import RuleSet

REQUIRED = "This field is required."
#: The message of the InvalidError a lead with invalid fields raises.
INVALID = "The request has invalid fields."
#: Control fields, not lead data: a native post may name its ping (app/api/intake.py takes
#: them out first); anywhere else they are refused.
RESERVED = {
    "ping_id": "Only a native source's post names a ping (docs/ping-post.md).",
    "bid_id": "Only a native source's post names a bid (docs/ping-post.md).",
}
#: A ping's message for a field that says who the person is (app/domain/identity.py).
IDENTITY_REFUSED = "A ping must not carry the person's identity: send this field with the post."
_specs: dict[tuple[str, str, frozenset[str], bool, bool], tuple[LeadField, ...]] = {}
_lock = threading.Lock()


class LeadField(NamedTuple):
    """A field a lead may carry: its rules type, allowed choices, and whether required."""

    name: str
    type: str
    choices: tuple[str, ...]
    required: bool


def lead_fields(
    ruleset: RuleSet,
    category: str,
    *,
    extra_required: frozenset[str] = frozenset(),
    require_zip: bool = True,
    ping: bool = False,
) -> tuple[LeadField, ...]:
    """Return the (cached) fields a category's leads are validated against under this rule set.

    Required: the fields the rules mark required(post), those of `extra_required` that the
    category declares, and `zip` (declared or not) when `require_zip`. With `ping`: the
    fields marked required(ping) only, identity fields left out (a ping never has them).
    """
    key = (ruleset.content_hash, category, extra_required, require_zip, ping)
    with _lock:
        spec = _specs.get(key)
    if spec is not None:
        return spec
    declared = {
        field.name: LeadField(
            field.name,
            field.type,
            tuple(field.choices),
            field.required_ping
            if ping
            else field.required_post
            or field.name in extra_required
            or (require_zip and field.name == "zip"),
        )
        for field in ruleset.categories[category].fields
        if field.name not in RESERVED
        and field.name != "is_test"  # checked apart
        and not (ping and is_identity(field.name))
    }
    if require_zip and not ping and "zip" not in declared:
        declared["zip"] = LeadField("zip", "zip", (), True)
    spec = tuple(declared.values())
    with _lock:
        if len(_specs) > 256:
            _specs.clear()
        _specs[key] = spec
    return spec


def validate_lead(
    submitted: dict[str, Any],
    ruleset: RuleSet,
    category: str,
    *,
    test_mode: bool,
    extra_required: frozenset[str] = frozenset(),
    require_zip: bool = True,
    ping: bool = False,
) -> tuple[dict[str, Any], bool, list[str]]:
    """Return (normalized values, is_test, notes); raise InvalidError with every error, its
    details {field: [messages]} sorted by field.

    With `ping`, the submission is a ping: the fields marked required(ping) are required,
    and a non-blank identity field (app/domain/identity.py) is refused by name.
    """
    errors: dict[str, list[str]] = {}
    for name, message in RESERVED.items():
        if not is_blank(submitted.get(name)):
            errors[name] = [message]
    if ping:
        for name, value in submitted.items():
            if is_identity(name) and not is_blank(value):
                errors[name] = [IDENTITY_REFUSED]
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
        ruleset, category, extra_required=extra_required, require_zip=require_zip, ping=ping
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
    if errors:
        raise InvalidError(INVALID, dict(sorted(errors.items())))
    return values, is_test, notes
