"""Customers' delivery destinations: rows with their secrets encrypted, and the domain
`Destination` (secrets in clear) the sender gets from a row."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.delivery import Destination, SuccessTest
from app.domain.errors import NotFoundError
from app.store.crypto import decrypt, encrypt
from app.store.db import database
from app.store.models import Customer, DeliveryDestination
from app.store.secrets import public_id

#: How long a rotated-out signing secret still signs beside the new one, by default.
ROTATION_OVERLAP = timedelta(hours=24)


def new_signing_secret() -> str:
    """Return a Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def create_destination(customer: Customer, values: dict[str, Any]) -> DeliveryDestination:
    """Create a destination (an HTTP one with a new signing secret, revealed once)."""
    secret = new_signing_secret() if values["kind"] == "http" else None
    now = utcnow()
    row = DeliveryDestination.create(
        public_id=public_id("dst"),
        tenant=customer.tenant_id,
        customer=customer.id,
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
    return list(
        DeliveryDestination.select()
        .where(DeliveryDestination.customer == customer.id)
        .order_by(DeliveryDestination.created_at, DeliveryDestination.id)
    )


def find_destination(customer: Customer, ref: str) -> DeliveryDestination:
    """Return the customer's destination with this public id."""
    row = (
        DeliveryDestination.select()
        .where(
            (DeliveryDestination.customer == customer.id) & (DeliveryDestination.public_id == ref)
        )
        .first()
    )
    if row is None:
        raise NotFoundError(f"no destination {ref!r}")
    return row


def update_destination(row: DeliveryDestination, values: dict[str, Any]) -> DeliveryDestination:
    """Change the given settings of a destination."""
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


def delete_destination(row: DeliveryDestination) -> None:
    """Delete a destination."""
    DeliveryDestination.delete().where(DeliveryDestination.id == row.id).execute()


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
    )
    columns = {name: values[name] for name in plain if name in values}
    if "headers" in values:
        headers = values["headers"]
        columns["headers_encrypted"] = encrypt(json.dumps(headers)) if headers else None
    return columns
