"""The customer API's services: a buyer's leads (deliverable fields only), wallet and
deliveries, for its own customer alone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.errors import ForbiddenError, InvalidError, NotFoundError
from app.services import customer_portal
from app.services.actor import Actor, user_actor
from app.services.deliveries import DeliveryFilter
from app.store.listing import LeadFilter
from app.store.models import User
from app.store.tenants import CUSTOMER_ROLE, authenticate_user
from tests.customer_world import make_market
from tests.services.exports_world import START


@pytest.fixture
def market(make_world):
    return make_market(make_world)


def actor_of(buyer) -> Actor:
    user = authenticate_user(buyer.token)
    assert user is not None
    return user_actor(user)


def test_a_customer_users_actor_acts_for_its_customer_alone(market, db):
    actor = actor_of(market.a)
    assert actor.role == CUSTOMER_ROLE and actor.customer.id == market.a.customer.id
    assert actor.permissions == {"customer.read", "leads.return", "leads.claim"}
    assert customer_portal.show_customer(actor).balance_cents == market.a.customer.balance_cents


def test_the_list_shows_the_customers_leads_with_deliverable_fields_only(market, db):
    found = customer_portal.list_leads(actor_of(market.a), LeadFilter())
    assert [c.lead.public_id for c in found] == [lead.public_id for lead in market.a.leads]
    deleted, roof, solar = found
    assert solar.fields == {"first_name": "Ann", "phone": "5552010001"}
    assert solar.payload["price"] == 45 and solar.payload["category"] == "solar"
    assert roof.fields == {"phone": "5552010002"}  # roof_type is not deliverable
    assert deleted.fields == {} and deleted.lead.deleted_at is not None


def test_the_list_filters_by_status_and_both_date_ranges(market, db):
    actor = actor_of(market.a)

    def ids(**filters) -> list[str]:
        return [c.lead.public_id for c in customer_portal.list_leads(actor, LeadFilter(**filters))]

    a3, a2, a1 = (lead.public_id for lead in market.a.leads)
    day = timedelta(days=1)
    assert ids(assigned_since=START + day) == [a3, a2]
    assert ids(assigned_until=START + day) == [a1]
    assert ids(since=START + day, until=START + 3 * day) == [a2]
    assert ids(status="returned") == []
    assert ids(category="roof") == [a2]
    page = customer_portal.list_leads(actor, LeadFilter(), limit=1, offset=1)
    assert [c.lead.public_id for c in page] == [a2]


def test_bad_filters_are_refused_with_the_field(market, db):
    actor = actor_of(market.a)
    with pytest.raises(InvalidError) as caught:
        customer_portal.list_leads(actor, LeadFilter(status="sold-ish"))
    assert "status" in caught.value.details
    with pytest.raises(InvalidError) as caught:
        customer_portal.list_leads(
            actor, LeadFilter(assigned_since=START, assigned_until=START - timedelta(days=1))
        )
    assert "assigned_until" in caught.value.details


def test_a_lead_shows_its_deliveries_to_the_customers_destinations_only(market, db):
    a1 = market.a.leads[-1]
    shown = customer_portal.show_lead(actor_of(market.a), a1.public_id)
    assert shown.fields == {"first_name": "Ann", "phone": "5552010001"}
    # The tenant's webhook also told of this lead: not the buyer's to see.
    assert [d.public_id for d in shown.deliveries] == [market.a.delivery.public_id]
    assert [a.answer for a in shown.deliveries[0].history] == ["busy", "still busy"]
    by_uuid = customer_portal.show_lead(actor_of(market.a), str(a1.uuid))
    assert by_uuid.lead.id == a1.id


@pytest.mark.parametrize("whose", ["other customer", "unsold", "no such", "garbage"])
def test_any_other_lead_is_not_found(market, db, whose):
    ref = {
        "other customer": market.b.leads[0].public_id,
        "unsold": market.unsold.public_id,
        "no such": "lead_00000000000000000000000000",
        "garbage": "not a lead",
    }[whose]
    with pytest.raises(NotFoundError):
        customer_portal.show_lead(actor_of(market.a), ref)


def test_the_export_has_deliverable_fields_and_the_customers_leads_only(market, db):
    export = customer_portal.export_leads(actor_of(market.a), LeadFilter())
    assert export.filename.startswith("sunco-leads-")
    rows = list(export.rows)
    assert export.columns == (
        "id",
        "received_at",
        "category",
        "lead_type",
        "status",
        "price",
        "assigned_at",
        "deleted",
        "first_name",
        "phone",
    )
    assert [row[0] for row in rows] == [lead.public_id for lead in market.a.leads]
    assert rows[0][7] is True and rows[0][8:] == [None, None]  # deleted: no data
    assert rows[2][8:] == ["Ann", "5552010001"]


def test_the_wallet_shows_the_customers_entries_newest_first(market, db):
    wallet = customer_portal.show_wallet(actor_of(market.a))
    assert wallet.customer.balance_cents == 10000 + 2000 - 4500
    assert wallet.total == 3
    assert [(e.kind, e.amount_cents) for e in wallet.entries] == [
        ("charge", -4500),
        ("deposit", 2000),
        ("deposit", 10000),
    ]
    assert wallet.entries[0].lead.public_id == market.a.leads[-1].public_id
    page = customer_portal.show_wallet(actor_of(market.a), limit=1, offset=2)
    assert [e.note for e in page.entries] == ["opening balance"] and page.total == 3


def test_deliveries_are_the_customers_own(market, db):
    actor = actor_of(market.a)
    found = customer_portal.list_own_deliveries(actor, DeliveryFilter())
    assert [d.public_id for d in found] == [market.a.delivery.public_id]
    assert customer_portal.count_own_deliveries(actor, DeliveryFilter()) == 1
    # A filter naming another customer cannot widen the view.
    other = DeliveryFilter(customer=market.b.customer.slug)
    assert [d.public_id for d in customer_portal.list_own_deliveries(actor, other)] == [
        market.a.delivery.public_id
    ]
    shown = customer_portal.show_own_delivery(actor, market.a.delivery.public_id)
    assert [a.number for a in shown.history] == [1, 2]
    for ref in (market.b.delivery.public_id, market.webhook_delivery.public_id, "x y"):
        with pytest.raises(NotFoundError):
            customer_portal.show_own_delivery(actor, ref)
    with pytest.raises(InvalidError):
        customer_portal.list_own_deliveries(actor, DeliveryFilter(status="lost"))


def test_a_customer_role_without_a_customer_may_do_nothing(market, db):
    user = User.get(User.email == "ann@sunco.example")
    orphan = Actor(name=user.email, role=CUSTOMER_ROLE, tenant=market.world.tenant, user=user)
    with pytest.raises(ForbiddenError):
        customer_portal.show_customer(orphan)


def test_a_tenant_admin_is_not_a_customer(market, db):
    admin = user_actor(authenticate_user(market.world.admin_token))
    with pytest.raises(ForbiddenError, match="customer.read"):
        customer_portal.list_leads(admin, LeadFilter())


def test_buyer_views_show_any_lead_as_a_buyer_would(market, db):
    # For the marketplace's offers and a return's answer: deliverable fields only.
    [view] = customer_portal.buyer_views(actor_of(market.a), [market.unsold])
    assert view.fields == {"first_name": "Una", "phone": "5552010005"}
    assert view.payload["id"] == market.unsold.public_id
