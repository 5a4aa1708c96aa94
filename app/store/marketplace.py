"""The marketplace: the leads on it, and a claim's transaction (lock, checks, sale, delivery).

A claim is a sale (app/store/sales.py `record_sale`): the wallet charge, its wallet entry
linked to the lead and the customer's count of claims for the day (a `bid_counter` row of
the claim's bid id, `claim:<customer public id>`, period `day`) are written as a bid's sale
writes them, so a return undoes a claim as it undoes a bid's sale. Everything else the
claim changes (the lead, its timeline, its deliveries) is written in the same transaction,
under the lead's row lock and then the customer's: of two claims of one lead, the second
waits and finds the lead assigned; of two claims by one customer, the second waits and
sees the first's charge and count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.domain.delivery import Outbox
from app.domain.errors import ConflictError
from app.domain.money import as_number, from_cents
from app.domain.status import Status
from app.store.db import database, execute, is_postgresql
from app.store.deliveries import outbox_statement
from app.store.models import BidCounter, Customer, Lead, LeadEvent
from app.store.sales import Sale, record_sale

#: A claim's sale is counted under this bid id, per customer (see `claim_bid_id`).
CLAIM_PREFIX = "claim:"
#: Claims are counted per UTC day.
CLAIM_PERIOD = "day"


def claim_bid_id(customer: Customer) -> str:
    """Return the bid id a customer's claims are sold and counted under."""
    return f"{CLAIM_PREFIX}{customer.public_id}"


def claim_day(at: datetime) -> datetime:
    """Return the start of the UTC day a claim made at `at` (naive UTC) counts in."""
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def marketplace_leads(
    tenant_id: int, *, category: str | None = None, limit: int = 50, offset: int = 0
) -> list[Lead]:
    """Return the tenant's leads that can be claimed (on the marketplace, neither deleted nor
    test leads), newest first."""
    query = Lead.select().where(
        (Lead.tenant == tenant_id)
        & (Lead.status == Status.MARKETPLACE)
        & Lead.deleted_at.is_null()
        & ~Lead.is_test
    )
    if category is not None:
        query = query.where(Lead.category == category)
    return list(query.order_by(Lead.received_at.desc(), Lead.id.desc()).limit(limit).offset(offset))


@dataclass(frozen=True)
class Claim:
    """A customer's claim of a marketplace lead, at the price it was listed for."""

    customer: Customer
    price_cents: int  # the lead's offer as the claimant saw it
    by: str  # who claimed: recorded on the timeline
    at: datetime  # naive UTC
    #: what the claim sends, from the lead as locked: the sold lead to the customer's
    #: destinations, `lead.sold` to the tenant's webhooks
    announce: Callable[[Lead], Outbox]


def record_claim(lead: Lead, claim: Claim) -> None:
    """Sell the lead to the claiming customer in one transaction, or refuse with a
    ConflictError saying why (claimed already, deleted, test lead, price changed, customer
    inactive, balance too low, day's limit reached); a refusal writes nothing."""
    customer = claim.customer
    with database.atomic():
        _lock_lead(lead, claim.price_cents)
        limit = _lock_customer(customer, claim)
        day = claim_day(claim.at)
        sale = Sale(
            tenant_id=lead.tenant_id,
            customer_id=customer.id,
            bid_id=claim_bid_id(customer),
            price_cents=claim.price_cents,
            lead_id=lead.id,
            note=f"lead {lead.public_id} (marketplace claim)",
            at=claim.at,
            periods=((CLAIM_PERIOD, day),),  # counted even without a limit: one may be set
            cap=(CLAIM_PERIOD, limit) if limit is not None else None,
        )
        if record_sale(sale) is None:  # cannot happen under the customer's lock; checked
            raise ConflictError(f"the claim of lead {lead.public_id} could not be charged")
        (
            Lead.update(
                status=Status.ASSIGNED,
                customer=customer.id,
                price_cents=claim.price_cents,
                bid_id=sale.bid_id,
                assigned_at=claim.at,
                updated_at=claim.at,
            )
            .where(Lead.id == lead.id)
            .execute()
        )
        price = as_number(claim.price_cents)
        LeadEvent.create(
            lead=lead.id,
            at=claim.at,
            kind="claimed",
            message=f"Claimed on the marketplace by {customer.slug} for {price:.2f} ({claim.by}).",
            details={"by": claim.by, "customer": customer.public_id, "price": price},
        )
        outbox = claim.announce(Lead.get_by_id(lead.id))  # its data as locked, not as read
        deliveries = outbox_statement(lead.tenant_id, outbox, "%s", [lead.id], claim.at)
        if deliveries is not None:
            execute(*deliveries)


def claims_today(customer: Customer, at: datetime) -> int:
    """Return how many leads the customer claimed in the UTC day of `at` (returns excluded)."""
    used = (
        BidCounter.select(BidCounter.leads)
        .where(
            (BidCounter.tenant == customer.tenant_id)
            & (BidCounter.bid_id == claim_bid_id(customer))
            & (BidCounter.period == CLAIM_PERIOD)
            & (BidCounter.period_start == claim_day(at))
        )
        .scalar()
    )
    return used or 0


def _lock(table: str, columns: str, row_id: int) -> tuple:
    """Lock a row until the transaction ends and return these columns of it."""
    lock = " FOR UPDATE" if is_postgresql() else ""  # SQLite: BEGIN IMMEDIATE locked it all
    return execute(f"SELECT {columns} FROM {table} WHERE id = %s{lock}", [row_id]).fetchone()


def _lock_lead(lead: Lead, price_cents: int) -> None:
    """Lock the lead's row; refuse unless it can still be claimed at this price."""
    status, deleted_at, is_test, offer = _lock(
        "lead", "status, deleted_at, is_test, offer_cents", lead.id
    )
    name = lead.public_id
    if deleted_at is not None:
        raise ConflictError(f"lead {name} was deleted: it cannot be claimed")
    if is_test:
        raise ConflictError(f"lead {name} is a test lead: it cannot be claimed")
    if status != Status.MARKETPLACE:
        raise ConflictError(
            f"lead {name} is {status}, no longer on the marketplace: it was claimed or "
            "routed already"
        )
    if (offer or 0) != price_cents:
        raise ConflictError(
            f"the price of lead {name} changed to {from_cents(offer or 0)}: claim it again"
        )


def _lock_customer(customer: Customer, claim: Claim) -> int | None:
    """Lock the customer's row; refuse unless it is active, can pay and is under its day's
    limit. Return that limit (None: no limit)."""
    active, balance, limit = _lock("customer", "active, balance_cents, claims_per_day", customer.id)
    if not active:
        raise ConflictError(f"customer {customer.slug} is inactive: it cannot claim leads")
    if limit is not None and claims_today(customer, claim.at) >= limit:
        raise ConflictError(
            f"customer {customer.slug} has reached its limit of {limit} claims a day"
        )
    if balance < claim.price_cents:
        raise ConflictError(
            f"the balance of customer {customer.slug} ({from_cents(balance)}) does not cover "
            f"the lead's price ({from_cents(claim.price_cents)})"
        )
    return limit
