"""A source's API specification: endpoint, auth, field reference and a ready cURL request.

Native sources get Juiced's layout (one category, snake_case fields, Basic auth); Routio-style
sources get Routio's (Bearer API key, seller code, a field reference per category with
camelCase names).
"""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any

from app.dsl import RuleSet
from app.dsl.ruleset import Field
from app.pipeline.testmode import TEST_ZIPS
from app.services.routio import ROUTIO_REQUIRED, campaigns, routio_name
from app.store.models import Source, Tenant

#: Example values by field type, for fields whose rules give no example.
TYPE_EXAMPLES = {
    "text": "Example",
    "email": "katy.berry@example.com",
    "phone": "555-123-4567",
    "zip": "33139",
    "us_state": "FL",
    "number": 1,
    "integer": 1,
    "bool": True,
    "date": "2024-01-15",
    "datetime": "2024-01-15T12:00:00Z",
}
TYPE_NAMES = {
    "text": "Text",
    "email": "Email",
    "phone": "Phone",
    "zip": "US zip code",
    "us_state": "US state",
    "number": "Number",
    "integer": "Integer",
    "bool": "Boolean",
    "date": "Date",
    "datetime": "Date and time",
    "one_of": "List of values",
}


def field_reference(ruleset: RuleSet, category: str) -> list[dict[str, Any]]:
    """Return the category's fields as integrators read them."""
    reference = []
    names = set()
    for field in ruleset.categories[category].fields:
        names.add(field.name)
        reference.append(
            {
                "name": field.name,
                "type": field.type,
                "type_label": TYPE_NAMES.get(field.type, field.type),
                "required_for_ping": field.required_ping,
                "required_for_post": field.required_post or field.name == "zip",
                "allowed_values": list(field.choices) if field.type == "one_of" else None,
                "example": example_value(field),
            }
        )
    if "zip" not in names:
        reference.append(
            {
                "name": "zip",
                "type": "zip",
                "type_label": TYPE_NAMES["zip"],
                "required_for_ping": True,
                "required_for_post": True,
                "allowed_values": None,
                "example": TYPE_EXAMPLES["zip"],
            }
        )
    return reference


def example_value(field: Field) -> Any:
    """Return the field's example, or a plausible value of its type."""
    if field.example is not None:
        return field.example
    if field.type == "one_of":
        return field.choices[0] if field.choices else None
    return TYPE_EXAMPLES.get(field.type)


def example_payload(ruleset: RuleSet, category: str) -> dict[str, Any]:
    """Return a payload of the fields the rules give an example for, and the required ones."""
    payload = {}
    for field in ruleset.categories[category].fields:
        if field.example is not None or field.required_post or field.name == "zip":
            payload[field.name] = example_value(field)
    payload.setdefault("zip", TYPE_EXAMPLES["zip"])
    return payload


def curl_command(endpoint: str, payload: dict[str, Any], api_key: str, secret: str | None) -> str:
    """Return a cURL command posting the payload with Basic auth."""
    password = secret if secret is not None else "<api_secret>"
    if secret is not None:
        token = base64.b64encode(f"{api_key}:{password}".encode()).decode()
        auth = f"Authorization: Basic {token}"
    else:
        auth = "Authorization: Basic <base64(api_key:api_secret)>"
    body = json.dumps(payload, indent=2)
    return (
        "curl -X POST \\\n"
        f"  -H {shlex.quote(auth)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -H 'Accept: application/json' \\\n"
        f"  -d {shlex.quote(body)} \\\n"
        f"  {shlex.quote(endpoint)}"
    )


def rate_limit_of(source: Source, default: int) -> dict[str, Any]:
    """Return the source's rate limit as integrators read it (`default`: SLUICE_RATE_LIMIT)."""
    return {
        "requests": source.rate_limit or default,
        "window": "minute",
        "per": "API key",
        "headers": ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
        "over_the_limit": "429 with Retry-After (seconds)",
    }


IDEMPOTENCY = (
    "Optional: a unique key per lead (e.g. a UUID). A retry with the same key within 24 "
    "hours gets the first answer again and creates nothing."
)


CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
]


#: The development server's address (`sluice serve`), for a spec asked for outside a request
#: without SLUICE_PUBLIC_URL.
LOCAL_URL = "http://127.0.0.1:5000"


def intake_url(base_url: str | None) -> str:
    """Return the URL sources post leads to, under the service's public base URL."""
    return (base_url or LOCAL_URL).rstrip("/") + "/api/leads"


