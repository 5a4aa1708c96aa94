"""Delivery's values: where a sold lead (or a tenant's event) is sent, and what is sent.

The store keeps destinations (their secrets encrypted) and turns a row into a `Destination`
with its secrets decrypted; the sender (app/delivery) sends a `Message` to it and answers an
`Attempt`. Neither knows the other's storage or transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from app.domain.clock import iso_utc

#: The retry schedule of a destination that sets none: the wait in seconds after attempt n
#: (each jittered by ±20%), about three days in all (docs/delivery-buyers.md).
DEFAULT_SCHEDULE: tuple[int, ...] = (
    5,
    30,
    120,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    24 * 3600,
    24 * 3600,
)


#: A delivery's statuses: waiting for its next attempt, being attempted by a worker,
#: accepted, failed for good (dead-lettered: a tenant may replay it), or dropped because
#: its destination was removed.
PENDING, SENDING, DELIVERED, DEAD, CANCELED = "pending", "sending", "delivered", "dead", "canceled"
DELIVERY_STATUSES: tuple[str, ...] = (PENDING, SENDING, DELIVERED, DEAD, CANCELED)

#: The event a buyer's destinations receive: the lead it bought.
SOLD = "lead.sold"
#: The events a tenant's webhook may subscribe to, and when each is sent
#: (docs/webhooks.md shows their bodies).
EVENTS: dict[str, str] = {
    "lead.sold": "a lead was sold to a customer (assigned)",
    "lead.posted": "a lead was sold to a partner by a plan's post (posted)",
    "lead.unsold": "a lead found no buyer (unassigned)",
    "lead.duplicate": "a lead was refused as a duplicate",
    "lead.audit": "a lead was held for audit review",
    "lead.marketplace": "a lead was put on the marketplace",
    "lead.uncategorized": "a lead matched no category's lead type",
    "lead.withheld": "a lead was withheld: its tenant's monthly threshold is reached",
    "lead.returned": "a sold lead was returned by its customer or for it (status returned)",
    "delivery.failed": "a delivery to a customer failed for good (dead-lettered)",
    "destination.paused": "a destination was paused after failing again and again",
}
#: The event a lead's outcome sends to the tenant's webhooks, by the lead's status.
OUTCOME_EVENTS: dict[str, str] = {
    "assigned": "lead.sold",
    "posted": "lead.posted",
    "unassigned": "lead.unsold",
    "duplicate": "lead.duplicate",
    "audit": "lead.audit",
    "marketplace": "lead.marketplace",
    "uncategorized": "lead.uncategorized",
    "withheld": "lead.withheld",
}


def event_body(event: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Return the body of a tenant's event: its type, when it happened, and its data."""
    return {"type": event, "created_at": iso_utc(at), "data": dict(data)}


@dataclass(frozen=True)
class Outbox:
    """What a routing decision sends, written in the routing's own transaction: the lead
    to the buyer's destinations, and the outcome's event to the tenant's webhooks."""

    event: str | None  # the outcome's event; None: none (e.g. a lead still pending)
    event_payload: dict[str, Any] | None
    customer_id: int | None = None  # the buyer, if the lead was sold
    sale_payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class SuccessTest:
    """What a 2xx answer must also show to count as accepted: a JSON field equal to a value,
    or a regular expression found in the body."""

    json_field: str | None = None  # a dotted path, e.g. "result.status"
    equals: Any = None
    pattern: str | None = None


@dataclass(frozen=True)
class Destination:
    """Where a delivery goes, with its secrets in clear (never logged, never shown)."""

    kind: Literal["http", "email"]
    name: str
    # HTTP
    url: str | None = None
    method: Literal["POST", "PUT"] = "POST"
    body_format: Literal["json", "form"] = "json"
    headers: dict[str, str] = field(default_factory=dict)  # e.g. the buyer's own API key
    template: str | None = None  # a Jinja2 template of the body (sandboxed)
    success: SuccessTest | None = None
    signing_secrets: tuple[str, ...] = ()  # whsec_...; two while a rotation overlaps
    timeout_seconds: float = 10.0
    # Email
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    """One delivery to send: its id (the same on every retry: `webhook-id`), its event and
    its payload (a lead's deliverable fields and public facts, or an event's body)."""

    id: str
    event: str  # e.g. "lead.sold", "delivery.failed"
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: accepted, to retry (and when at the soonest), or failed for good."""

    outcome: Literal["delivered", "retry", "failed"]
    duration_ms: float
    status_code: int | None = None
    answer: str = ""  # the first 4 KB of the answer's body
    error: str | None = None
    retry_after_seconds: float | None = None  # the answer's Retry-After, when it sent one
