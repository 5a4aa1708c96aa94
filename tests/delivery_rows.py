"""Rows of deliveries as the worker leaves them, written directly, for the tests of what a
tenant sees of them and of replays (the worker's own tests make them by sending)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.domain.clock import utcnow
from app.store.models import (
    Customer,
    Delivery,
    DeliveryAttempt,
    DeliveryDestination,
    Lead,
    LeadEvent,
)
from app.store.secrets import public_id

#: When the rows' history starts: a day ago, so a replay's "now" comes after it.
START = utcnow().replace(microsecond=0) - timedelta(days=1)


def destination_row(
    tenant, customer: Customer | None = None, *, name: str = "CRM", removed: bool = False
) -> DeliveryDestination:
    """Return a new HTTP destination: a customer's (dst_), or without one a tenant's
    webhook (whk_)."""
    return DeliveryDestination.create(
        public_id=public_id("dst" if customer else "whk"),
        tenant=tenant.id,
        customer=customer.id if customer else None,
        events=None if customer else ["lead.sold", "delivery.failed"],
        name=name,
        kind="http",
        url="https://crm.example/leads",
        active=not removed,
        removed_at=START if removed else None,
    )


def delivery_row(
    destination: DeliveryDestination,
    *,
    status: str = "dead",
    lead: Lead | None = None,
    event: str = "lead.sold",
    attempts: int = 0,
    minute: int = 0,
    last_error: str | None = None,
    payload: dict | None = None,
) -> Delivery:
    """Return a new delivery to the destination, created `minute` minutes after START."""
    created = START + timedelta(minutes=minute)
    done = status in ("dead", "delivered")
    return Delivery.create(
        public_id=public_id("msg"),
        tenant=destination.tenant_id,
        destination=destination.id,
        lead=lead.id if lead else None,
        event=event,
        payload=payload if payload is not None else {"lead": {"id": "lead_x", "fields": {}}},
        status=status,
        attempts=attempts,
        tries=attempts,
        next_attempt_at=created + timedelta(seconds=5 * attempts),
        claimed_until=created + timedelta(minutes=5) if status == "sending" else None,
        last_status_code=500 if attempts else None,
        last_error=last_error,
        created_at=created,
        updated_at=created + timedelta(minutes=1) if done else created,
        delivered_at=created + timedelta(minutes=1) if status == "delivered" else None,
    )


def attempt_row(
    delivery: Delivery,
    number: int,
    *,
    outcome: str = "retry",
    status_code: int | None = 500,
    answer: str = "",
    error: str | None = None,
    started_at: datetime | None = None,
) -> DeliveryAttempt:
    """Return a recorded attempt of the delivery."""
    return DeliveryAttempt.create(
        delivery=delivery.id,
        number=number,
        worker=None,
        started_at=started_at or delivery.created_at + timedelta(seconds=number),
        duration_ms=12.5 * number,
        outcome=outcome,
        status_code=status_code,
        answer=answer,
        error=error,
    )


def delivered_entry(lead: Lead, delivery: Delivery) -> LeadEvent:
    """Return the timeline entry the worker writes when a lead's delivery is accepted."""
    url = f"/api/admin/deliveries/{delivery.public_id}"
    details = {
        "delivery": delivery.public_id,
        "destination": DeliveryDestination.get_by_id(delivery.destination_id).public_id,
        "attempts": delivery.attempts,
        "url": url,
    }
    return LeadEvent.create(
        lead=lead.id, kind="delivered", message="Delivered to CRM.", details=details
    )


def statuses(deliveries: list[Delivery]) -> list[str]:
    """Return the stored status of each delivery."""
    return [Delivery.get_by_id(delivery.id).status for delivery in deliveries]
