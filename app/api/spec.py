"""A source's API specification: endpoint, auth, field reference and a ready cURL request."""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any

from app.pipeline.testmode import TEST_ZIPS

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


def field_reference(ruleset, category: str) -> list[dict[str, Any]]:
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


def example_value(field) -> Any:
    """Return the field's example, or a plausible value of its type."""
    if field.example is not None:
        return field.example
    if field.type == "one_of":
        return field.choices[0] if field.choices else None
    return TYPE_EXAMPLES.get(field.type)


def example_payload(ruleset, category: str) -> dict[str, Any]:
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


def source_spec(source, ruleset, base_url: str, secret: str | None = None) -> dict[str, Any]:
    """Return the API specification of a source (the secret only when just created)."""
    endpoint = base_url.rstrip("/") + "/api/leads"
    known = ruleset is not None and source.category in ruleset.categories
    reference = field_reference(ruleset, source.category) if known else []
    payload = example_payload(ruleset, source.category) if known else {"zip": "33139"}
    return {
        "title": f"API Specification for {source.name}",
        "source": source.public_id,
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
        "content_types": ["application/json", "application/x-www-form-urlencoded"],
        "headers": {"X-Partner-Id": "Optional: the partner the submission is attributed to."},
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
