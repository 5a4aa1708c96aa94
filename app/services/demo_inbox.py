"""The demo's inbox: the endpoint the demo's customers' destinations point at, so a newcomer
sees a sale delivered (signed, verified as a buyer would) without a buyer of their own."""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook, WebhookVerificationError

from app.domain.clock import iso_utc
from app.domain.errors import NotFoundError
from app.store.customers import find_customer
from app.store.destinations import (
    create_destination,
    list_destinations,
    signing_secrets,
    update_destination,
)
from app.store.models import Customer, DeliveryDestination, Tenant

INBOX_NAME = "Demo inbox"
#: How many received deliveries the inbox keeps (in memory, newest last).
KEEP = 100

_received: deque[dict[str, Any]] = deque(maxlen=KEEP)
_lock = threading.Lock()


def inbox_url(base_url: str, customer_slug: str) -> str:
    """Return the demo inbox's URL for a customer's deliveries."""
    return f"{base_url.rstrip('/')}/demo/inbox/{customer_slug}"


def ensure_inbox_destination(customer: Customer, base_url: str) -> DeliveryDestination:
    """Give a demo customer an HTTP destination to the demo inbox (its URL kept current)."""
    url = inbox_url(base_url, customer.slug)
    for row in list_destinations(customer):
        if row.name == INBOX_NAME:
            return row if row.url == url else update_destination(row, {"url": url})
    settings = {"name": INBOX_NAME, "kind": "http", "url": url}
    return create_destination(customer.tenant, settings, customer)


def receive(
    tenant: Tenant, customer_slug: str, body: bytes, headers: dict[str, str]
) -> dict[str, Any]:
    """Verify a delivery's Standard Webhooks signature as a buyer would and keep it; return
    what was kept. NotFoundError for a customer without the demo inbox."""
    customer = find_customer(tenant, customer_slug)
    rows = [row for row in list_destinations(customer) if row.name == INBOX_NAME]
    if not rows:
        raise NotFoundError(f"customer {customer_slug!r} has no demo inbox")
    verified = False
    for secret in signing_secrets(rows[0]):
        try:
            Webhook(secret).verify(body, headers)
            verified = True
            break
        except WebhookVerificationError:
            continue
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    entry = {
        "received_at": iso_utc(datetime.now(UTC)),
        "customer": customer_slug,
        "webhook_id": headers.get("webhook-id"),
        "event": headers.get("sluice-event"),
        "signature_verified": verified,
        "lead": payload.get("id") if isinstance(payload, dict) else None,
        "body": payload,
    }
    with _lock:
        _received.append(entry)
    return entry


def received() -> list[dict[str, Any]]:
    """Return the deliveries the inbox received, newest first."""
    with _lock:
        return list(reversed(_received))
