"""The marketplace: the leads a plan placed there, listed with their price and teaser, and
claimed by a customer (one claim wins; it is a sale: charged, counted, delivered).

A customer's own user lists and claims for its customer alone; a tenant admin claims on
behalf of a customer it names. Both need `leads.claim`; a tenant user who may read leads
may list the marketplace too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.clock import naive
from app.domain.delivery import Outbox
from app.domain.errors import ForbiddenError, InvalidError, NotFoundError, UnavailableError
from app.domain.routing import CustomerFacts, Decision, SaleTerms
from app.domain.status import Status
from app.dsl.ruleset import RuleSet
from app.services.actor import Actor
from app.services.leads import show_lead
from app.services.routing import decision_outbox
from app.store.customers import find_customer
from app.store.leads import get_lead
from app.store.marketplace import Claim, claim_bid_id, marketplace_leads, record_claim
from app.store.models import Customer, Lead
from app.store.rules import active_ruleset

#: The most offers one page lists.
MAX_OFFERS = 500


@dataclass(frozen=True)
class Offer:
    """A lead on the marketplace as buyers see it: no personal data beyond its teaser."""

    id: str  # the lead's public id
    category: str
    lead_type: str | None
    received_at: datetime  # naive UTC
    price_cents: int
    teaser: dict[str, Any]  # the stage's teaser fields that are deliverable and have a value


def list_marketplace(
    actor: Actor, *, category: str | None = None, limit: int = 50, offset: int = 0
) -> list[Offer]:
    """Return the leads that can be claimed now, newest first, with their price and teaser."""
    if not actor.can("leads.read"):
        actor.require("leads.claim")
    tenant = actor.acting_tenant()
    if not 1 <= limit <= MAX_OFFERS:
        raise InvalidError("the page is too large", {"limit": [f"from 1 to {MAX_OFFERS}"]})
    if offset < 0:
        raise InvalidError("the offset is negative", {"offset": ["0 or more"]})
    leads = marketplace_leads(tenant.id, category=category, limit=limit, offset=offset)
    _, ruleset = active_ruleset(tenant)
    return [_offer(lead, ruleset) for lead in leads]


def claim_lead(actor: Actor, ref: str, *, customer_ref: str | None = None) -> Lead:
    """Claim a marketplace lead for a customer: the actor's own customer, or for a tenant
    user the customer it names. One transaction charges the customer the lead's price (a
    wallet entry linked to the lead), counts the claim against the customer's day limit,
    assigns the lead to it and sends it to the customer's destinations and `lead.sold` to
    the tenant's webhooks. Refused with a ConflictError when the lead was claimed (or
    routed, deleted) meanwhile, or when the customer is inactive, cannot pay or has reached
    its claims for the day.

    Return the lead as `show_lead` does for a tenant user; a customer gets the bare lead.
    """
    actor.require("leads.claim")
    tenant = actor.acting_tenant()
    customer = _claimant(actor, customer_ref)
    lead = get_lead(tenant, ref)
    if lead is None or (actor.customer is not None and not _ever_offered(lead)):
        # A customer knows the leads the marketplace showed it: any other is not found.
        raise NotFoundError(f"no lead {ref!r} on the marketplace")
    _, ruleset = active_ruleset(tenant)
    if ruleset is None or lead.category not in ruleset.categories:
        # Its delivery sends the fields the active rules make deliverable.
        raise UnavailableError(f"category {lead.category!r} has no active rules")
    now = datetime.now(UTC)
    price = lead.offer_cents or 0
    claim = Claim(
        customer,
        price,
        actor.name,
        naive(now),
        lambda locked: _outbox(locked, customer, price, ruleset, now),
    )
    record_claim(lead, claim)
    if actor.customer is None and actor.can("leads.read"):
        return show_lead(actor, lead.public_id)
    return Lead.get_by_id(lead.id)


def _ever_offered(lead: Lead) -> bool:
    """Tell whether the lead is, or was, on the marketplace (claimed since: a 409)."""
    offered = lead.status == Status.MARKETPLACE or lead.offer_cents is not None
    return offered and not lead.is_test and lead.deleted_at is None


def _claimant(actor: Actor, customer_ref: str | None) -> Customer:
    """Return the customer a claim is for: a customer's user claims for itself alone."""
    tenant = actor.acting_tenant()
    if actor.customer is not None:
        own = actor.customer
        if customer_ref is not None and customer_ref not in (own.slug, own.public_id):
            raise ForbiddenError("a customer claims leads for itself alone")
        return own
    if customer_ref is None or not customer_ref.strip():
        raise InvalidError("name the customer who claims the lead", {"customer": ["required"]})
    return find_customer(tenant, customer_ref.strip())


def _offer(lead: Lead, ruleset: RuleSet | None) -> Offer:
    return Offer(
        lead.public_id,
        lead.category,
        lead.lead_type,
        lead.received_at,
        lead.offer_cents or 0,
        teaser(ruleset, lead.category, lead.data),
    )


def teaser(ruleset: RuleSet | None, category: str, data: dict[str, Any]) -> dict[str, Any]:
    """Return a lead's teaser: the fields its category's marketplace stage shows, in the
    active rules, that are deliverable and have a value."""
    if ruleset is None or category not in ruleset.categories:
        return {}
    stage = ruleset.marketplace_of(category)
    if stage is None:
        return {}
    deliverable = {field.name for field in ruleset.fields(category) if field.deliverable}
    return {
        name: data[name]
        for name in stage.teaser
        if name in deliverable and data.get(name) not in (None, "")
    }


def _outbox(lead: Lead, customer: Customer, price: int, ruleset: RuleSet, now: datetime) -> Outbox:
    """Return what the claim sends, as a bid's sale of the lead would send it."""
    bid_id = claim_bid_id(customer)
    buyer = CustomerFacts(
        customer.id, customer.public_id, customer.slug, customer.active, customer.balance_cents
    )
    decision = Decision(
        Status.ASSIGNED,
        lead.lead_type,
        price,
        buyer,
        bid_id,
        sale=SaleTerms(customer_id=customer.id, bid_id=bid_id, price_cents=price),
    )
    return decision_outbox(lead, ruleset, decision, now)
