"""Delivery's values: where a sold lead (or a tenant's event) is sent, and what is sent.

The store keeps destinations (their secrets encrypted) and turns a row into a `Destination`
with its secrets decrypted; the sender (app/delivery) sends a `Message` to it and answers an
`Attempt`. Neither knows the other's storage or transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

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
