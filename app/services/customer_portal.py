"""A customer's own view (the customer API): its leads with their deliverable fields only,
its wallet, its deliveries, its returns and the marketplace's leads it may claim. Every
function takes a customer's actor and answers for `actor.customer` alone: another
customer's lead or delivery is not found, never refused, so that its existence does not
leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.delivery.payload import lead_payload
from app.domain.errors import ForbiddenError, InvalidError, NotFoundError
from app.domain.status import STATUSES
from app.dsl.ruleset import RuleSet
from app.services import marketplace, returns
from app.services.actor import Actor
from app.services.deliveries import REF, checked_filter
from app.services.exports import LeadExport, lead_export
from app.store import customers as customer_store
from app.store import listing
from app.store.deliveries_admin import (
    DeliveryFilter,
    count_deliveries,
    get_delivery,
    lead_deliveries,
    list_deliveries,
    with_attempts,
)
from app.store.leads import get_lead
from app.store.listing import LeadFilter
from app.store.models import Customer, Delivery, Lead, WalletEntry
from app.store.rules import active_ruleset

#: What a customer's actor must hold to read its own things.
READ = "customer.read"


@dataclass(frozen=True)
class CustomerLead:
    """A lead as its buyer sees it: the delivery payload's public facts and deliverable
    fields (app/delivery/payload.py), its status and sale time; a deleted one has none."""

    lead: Lead
    payload: dict[str, Any]  # id, category, lead_type, price, received_at, fields
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = self.payload["fields"]
        return fields


@dataclass(frozen=True)
class Wallet:
    """A customer's balance and a page of its wallet entries, newest first."""

    customer: Customer
    entries: list[WalletEntry]
    total: int  # entries in all


def own_customer(actor: Actor) -> Customer:
    """Return the actor's customer, read afresh (its balance now); refuse any other actor."""
    actor.require(READ)
    if actor.customer is None:  # the role grants it only with a customer; kept explicit
        raise ForbiddenError("Only a customer's own user may use the customer API.")
    customer = Customer.get_or_none(Customer.id == actor.customer.id)
    if customer is None:
        raise NotFoundError("your customer no longer exists")
    return customer


def show_customer(actor: Actor) -> Customer:
    """Return the actor's customer with its balance."""
    return own_customer(actor)


def list_leads(
    actor: Actor, filters: LeadFilter, *, limit: int = 50, offset: int = 0
) -> list[CustomerLead]:
    """Return the leads sold to the actor's customer matching the filters, newest first."""
    customer = own_customer(actor)
    found = listing.list_leads(customer.tenant, _scoped(filters, customer), limit, offset)
    ruleset = _ruleset(customer)
    return [_customer_lead(ruleset, lead) for lead in found]


def show_lead(actor: Actor, ref: str) -> CustomerLead:
    """Return a lead sold to the actor's customer, with its deliveries to the customer's
    destinations and their attempts; any other lead is not found."""
    customer = own_customer(actor)
    lead = get_lead(customer.tenant_id, ref.strip())
    if lead is None or lead.customer_id != customer.id:
        raise NotFoundError(f"no lead {ref[:100]!r}")
    deliveries = with_attempts(lead_deliveries(lead, customer_id=customer.id))
    return _customer_lead(_ruleset(customer), lead, deliveries)


def export_leads(actor: Actor, filters: LeadFilter) -> LeadExport:
    """Return the CSV export of the leads a list with these filters shows, with their
    deliverable fields only."""
    customer = own_customer(actor)
    return lead_export(
        customer.tenant, _scoped(filters, customer), scope="customer", stem=customer.slug
    )


def show_wallet(actor: Actor, *, limit: int = 50, offset: int = 0) -> Wallet:
    """Return the actor's customer's balance and a page of its wallet entries."""
    customer = own_customer(actor)
    return Wallet(
        customer,
        customer_store.wallet_entries(customer, limit, offset),
        customer_store.count_wallet_entries(customer),
    )


def list_own_deliveries(
    actor: Actor, filters: DeliveryFilter, *, limit: int = 50, offset: int = 0
) -> list[Delivery]:
    """Return the deliveries to the actor's customer's destinations, newest first."""
    customer = own_customer(actor)
    return list_deliveries(customer.tenant, _own(filters, customer), limit, offset)


