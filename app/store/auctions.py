"""CSV imports and reverse auctions: writing an import whole, listing, canceling, and the
fill's lock and count, which run inside the routing transaction of the filling lead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import JOIN

from app.domain.errors import NotFoundError
from app.domain.routing import CustomerFacts
from app.domain.wants import CANCELED, EXPIRED, FILLED, OPEN
from app.store.db import database, execute, is_postgresql
from app.store.models import Auction, Customer, LeadImport, Tenant
from app.store.secrets import public_id

#: An auction's public id: `auc_` and a lower-case ULID (app/store/secrets.py).
AUCTION_ID = re.compile(r"auc_[0-9a-z]{26}")


@dataclass(frozen=True)
class Want:
    """A valid row of an import: the auction it becomes."""

    line: int
    data: dict[str, Any]
    criteria: dict[str, Any]


@dataclass(frozen=True)
class AuctionTerms:
    price_cents: int
    fills_wanted: int
    expires_at: datetime  # naive UTC


def record_import(
    tenant: Tenant,
    customer: Customer,
    category: str,
    *,
    file_name: str,
    mapping: dict[str, str],
    criteria: list[str],
    rows: int,
    errors: list[dict[str, Any]],
    wants: Sequence[Want],
    terms: AuctionTerms,
    by: str,
    at: datetime,
) -> tuple[LeadImport, list[Auction]]:
    """Write the import and one open auction per want, in one transaction."""
    with database.atomic():
        batch = LeadImport.create(
            public_id=public_id("imp"),
            tenant=tenant,
            customer=customer,
            category=category,
            file_name=file_name,
            mapping=mapping,
            criteria=criteria,
            rows=rows,
            imported=len(wants),
            errors=errors,
            created_by=by,
            created_at=at,
        )
        auctions = [
            Auction(
                public_id=public_id("auc"),
                tenant=tenant,
                customer=customer,
                lead_import=batch,
                category=category,
                line=want.line,
                data=want.data,
                criteria=want.criteria,
                price_cents=terms.price_cents,
                fills_wanted=terms.fills_wanted,
                fills=0,
                status=OPEN,
                expires_at=terms.expires_at,
                created_by=by,
                created_at=at,
                updated_at=at,
            )
            for want in wants
        ]
        for start in range(0, len(auctions), 500):
            Auction.bulk_create(auctions[start : start + 500])
    return batch, auctions


def list_imports(tenant: Tenant, limit: int = 50, offset: int = 0) -> list[LeadImport]:
    """Return the tenant's imports, newest first."""
    return list(
        LeadImport.select(LeadImport, Customer)
        .join(Customer)
        .where(LeadImport.tenant == tenant)
        .order_by(LeadImport.id.desc())
        .limit(limit)
        .offset(offset)
    )


def find_import(tenant: Tenant, ref: str) -> LeadImport:
    """Return the tenant's import with this public id."""
    found = (
        LeadImport.select(LeadImport, Customer)
        .join(Customer)
        .where((LeadImport.tenant == tenant) & (LeadImport.public_id == ref))
        .first()
    )
    if found is None:
        raise NotFoundError(f"no import {ref[:60]!r}")
    return found


def expire_due(tenant_id: int, now: datetime) -> int:
    """Mark the tenant's open auctions past their expiry expired; return how many."""
    return (
        Auction.update(status=EXPIRED, updated_at=now)
        .where(
            (Auction.tenant == tenant_id) & (Auction.status == OPEN) & (Auction.expires_at <= now)
        )
        .execute()
    )


def list_auctions(
    tenant: Tenant,
    *,
    now: datetime,
    status: str | None = None,
    customer: Customer | None = None,
    lead_import: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Auction]:
    """Return the tenant's auctions, newest first (expired ones marked so first)."""
    expire_due(tenant.id, now)
    query = (
        Auction.select(Auction, Customer, LeadImport)
        .join(Customer)
        .switch(Auction)
        .join(LeadImport, JOIN.LEFT_OUTER)
        .where(Auction.tenant == tenant)
    )
    if status is not None:
        query = query.where(Auction.status == status)
    if customer is not None:
        query = query.where(Auction.customer == customer)
    if lead_import is not None:
        query = query.where(LeadImport.public_id == lead_import)
    return list(query.order_by(Auction.id.desc()).limit(limit).offset(offset))


