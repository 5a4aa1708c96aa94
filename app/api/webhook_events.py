"""The OpenAPI document's `webhooks`: each event a tenant's webhook may receive, its headers
and its body (the bodies the worker builds; docs/webhooks.md shows the same examples)."""

from __future__ import annotations

import copy
from typing import Any

from apispec import APISpec

from app.domain.delivery import EVENTS
from app.domain.status import STATUSES

#: Events of the catalogue not sent yet, and why.
NOT_SENT_YET: dict[str, str] = {}

_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601."}
_LEAD_EVENTS = [e for e in EVENTS if e.startswith("lead.") and e != "lead.returned"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "EventLead": {
        "type": "object",
        "description": "A lead as the tenant sees it: every field, deliverable or not.",
        "required": [
            "id",
            "status",
            "category",
            "lead_type",
            "price",
            "customer",
            "source",
            "is_test",
            "received_at",
            "fields",
        ],
        "properties": {
            "id": {"type": "string", "description": "The lead's public id (`lead_...`)."},
            "status": {"type": "string", "enum": list(STATUSES)},
            "category": {"type": "string"},
            "lead_type": {"type": ["string", "null"]},
            "price": {
                "type": "number",
                "description": "What the buyer paid, in dollars; 0 unless the lead was sold.",
            },
            "customer": {
                "type": ["string", "null"],
                "description": "The buyer's public id (`cus_...`); null unless sold.",
            },
            "source": {"type": "string", "description": "The name of the source that sent it."},
            "is_test": {"type": "boolean", "description": "Sent by a source in test mode."},
            "received_at": _TIME,
            "fields": {
                "type": "object",
                "additionalProperties": True,
                "description": "Every field of the lead by name, deliverable or not.",
            },
        },
    },
    "EventReturn": {
        "type": "object",
        "description": "Why the lead was returned.",
        "required": ["reason", "note"],
        "properties": {
            "reason": {"type": "string", "description": "One of the tenant's return reasons."},
            "note": {"type": ["string", "null"], "description": "Free text given with it."},
        },
    },
    "EventDelivery": {
        "type": "object",
        "description": "A delivery to a customer's destination that failed for good.",
        "required": [
            "id",
            "event",
            "destination",
            "customer",
            "lead",
            "attempts",
            "last_status_code",
            "last_error",
        ],
        "properties": {
            "id": {"type": "string", "description": "The delivery's id (`msg_...`)."},
            "event": {"type": "string", "description": "What it carried, e.g. `lead.sold`."},
            "destination": {"type": "string", "description": "The destination (`dst_...`)."},
            "customer": {"type": "string", "description": "The customer (`cus_...`)."},
            "lead": {"type": "string", "description": "The lead (`lead_...`)."},
            "attempts": {"type": "integer", "description": "Attempts made in all."},
            "last_status_code": {
                "type": ["integer", "null"],
                "description": "The last answer's HTTP status; null: no answer.",
            },
            "last_error": {"type": ["string", "null"], "description": "Why the last failed."},
        },
    },
    "EventDestination": {
        "type": "object",
        "description": "A destination or webhook paused after failing again and again.",
        "required": ["id", "name", "customer", "failures", "failing_since", "reason"],
        "properties": {
            "id": {"type": "string", "description": "`dst_...` (a customer's) or `whk_...`."},
            "name": {"type": "string"},
            "customer": {
                "type": ["string", "null"],
                "description": "The customer (`cus_...`); null for a webhook.",
            },
            "failures": {"type": "integer", "description": "Failed attempts in a row."},
            "failing_since": _TIME,
            "reason": {"type": "string"},
        },
    },
}


def _envelope(events: list[str], key: str, schema: str) -> dict[str, Any]:
    """Return the schema of an event's body: its type, when it happened, and its data."""
    return {
        "type": "object",
        "description": "The body of an event: its type, when it happened, and its data.",
        "required": ["type", "created_at", "data"],
        "properties": {
            "type": {"type": "string", "enum": events},
            "created_at": _TIME,
            "data": {
                "type": "object",
                "required": [key],
                "properties": {key: {"$ref": f"#/components/schemas/{schema}"}},
            },
        },
    }


_BODIES = {
    "LeadEventBody": (_LEAD_EVENTS, "lead", "EventLead"),
    "DeliveryFailedEventBody": (["delivery.failed"], "delivery", "EventDelivery"),
    "DestinationPausedEventBody": (["destination.paused"], "destination", "EventDestination"),
}
SCHEMAS.update({name: _envelope(*body) for name, body in _BODIES.items()})
_returned = copy.deepcopy(_envelope(["lead.returned"], "lead", "EventLead"))
_returned["properties"]["data"]["required"].append("return")
_returned["properties"]["data"]["properties"]["return"] = {
    "$ref": "#/components/schemas/EventReturn"
}
SCHEMAS["LeadReturnedEventBody"] = _returned
#: The body schema of each event.
BODY_OF = {event: name for name, (events, _, _) in _BODIES.items() for event in events}
BODY_OF["lead.returned"] = "LeadReturnedEventBody"

