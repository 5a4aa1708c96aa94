"""The Routio API style: how a Routio-style source's request is read and answered.

Only the edges differ from the native style: `seller` and `category` travel in the request,
field names are Routio's camelCase (`firstName`, `address1`), the answer is 200
`{"success": true, "lead_id", "status": "sold"|"pending", ...}` and errors have Routio's
texts (app/api/errors.py). Validation, the pipeline and the store are shared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, fields

from app.api.errors import NoMatchingCampaign, Unauthorized
from app.domain.money import as_number
from app.domain.status import Status
from app.dsl.fieldtypes import is_blank
from app.pipeline.validation import RESERVED
from app.services.routio import campaigns, routio_name

CONTROL = ("seller", "category")
OTHER_FIELDS = (*RESERVED, "is_test")
REQUIRED = "This field is required."


def _folded(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def controls(submitted: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return the request's seller and category (any spelling of those names)."""
    found: dict[str, str | None] = {"seller": None, "category": None}
    for key, value in submitted.items():
        folded = _folded(key)
        if folded in found and found[folded] is None and not is_blank(value):
            found[folded] = str(value).strip()
    return found["seller"], found["category"]


@dataclass
class RoutioFields:
    """A Routio-style request's lead fields, in the pipeline's names."""

    values: dict[str, Any]  # field name -> value, for validate_lead
    names: dict[str, str]  # field name -> the name the integrator used
    errors: dict[str, list[str]] = field(default_factory=dict)  # by the integrator's names

    def name_of(self, field_name: str) -> str:
        """Return the name to report a field's error under."""
        return self.names.get(field_name, routio_name(field_name))


def read_fields(submitted: dict[str, Any], declared: tuple[str, ...]) -> RoutioFields:
    """Map the integrator's names onto the category's fields (declared: their names).

    A field matches its own name, its camelCase name, or any spelling that equals them once
    case, spaces, dashes and underscores are ignored (`First Name` from a form builder).
    """
    known = (*declared, *OTHER_FIELDS)
    by_fold: dict[str, str | None] = {}
    for name in known:
        folded = _folded(name)
        by_fold[folded] = None if folded in by_fold and by_fold[folded] != name else name
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for key, value in submitted.items():
        folded = _folded(key)
        if folded in CONTROL:
            continue
        target = key if key in known else by_fold.get(folded)
        if target is None:
            continue  # not a field of the category: kept in the post only
        if target in values and not _same(values[target], value):
            if is_blank(values[target]):
                values[target], names[target] = value, key
            elif not is_blank(value):
                errors[names[target]] = [f"Sent twice, as {names[target]} and {key}, differently."]
            continue
        values.setdefault(target, value)
        names.setdefault(target, key)
    return RoutioFields(values, names, errors)


def _same(a: Any, b: Any) -> bool:
    return str(a).strip() == str(b).strip()


def check_seller(source, seller: str) -> None:
    """Refuse (401) a seller that is not the source's tenant, by code or by slug."""
    tenant = source.tenant
    if seller.upper() != tenant.code and seller.lower() != tenant.slug:
        raise Unauthorized(
            "Invalid API Key: this key does not belong to that seller.",
            errors={"seller": ["Not the seller of this API key."]},
        )


def resolve_category(ruleset, source, text: str) -> str:
    """Return the category named by its id or label; 400 No matching campaign otherwise."""
    wanted = " ".join(text.split()).casefold()
    for name in campaigns(ruleset, source):
        label = " ".join(ruleset.categories[name].label.split()).casefold()
        if wanted in (name.casefold(), label):
            return name
    raise NoMatchingCampaign(
        f"No active campaign matches category {text!r}.",
        errors={"category": ["No active campaign has this name."]},
    )


def answer(lead, outcome) -> dict[str, Any]:
    """Return Routio's answer to an accepted lead: sold, or pending with our outcome."""
    body: dict[str, Any] = {"success": True, "lead_id": lead.public_id}
    if outcome.status in (Status.ASSIGNED, Status.POSTED):  # posted: sold to a partner
        body["status"] = "sold"
        body["price"] = as_number(outcome.price_cents)
        body["buyer_ids"] = [outcome.customer.public_id] if outcome.customer is not None else []
    else:
        body["status"] = "pending"
    body["outcome"] = outcome.status
    if lead.is_test:
        body["test"] = True
    return body


class RoutioLeadSchema(Schema):
    """Routio's 200 answer (OpenAPI only: the view writes the body)."""

    success = fields.Boolean(required=True, metadata={"example": True})
    lead_id = fields.String(required=True, metadata={"example": "lead_01arz3ndektsv4rrffq69g5fav"})
    status = fields.String(required=True, metadata={"enum": ["sold", "pending"]})
    price = fields.Float(metadata={"example": 45.0, "description": "When sold."})
    buyer_ids = fields.List(fields.String(), metadata={"description": "When sold."})
    outcome = fields.String(
        metadata={
            "description": "Sluice's status: assigned, posted (sold to a partner by a plan's"
            " post: `sold`, with no buyer id), unassigned, marketplace, duplicate, audit,"
            " uncategorized or withheld."
        }
    )
    test = fields.Boolean(metadata={"description": "Present (true) for test-mode leads."})
