"""Idempotency keys: one row per (source, key), claimed before the work, answered after.

The unique index on (source, key) decides between simultaneous requests: the first insert
wins and marks the key `in_progress`; the others find the row and are told to retry (or
get the stored answer once it is `done`). Rows expire 24 hours after the first request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee as pw

from app.domain.clock import utcnow
from app.store.db import database
from app.store.models import IdempotencyKey, Source

TTL = timedelta(hours=24)
#: An `in_progress` row this old belongs to a request that died (a worker is killed after
#: SLUICE_WORKER_TIMEOUT, 30 s by default): the next retry takes the key over.
STALE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Claim:
    """What a request may do with its key: `new` (do the work), `replay` (answer `row`),
    `mismatch` (the key came with another request), `in_progress` (another request has it)."""

    outcome: str
    row: IdempotencyKey | None = None


def claim_key(
    source: Source, key: str, fingerprint: str, request_id: str, now: datetime | None = None
) -> Claim:
    """Claim `key` for this request, or say why not."""
    now = now or utcnow()
    for _ in range(3):  # a row that expires or is released between our steps: look again
        with database.atomic():
            (
                IdempotencyKey.delete()
                .where((IdempotencyKey.source == source) & (IdempotencyKey.expires_at <= now))
                .execute()
            )
            try:
                with database.atomic():
                    row = IdempotencyKey.create(
                        source=source,
                        key=key,
                        fingerprint=fingerprint,
                        request_id=request_id,
                        owner=secrets.token_hex(16),
                        state="in_progress",
                        created_at=now,
                        locked_at=now,
                        expires_at=now + TTL,
                    )
                return Claim("new", row)
            except pw.IntegrityError:
                pass
        row = (
            IdempotencyKey.select()
            .where((IdempotencyKey.source == source) & (IdempotencyKey.key == key))
            .first()
        )
        if row is None or row.expires_at <= now:
            continue
        if row.fingerprint != fingerprint:
            return Claim("mismatch", row)
        if row.state == "done":
            return Claim("replay", row)
        if row.locked_at <= now - STALE_AFTER and _take_over(row, request_id, now):
            return Claim("new", IdempotencyKey.get_by_id(row.id))
        return Claim("in_progress", row)
    return Claim("in_progress")


def _take_over(row: IdempotencyKey, request_id: str, now: datetime) -> bool:
    with database.atomic():
        changed = (
            IdempotencyKey.update(request_id=request_id, owner=secrets.token_hex(16), locked_at=now)
            .where(
                (IdempotencyKey.id == row.id)
                & (IdempotencyKey.state == "in_progress")
                & (IdempotencyKey.owner == row.owner)
            )
            .execute()
        )
    return changed == 1


def store_answer(row: IdempotencyKey, status_code: int, content_type: str, body: bytes) -> None:
    """Keep the answer given to the key's request, to replay it to retries."""
    with database.atomic():
        (
            IdempotencyKey.update(
                state="done", status_code=status_code, content_type=content_type, body=body
            )
            .where((IdempotencyKey.id == row.id) & (IdempotencyKey.owner == row.owner))
            .execute()
        )


def release_key(row: IdempotencyKey) -> None:
    """Forget a claim whose request gave no answer worth replaying: a retry starts afresh."""
    with database.atomic():
        (
            IdempotencyKey.delete()
            .where(
                (IdempotencyKey.id == row.id)
                & (IdempotencyKey.state == "in_progress")
                & (IdempotencyKey.owner == row.owner)
            )
            .execute()
        )