_LEAD = {
    "id": "lead_01jey8f3k2m9q4r7t1v5w8x0yz",
    "status": "assigned",
    "category": "solar",
    "lead_type": "premium",
    "price": 45.0,
    "customer": "cus_01jex2a7b9c4d6e8f0g2h4j6k8",
    "source": "Web form",
    "is_test": False,
    "received_at": "2026-12-07T01:59:59Z",
    "fields": {
        "first_name": "Katy",
        "last_name": "Berry",
        "email": "katy.berry@example.com",
        "phone": "+15551234567",
        "address_1": "12 Ocean Drive",
        "city": "Miami Beach",
        "state": "FL",
        "zip": "33139",
        "homeowner": True,
        "monthly_bill": 180,
        "roof_type": "shingle",
        "credit_score": 700,
    },
}
_UNSOLD = {"price": 0, "customer": None}
_LEAD_CHANGES: dict[str, dict[str, Any]] = {
    "lead.sold": {},
    "lead.posted": {"status": "posted", "price": 38.5, "customer": None, "partner": "acme_tree"},
    "lead.unsold": {"status": "unassigned", **_UNSOLD},
    "lead.duplicate": {"status": "duplicate", "lead_type": None, **_UNSOLD},
    "lead.audit": {"status": "audit", **_UNSOLD},
    "lead.marketplace": {"status": "marketplace", "lead_type": "other", **_UNSOLD},
    "lead.uncategorized": {"status": "uncategorized", "lead_type": None, **_UNSOLD},
    "lead.withheld": {"status": "withheld", "lead_type": None, **_UNSOLD},
    "lead.returned": {"status": "returned"},
}
#: A full body of each event, as sent.
EXAMPLES: dict[str, dict[str, Any]] = {
    event: {
        "type": event,
        "created_at": "2026-12-07T02:00:00Z",
        "data": {"lead": {**copy.deepcopy(_LEAD), **changes}},
    }
    for event, changes in _LEAD_CHANGES.items()
}
EXAMPLES["lead.returned"]["created_at"] = "2026-12-09T16:20:00Z"
EXAMPLES["lead.returned"]["data"]["return"] = {
    "reason": "Invalid phone",
    "note": "Number disconnected, called twice",
}
EXAMPLES["delivery.failed"] = {
    "type": "delivery.failed",
    "created_at": "2026-12-10T03:12:44Z",
    "data": {
        "delivery": {
            "id": "msg_01jey8f3m4n5p6q7r8s9t0v1w2",
            "event": "lead.sold",
            "destination": "dst_01jex3c5d7e9f1g3h5j7k9m1n3",
            "customer": "cus_01jex2a7b9c4d6e8f0g2h4j6k8",
            "lead": "lead_01jey8f3k2m9q4r7t1v5w8x0yz",
            "attempts": 12,
            "last_status_code": 500,
            "last_error": "HTTP 500",
        }
    },
}
EXAMPLES["destination.paused"] = {
    "type": "destination.paused",
    "created_at": "2026-12-08T09:30:00Z",
    "data": {
        "destination": {
            "id": "dst_01jex3c5d7e9f1g3h5j7k9m1n3",
            "name": "Sunco CRM",
            "customer": "cus_01jex2a7b9c4d6e8f0g2h4j6k8",
            "failures": 50,
            "failing_since": "2026-12-07T02:00:05Z",
            "reason": "50 failed attempts in a row since 2026-12-07T02:00:05Z",
        }
    },
}

HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The delivery's id (`msg_...`), the same on every retry: deduplicate on it.",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "When this attempt was signed, in Unix seconds.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": '`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">` '
        "(Standard Webhooks); two, space-separated, while a rotated secret overlaps the new one.",
        "schema": {"type": "string"},
    },
    {
        "name": "Sluice-Event",
        "in": "header",
        "required": True,
        "description": "The event's name.",
        "schema": {"type": "string", "enum": list(EVENTS)},
    },
]

_RESPONSES = {
    "2XX": {
        "description": "Accepted (and, if the webhook has a success test, passing it).",
    },
    "default": {
        "description": "429, 5xx, a timeout or a broken connection: retried on the webhook's "
        "schedule (`Retry-After` honoured). Any other answer fails the delivery at once.",
    },
}


def webhooks() -> dict[str, Any]:
    """Return the document's `webhooks`: each event's headers and body."""
    found = {}
    for event, when in EVENTS.items():
        body = BODY_OF.get(event)
        if body is None:
            raise LookupError(f"event {event}: give it a body schema in {__name__}")
        description = NOT_SENT_YET.get(event) or (
            "Sent to the webhooks subscribed to it: a POST of JSON, unless the webhook's"
            " settings choose PUT, a form or a body template."
        )
        found[event] = {
            "post": {
                "summary": f"{event}: {when}",
                "description": f"{description} (docs/webhooks.md)",
                "parameters": HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    {"$ref": f"#/components/schemas/{body}"},
                                    {"properties": {"type": {"const": event}}},
                                ]
                            },
                            "example": EXAMPLES[event],
                        }
                    },
                },
                "responses": _RESPONSES,
            }
        }
    return found


def document(spec: APISpec) -> None:
    """Add the events' body schemas and the `webhooks` section to an OpenAPI 3.1 document."""
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    spec.options["webhooks"] = webhooks()