def open_auctions(
    tenant_id: int, category: str, now: datetime, limit: int = 100, offset: int = 0
) -> list[Auction]:
    """Return the open, unexpired auctions of a category, soonest to expire first."""
    return list(
        Auction.select()
        .where(
            (Auction.tenant == tenant_id)
            & (Auction.category == category)
            & (Auction.status == OPEN)
            & (Auction.expires_at > now)
        )
        .order_by(Auction.expires_at, Auction.id)
        .limit(limit)
        .offset(offset)
    )


def find_auction(tenant_id: int, ref: str, category: str | None = None) -> Auction:
    """Return the tenant's auction with this public id (of this category, if given)."""
    if not AUCTION_ID.fullmatch(ref):  # never a query with what a column cannot hold
        raise NotFoundError(f"no auction {ref[:60]!r}")
    query = (
        Auction.select(Auction, Customer)
        .join(Customer)
        .where((Auction.tenant == tenant_id) & (Auction.public_id == ref))
    )
    if category is not None:
        query = query.where(Auction.category == category)
    auction = query.first()
    if auction is None:
        raise NotFoundError(f"no auction {ref!r}")
    return auction


def cancel_auction(tenant: Tenant, ref: str, at: datetime) -> Auction:
    """Cancel an auction if open and erase its row's data; idempotent."""
    with database.atomic():
        auction = find_auction(tenant.id, ref)
        _lock(auction.id)
        auction = find_auction(tenant.id, ref)
        if auction.status == OPEN:
            auction.status = CANCELED
        if auction.erased_at is None:
            auction.data = {}
            auction.erased_at = at
        auction.updated_at = at
        auction.save()
    return auction


def _lock(auction_id: int) -> None:
    if is_postgresql():  # SQLite: BEGIN IMMEDIATE holds the whole database already
        execute("SELECT id FROM auction WHERE id = %s FOR UPDATE", [auction_id])


@dataclass(frozen=True)
class FillState:
    """An auction as a fill finds it, under its row lock."""

    status: str  # open, filled, expired or canceled (open but past expiry reads expired)
    fills: int
    fills_wanted: int
    customer: CustomerFacts


def lock_for_fill(auction_id: int, now: datetime) -> FillState:
    """Lock an auction's row for the rest of the transaction; return its state and buyer."""
    lock = " FOR UPDATE OF a" if is_postgresql() else ""
    row = execute(
        "SELECT a.status, a.fills, a.fills_wanted, a.expires_at, c.id, c.public_id, c.slug,"
        " c.active, c.balance_cents FROM auction a JOIN customer c ON c.id = a.customer_id"
        f" WHERE a.id = %s{lock}",
        [auction_id],
    ).fetchone()
    status, fills, wanted, expires_at, *customer = row
    if isinstance(expires_at, str):  # SQLite answers text
        expires_at = datetime.fromisoformat(expires_at)
    if status == OPEN and expires_at <= now:
        status = EXPIRED
    return FillState(status, fills, wanted, CustomerFacts(*customer))


def count_fill(auction_id: int, now: datetime) -> int:
    """Count one fill of an auction locked by `lock_for_fill`; return the fills left."""
    fills, wanted = execute(
        "UPDATE auction SET fills = fills + 1, updated_at = %s,"
        " status = CASE WHEN fills + 1 >= fills_wanted THEN %s ELSE status END"
        " WHERE id = %s AND status = %s RETURNING fills, fills_wanted",
        [now, FILLED, auction_id, OPEN],
    ).fetchone()
    return wanted - fills


def mark_expired(auction_id: int, now: datetime) -> None:
    """Mark an open auction found past its expiry expired."""
    execute(
        "UPDATE auction SET status = %s, updated_at = %s WHERE id = %s AND status = %s",
        [EXPIRED, now, auction_id, OPEN],
    )