def source_spec(
    source: Source,
    ruleset: RuleSet | None,
    base_url: str | None,
    *,
    default_rate_limit: int,
    secret: str | None = None,
) -> dict[str, Any]:
    """Return the API specification of a source (the secret only when just created).

    base_url is the service's public URL (None: the development server's, LOCAL_URL);
    default_rate_limit the requests per minute of a source without its own (SLUICE_RATE_LIMIT).
    """
    if source.api_style == "routio":
        return routio_spec(source, ruleset, base_url, default_rate_limit, secret)
    endpoint = intake_url(base_url)
    reference: list[dict[str, Any]] = []
    payload: dict[str, Any] = {"zip": "33139"}
    if ruleset is not None and source.category in ruleset.categories:
        reference = field_reference(ruleset, source.category)
        payload = example_payload(ruleset, source.category)
    return {
        "title": f"API Specification for {source.name}",
        "source": source.public_id,
        "api_style": "native",
        "category": source.category,
        "test_mode": source.test_mode,
        "endpoint": {"method": "POST", "url": endpoint},
        "authentication": [
            {
                "method": "basic",
                "description": "HTTP Basic: the API key as user name, the API secret as password.",
                "api_key": source.api_key,
                "api_secret": secret if secret is not None else "(shown once, when created)",
            },
            {
                "method": "bearer",
                "description": "Authorization: Bearer <token>; create one with "
                "`sluice source token` or POST /api/admin/sources/{id}/tokens.",
            },
        ],
        "content_types": list(CONTENT_TYPES),
        "headers": {
            "X-Partner-Id": "Optional: the partner the submission is attributed to.",
            "Idempotency-Key": IDEMPOTENCY,
        },
        "rate_limit": rate_limit_of(source, default_rate_limit),
        "fields": reference,
        "test_zips": TEST_ZIPS if source.test_mode else None,
        "example_request": curl_command(endpoint, payload, source.api_key, secret),
        "example_response": {
            "lead_uuid": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "lead_public_id": "lead_01arz3ndektsv4rrffq69g5fav",
            "status": "assigned",
            "price": 45.0,
        },
    }


def routio_fields(ruleset: RuleSet, category: str, tenant: Tenant) -> list[dict[str, Any]]:
    """Return a category's field reference in Routio's terms: seller, category, camelCase."""
    label = ruleset.categories[category].label
    reference = [
        {
            "name": "seller",
            "type": "text",
            "type_label": "Seller code (8 characters, recommended) or slug",
            "required": True,
            "allowed_values": None,
            "example": tenant.code,
        },
        {
            "name": "category",
            "type": "text",
            "type_label": "Category label or id",
            "required": True,
            "allowed_values": None,
            "example": label,
        },
    ]
    for field in ruleset.categories[category].fields:
        reference.append(
            {
                "name": routio_name(field.name),
                "field": field.name,
                "type": field.type,
                "type_label": TYPE_NAMES.get(field.type, field.type),
                "required": field.required_post or field.name in ROUTIO_REQUIRED,
                "allowed_values": list(field.choices) if field.type == "one_of" else None,
                "example": example_value(field),
            }
        )
    return reference


def routio_payload(reference: list[dict[str, Any]]) -> dict[str, Any]:
    """Return an example body: the required fields and those with an example."""
    return {
        f["name"]: f["example"]
        for f in reference
        if f["example"] is not None and (f["required"] or f.get("field") in _EXAMPLE_FIELDS)
    }


_EXAMPLE_FIELDS = {"email", "zip", "city"}


def routio_curl(endpoint: str, payload: dict[str, Any], api_key: str | None) -> str:
    """Return Routio's cURL request for a payload."""
    key = api_key if api_key is not None else "YOUR_API_KEY"
    return (
        f"curl -X POST {shlex.quote(endpoint)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -H {shlex.quote(f'Authorization: Bearer {key}')} \\\n"
        f"  -d {shlex.quote(json.dumps(payload, indent=2))}"
    )


def routio_spec(
    source: Source,
    ruleset: RuleSet | None,
    base_url: str | None,
    default_rate_limit: int,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Return the API specification of a Routio-style source (its key only when just made)."""
    endpoint = intake_url(base_url)
    tenant = source.tenant
    categories = []
    if ruleset is not None:
        for name in campaigns(ruleset, source):
            reference = routio_fields(ruleset, name, tenant)
            categories.append(
                {
                    "category": ruleset.categories[name].label,
                    "id": name,
                    "fields": reference,
                    "example_request": routio_curl(endpoint, routio_payload(reference), api_key),
                }
            )
    return {
        "title": f"API Specification for {source.name}",
        "source": source.public_id,
        "api_style": "routio",
        "seller": {"code": tenant.code, "slug": tenant.slug},
        "test_mode": source.test_mode,
        "endpoint": {"method": "POST", "url": endpoint},
        "authentication": [
            {
                "method": "bearer",
                "header": "Authorization: Bearer YOUR_API_KEY",
                "description": "Your API key, in the Authorization header.",
                "api_key": api_key if api_key is not None else "(shown once, when created)",
            }
        ],
        "content_types": list(CONTENT_TYPES),
        "query_parameters": "Lead fields may also be sent as query parameters; body fields "
        "take precedence over query parameters.",
        "headers": {
            "X-Partner-Id": "Optional: the partner the submission is attributed to.",
            "Idempotency-Key": IDEMPOTENCY,
        },
        "rate_limit": rate_limit_of(source, default_rate_limit),
        "categories": categories,
        "test_zips": TEST_ZIPS if source.test_mode else None,
        "example_response": {
            "success": True,
            "lead_id": "lead_01arz3ndektsv4rrffq69g5fav",
            "status": "sold",
            "price": 45.0,
            "buyer_ids": ["cus_01arz3ndektsv4rrffq69g5fav"],
            "outcome": "assigned",
        },
        "pending_response": {
            "success": True,
            "lead_id": "lead_01arz3ndektsv4rrffq69g5fav",
            "status": "pending",
            "outcome": "unassigned",
        },
        "errors": [
            {"status": 401, "error": "Invalid API Key"},
            {"status": 400, "error": "No matching campaign"},
            {"status": 400, "error": "Missing required field"},
            {"status": 429, "error": "Rate limit exceeded"},
            {"status": 500, "error": "Internal error"},
        ],
    }
