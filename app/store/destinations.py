"""Where deliveries go: customers' destinations and tenants' webhooks (destinations without a
customer), their secrets encrypted, and the domain `Destination` (secrets in clear) the
sender gets from a row.

A removed destination is kept, hidden from lists and finds, for its deliveries' history.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import peewee as pw

from app.domain.clock import utcnow
from app.domain.delivery import CANCELED, PENDING, Destination, SuccessTest
from app.domain.errors import NotFoundError
from app.store.crypto import decrypt, encrypt
from app.store.db import database
from app.store.models import Customer, Delivery, DeliveryDestination, Tenant
from app.store.secrets import public_id

#: How long a rotated-out signing secret still signs beside the new one, by default.
ROTATION_OVERLAP = timedelta(hours=24)


def new_signing_secret() -> str:
    """Return a Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def create_destination(
    tenant: Tenant, values: dict[str, Any], customer: Customer | None = None
) -> DeliveryDestination:
    """Create a customer's destination, or without a customer a tenant's webhook (an HTTP
    one gets a new signing secret, revealed once)."""
    if customer is not None and customer.tenant_id != tenant.id:
        raise ValueError("the customer is another tenant's")
    secret = new_signing_secret() if values["kind"] == "http" else None
    now = utcnow()
    row = DeliveryDestination.create(
        public_id=public_id("dst" if customer is not None else "whk"),
        tenant=tenant.id,
        customer=customer.id if customer is not None else None,
        secret_encrypted=encrypt(secret) if secret else None,
        created_at=now,
        updated_at=now,
        **_columns(values),
    )
    row = DeliveryDestination.get_by_id(row.id)
    row.revealed_secret = secret
    return row


def list_destinations(customer: Customer) -> list[DeliveryDestination]:
    """Return a customer's destinations, oldest first."""
    return list(_kept(customer.tenant_id, customer.id))


def list_webhooks(tenant: Tenant) -> list[DeliveryDestination]:
    """Return a tenant's webhooks, oldest first."""
    return list(_kept(tenant.id, None))


def find_destination(customer: Customer, ref: str) -> DeliveryDestination:
    """Return the customer's destination with this public id."""
    return _find(_kept(customer.tenant_id, customer.id), ref, "destination")


def find_webhook(tenant: Tenant, ref: str) -> DeliveryDestination:
    """Return the tenant's webhook with this public id."""
    return _find(_kept(tenant.id, None), ref, "webhook")


def update_destination(row: DeliveryDestination, values: dict[str, Any]) -> DeliveryDestination:
    """Change the given settings of a destination or webhook."""
    columns = _columns(values)
    if "active" in values:
        columns["active"] = values["active"]
        columns["paused_at"] = None if values["active"] else utcnow()
        columns["paused_reason"] = None if values["active"] else values.get("paused_reason")
    (
        DeliveryDestination.update(**columns, updated_at=utcnow())
        .where(DeliveryDestination.id == row.id)
        .execute()
    )
    return DeliveryDestination.get_by_id(row.id)


def remove_destination(row: DeliveryDestination, now: datetime | None = None) -> int:
    """Remove a destination or webhook and cancel its pending deliveries, at once; return
    how many were canceled.

    The row is kept (hidden, inactive) for its deliveries' history. A delivery a worker is
    sending is left to finish.
    """
    now = now or utcnow()
    with database.atomic():
        (
            DeliveryDestination.update(removed_at=now, active=False, updated_at=now)
            .where((DeliveryDestination.id == row.id) & DeliveryDestination.removed_at.is_null())
            .execute()
        )
        canceled: int = (
            Delivery.update(status=CANCELED, updated_at=now)
            .where((Delivery.destination == row.id) & (Delivery.status == PENDING))
            .execute()
        )
    return canceled


def rotate_signing_secret(
    row: DeliveryDestination, overlap: timedelta = ROTATION_OVERLAP, now: datetime | None = None
) -> DeliveryDestination:
    """Give a destination a new signing secret (revealed once); the current one keeps
    signing beside it for `overlap`."""
    now = now or utcnow()
    secret = new_signing_secret()
    with database.atomic():
        (
            DeliveryDestination.update(
                secret_encrypted=encrypt(secret),
                previous_secret_encrypted=row.secret_encrypted,
                previous_secret_expires_at=now + overlap if row.secret_encrypted else None,
                updated_at=now,
            )
            .where(DeliveryDestination.id == row.id)
            .execute()
        )
    row = DeliveryDestination.get_by_id(row.id)
    row.revealed_secret = secret
    return row


def headers_of(row: DeliveryDestination) -> dict[str, str]:
    """Return a destination's extra headers in clear."""
    if not row.headers_encrypted:
        return {}
    headers: dict[str, str] = json.loads(decrypt(row.headers_encrypted))
    return headers


def masked(value: str) -> str:
    """Return a secret shown masked: its first two characters and its length."""
    return f"{value[:2]}…({len(value)} chars)"


def masked_headers(row: DeliveryDestination) -> dict[str, str]:
    """Return a destination's extra headers with their values masked."""
    return {name: masked(value) for name, value in headers_of(row).items()}


def signing_secrets(row: DeliveryDestination, now: datetime | None = None) -> tuple[str, ...]:
    """Return the secrets that sign now: the current one, and the previous one until it
    expires."""
    now = now or utcnow()
    found = []
    if row.secret_encrypted:
        found.append(decrypt(row.secret_encrypted))
    expires = row.previous_secret_expires_at
    if row.previous_secret_encrypted and expires is not None and now < expires:
        found.append(decrypt(row.previous_secret_encrypted))
    return tuple(found)


def destination_of(row: DeliveryDestination, now: datetime | None = None) -> Destination:
    """Return the domain destination of a row, its secrets decrypted (never log it)."""
    success = None
    if row.success_field is not None or row.success_pattern is not None:
        success = SuccessTest(
            json_field=row.success_field, equals=row.success_value, pattern=row.success_pattern
        )
    return Destination(
        kind=row.kind,
        name=row.name,
        url=row.url,
        method=row.method,
        body_format=row.body_format,
        headers=headers_of(row),
        template=row.template,
        success=success,
        signing_secrets=signing_secrets(row, now),
        addresses=tuple(row.addresses or ()),
    )


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    """Return the columns of validated settings; headers encrypted."""
    plain = (
        "name",
        "kind",
        "url",
        "method",
        "body_format",
        "template",
        "success_field",
        "success_value",
        "success_pattern",
        "retry_schedule",
        "addresses",
        "events",
    )
    columns = {name: values[name] for name in plain if name in values}
    if "headers" in values:
        headers = values["headers"]
        columns["headers_encrypted"] = encrypt(json.dumps(headers)) if headers else None
    return columns


def _kept(tenant_id: int, customer_id: int | None) -> pw.ModelSelect:
    """Return the query of a customer's destinations (None: the tenant's webhooks) not
    removed, oldest first."""
    owner = (
        DeliveryDestination.customer.is_null()
        if customer_id is None
        else DeliveryDestination.customer == customer_id
    )
    return (
        DeliveryDestination.select()
        .where(
            (DeliveryDestination.tenant == tenant_id)
            & owner
            & DeliveryDestination.removed_at.is_null()
        )
        .order_by(DeliveryDestination.created_at, DeliveryDestination.id)
    )


def _find(query: pw.ModelSelect, ref: str, what: str) -> DeliveryDestination:
    row = query.where(DeliveryDestination.public_id == ref).first()
    if row is None:
        raise NotFoundError(f"no {what} {ref!r}")
    return row
