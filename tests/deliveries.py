"""Delivery rows written directly, for tests of what happens to them (the worker's queue)."""

from __future__ import annotations

from app.domain.clock import utcnow
from app.store.models import Delivery, DeliveryDestination
from app.store.secrets import public_id


def make_delivery(destination: DeliveryDestination, status: str = "pending") -> Delivery:
    """Insert a delivery of a lead.sold body to the destination, in the given status."""
    return Delivery.create(
        public_id=public_id("msg"),
        tenant=destination.tenant_id,
        destination=destination.id,
        event="lead.sold",
        payload={"id": "lead_x"},
        status=status,
        next_attempt_at=utcnow(),
    )


def statuses(deliveries: list[Delivery]) -> list[str]:
    """Return the stored status of each delivery."""
    return [Delivery.get_by_id(delivery.id).status for delivery in deliveries]