def count_own_deliveries(actor: Actor, filters: DeliveryFilter) -> int:
    """Return how many deliveries to the actor's customer's destinations match the filters."""
    customer = own_customer(actor)
    return count_deliveries(customer.tenant, _own(filters, customer))


def show_own_delivery(actor: Actor, ref: str) -> Delivery:
    """Return a delivery to one of the actor's customer's destinations with its attempts."""
    customer = own_customer(actor)
    if not REF.fullmatch(ref):
        raise NotFoundError(f"no delivery {ref[:100]!r}")
    return get_delivery(customer.tenant, ref, customer_id=customer.id)


def buyer_views(actor: Actor, leads: list[Lead]) -> list[CustomerLead]:
    """Return leads as a buyer sees them (deliverable fields and public facts only).

    For the services that decided what the actor may see (a return's result, the
    marketplace's offers): this checks the actor is a customer's, not which leads.
    """
    customer = own_customer(actor)
    ruleset = _ruleset(customer)
    return [_customer_lead(ruleset, lead) for lead in leads]


def return_own_lead(actor: Actor, ref: str, *, reason: str, note: str | None) -> CustomerLead:
    """Return a lead sold to the actor's customer, within its return policy (a customer never
    overrides it); answer the lead as the buyer sees it, now `returned`."""
    own_customer(actor)
    returned = returns.return_lead(actor, ref, reason=reason, note=note)
    return buyer_views(actor, [returned])[0]


def own_return_reasons(actor: Actor) -> list[str]:
    """Return the reasons a return of the actor's customer may give."""
    own_customer(actor)
    return returns.return_reasons(actor)


def list_offers(
    actor: Actor, *, category: str | None = None, limit: int = 50, offset: int = 0
) -> list[marketplace.Offer]:
    """Return the marketplace's leads the actor's customer may claim: price and teaser."""
    own_customer(actor)
    return marketplace.list_marketplace(actor, category=category, limit=limit, offset=offset)


def claim_offer(actor: Actor, ref: str) -> CustomerLead:
    """Claim a marketplace lead for the actor's customer (first claim wins); answer it as
    the buyer sees it, now sold to it."""
    own_customer(actor)
    claimed = marketplace.claim_lead(actor, ref)
    return buyer_views(actor, [claimed])[0]


def _scoped(filters: LeadFilter, customer: Customer) -> LeadFilter:
    """Return the filters restricted to the customer's leads, test ones included."""
    if filters.status is not None and filters.status not in STATUSES:
        raise InvalidError(
            f"unknown status {filters.status!r}", {"status": [f"one of {', '.join(STATUSES)}"]}
        )
    for name in ("since", "assigned_since"):
        start: datetime | None = getattr(filters, name)
        end: datetime | None = getattr(filters, name.replace("since", "until"))
        if start is not None and end is not None and end < start:
            until = name.replace("since", "until")
            raise InvalidError(f"{until} is before {name}", {until: [f"not before {name}"]})
    return replace(filters, customer=customer.id, source=None, test=None)


def _own(filters: DeliveryFilter, customer: Customer) -> DeliveryFilter:
    """Return the delivery filters restricted to the customer's destinations."""
    return replace(checked_filter(filters), customer=None, customer_id=customer.id)


def _ruleset(customer: Customer) -> RuleSet | None:
    ruleset: RuleSet | None = active_ruleset(customer.tenant_id)[1]
    return ruleset


def _customer_lead(
    ruleset: RuleSet | None, lead: Lead, deliveries: list[Delivery] | None = None
) -> CustomerLead:
    """Return the buyer's view of a lead: what its delivery carries, nothing more."""
    payload = lead_payload(
        ruleset,
        lead.category,
        {} if lead.deleted_at is not None else lead.data,
        public_id=lead.public_id,
        lead_type=lead.lead_type,
        price_cents=lead.price_cents,
        received_at=lead.received_at,
    )
    return CustomerLead(lead, payload, deliveries or [])
