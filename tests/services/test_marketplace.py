"""The marketplace: a lead placed there by the plan carries the stage's price, lists with
its teaser, and is claimed once: charged, counted against the day's limit, assigned and
delivered in one transaction; every refusal writes nothing. Concurrent claims on
PostgreSQL: one winner a lead, no limit overrun, no negative balance."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from app.domain.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from app.services import customers, deletion, marketplace
from app.services.actor import Actor, operator_actor
from app.store.db import database, is_postgresql
from app.store.marketplace import CLAIM_PERIOD, claim_day
from app.store.models import BidCounter, Customer, Delivery, Lead, LeadEvent, WalletEntry
from tests.delivery_rows import destination_row

RULES = """
category home "Home" {
    field first_name text required(post) deliverable
    field phone phone required(post)
    field state us_state required(post) deliverable
    field zip zip required(post) deliverable
    field city text deliverable
}
lead_type any "Any" in home fallback
plan home { stage marketplace PRICE teaser [state, zip, city] }
"""


def home_rules(price: str = "price 25") -> str:
    return RULES.replace("PRICE", price)


@pytest.fixture
def market(make_world):
    """A tenant whose every lead goes to the marketplace at 25.00; alpha has 100.00,
    beta 10.00."""
    return make_world(home_rules(), {"alpha": "100", "beta": "10"})


@pytest.fixture
def operator(market, db):
    return operator_actor(market.tenant.code)


def place(world, n: int = 1, **fields) -> str:
    """Post a lead that goes to the marketplace; return its public id."""
    lead = {"first_name": "Katy", "phone": f"555-301-{n:04d}", "state": "FL", "zip": "33139"}
    body = world.post({**lead, **fields}).json
    assert body["status"] == "marketplace", body
    return body["lead_public_id"]


def customer(slug: str) -> Customer:
    return Customer.get(Customer.slug == slug)


def customer_actor(world, slug: str) -> Actor:
    return Actor(
        name=f"buyer@{slug}.example", role="customer", tenant=world.tenant, customer=customer(slug)
    )


def charges(lead_id: int) -> list[WalletEntry]:
    return list(WalletEntry.select().where(WalletEntry.lead == lead_id))


def test_a_placed_lead_carries_the_stage_price_and_lists_with_its_teaser(market, operator):
    ref = place(market, city=None)
    lead = Lead.get(Lead.public_id == ref)
    assert (lead.offer_cents, lead.price_cents, lead.customer_id) == (2500, 0, None)
    note = LeadEvent.get(LeadEvent.lead == lead.id, LeadEvent.kind == "marketplace")
    assert "at 25.00" in note.message and note.details == {"price": 25.0}
    (offer,) = marketplace.list_marketplace(operator)
    assert (offer.id, offer.category, offer.lead_type, offer.price_cents) == (
        ref,
        "home",
        "any",
        2500,
    )
    # Only the stage's teaser fields, deliverable, with a value: no city (none), no phone.
    assert offer.teaser == {"state": "FL", "zip": "33139"}
    assert marketplace.list_marketplace(operator, category="other") == []


def test_a_claim_charges_counts_assigns_and_delivers_once(market, operator):
    alpha = customer("alpha")
    destination_row(market.tenant, alpha, name="CRM of alpha")
    destination_row(market.tenant)  # a webhook of lead.sold
    ref = place(market)
    done = marketplace.claim_lead(operator, ref, customer_ref="alpha")
    assert (done.status, done.customer_id, done.price_cents) == ("assigned", alpha.id, 2500)
    assert done.bid_id == f"claim:{alpha.public_id}" and done.assigned_at is not None
    assert customer("alpha").balance_cents == 7500
    (charge,) = charges(done.id)
    assert (charge.kind, charge.amount_cents, charge.balance_after_cents) == ("charge", -2500, 7500)
    assert charge.customer_id == alpha.id
    counter = BidCounter.get(BidCounter.bid_id == done.bid_id)
    assert (counter.period, counter.leads, counter.spent_cents) == (CLAIM_PERIOD, 1, 2500)
    sent = {(d.event, d.destination.customer_id) for d in Delivery.select()}
    assert sent == {("lead.sold", alpha.id), ("lead.sold", None)}
    sold = next(d for d in Delivery.select() if d.destination.customer_id == alpha.id)
    assert sold.payload["price"] == 25.0 and sold.payload["id"] == ref
    assert sold.payload["fields"] == {"first_name": "Katy", "state": "FL", "zip": "33139"}
    claimed = done.timeline[-1]
    assert claimed.kind == "claimed"
    assert claimed.details == {"by": operator.name, "customer": alpha.public_id, "price": 25.0}
    assert marketplace.list_marketplace(operator) == []
    with pytest.raises(ConflictError, match="no longer on the marketplace"):
        marketplace.claim_lead(operator, ref, customer_ref="alpha")
    assert customer("alpha").balance_cents == 7500 and len(charges(done.id)) == 1


@pytest.mark.parametrize(
    ("setup", "claimant", "message"),
    [
        ("inactive", "alpha", "customer alpha is inactive"),
        (
            "poor",
            "beta",
            r"balance of customer beta \(10.00\) does not cover the lead's price \(25.00\)",
        ),
        ("no claims", "alpha", "reached its limit of 0 claims a day"),
    ],
)
def test_a_customer_who_cannot_claim_is_refused_and_nothing_is_written(
    market, operator, setup, claimant, message
):
    if setup == "inactive":
        customers.set_customer_active(operator, "alpha", False)
    elif setup == "no claims":
        customers.update_customer(operator, "alpha", {"claims_per_day": 0})
    ref = place(market)
    before = customer(claimant).balance_cents
    with pytest.raises(ConflictError, match=message):
        marketplace.claim_lead(operator, ref, customer_ref=claimant)
    lead = Lead.get(Lead.public_id == ref)
    assert (lead.status, lead.customer_id) == ("marketplace", None)
    assert customer(claimant).balance_cents == before and charges(lead.id) == []
    assert BidCounter.select().count() == 0
    assert not LeadEvent.select().where(LeadEvent.kind == "claimed").exists()


def test_the_day_limit_refuses_the_claim_over_it(market, operator):
    customers.update_customer(operator, "alpha", {"claims_per_day": 2})
    refs = [place(market, n) for n in range(3)]
    for ref in refs[:2]:
        marketplace.claim_lead(operator, ref, customer_ref="alpha")
    with pytest.raises(ConflictError, match="reached its limit of 2 claims a day"):
        marketplace.claim_lead(operator, refs[2], customer_ref="alpha")
    assert customer("alpha").balance_cents == 5000
    customers.update_customer(operator, "alpha", {"claims_per_day": None})  # no limit
    assert marketplace.claim_lead(operator, refs[2], customer_ref="alpha").status == "assigned"
    counter = BidCounter.get(BidCounter.bid_id == f"claim:{customer('alpha').public_id}")
    assert counter.leads == 3 and counter.period_start == claim_day(datetime.utcnow())


def test_a_deleted_lead_and_a_routed_lead_cannot_be_claimed(market, operator, make_world):
    ref = place(market)
    deletion.delete_leads(operator, [ref])
    with pytest.raises(ConflictError, match="was deleted"):
        marketplace.claim_lead(operator, ref, customer_ref="alpha")
    with pytest.raises(NotFoundError):
        marketplace.claim_lead(operator, "lead_nobody", customer_ref="alpha")
    other = place(market, 2)
    with pytest.raises(NotFoundError, match="no customer"):
        marketplace.claim_lead(operator, other, customer_ref="nobody")
    with pytest.raises(InvalidError) as caught:
        marketplace.claim_lead(operator, other)
    assert list(caught.value.details) == ["customer"]


def test_a_test_lead_is_never_listed_nor_claimed(make_world, db):
    world = make_world(home_rules(), {"alpha": "100"}, test_mode=True)
    operator = operator_actor(world.tenant.code)
    ref = place(world, zip="00004")  # test mode: 00004 answers marketplace
    assert marketplace.list_marketplace(operator) == []
    with pytest.raises(ConflictError, match="test lead"):
        marketplace.claim_lead(operator, ref, customer_ref="alpha")


def test_without_a_price_a_lead_is_claimed_for_nothing(make_world, db):
    world = make_world(home_rules(price=""), {"alpha": "0"})
    operator = operator_actor(world.tenant.code)
    ref = place(world)
    assert Lead.get(Lead.public_id == ref).offer_cents == 0
    done = marketplace.claim_lead(operator, ref, customer_ref="alpha")
    assert (done.status, done.price_cents) == ("assigned", 0)
    assert [entry.amount_cents for entry in charges(done.id)] == [0]


def test_a_customer_claims_for_itself_alone(market, operator):
    ref = place(market)
    alpha = customer_actor(market, "alpha")
    assert [offer.id for offer in marketplace.list_marketplace(alpha)] == [ref]
    with pytest.raises(ForbiddenError, match="for itself alone"):
        marketplace.claim_lead(alpha, ref, customer_ref="beta")
    done = marketplace.claim_lead(alpha, ref)
    assert (done.status, done.customer_id) == ("assigned", customer("alpha").id)
    claimed = LeadEvent.get(LeadEvent.lead == done.id, LeadEvent.kind == "claimed")
    assert claimed.details["by"] == "buyer@alpha.example"
    nobody = Actor(name="x", role="customer", tenant=market.tenant)  # no customer: no rights
    with pytest.raises(ForbiddenError):
        marketplace.list_marketplace(nobody)
    viewer = Actor(name="v", role="viewer", tenant=market.tenant)
    assert marketplace.list_marketplace(viewer) == []  # a reader sees the marketplace
    with pytest.raises(ForbiddenError):
        marketplace.claim_lead(viewer, ref, customer_ref="alpha")


def test_a_customers_claims_limit_is_set_kept_and_checked(market, operator):
    assert customers.update_customer(operator, "alpha", {"claims_per_day": 5}).claims_per_day == 5
    kept = customers.update_customer(operator, "alpha", {"name": "Alpha Solar"})
    assert kept.claims_per_day == 5  # a setting not given is kept
    assert (
        customers.update_customer(operator, "alpha", {"claims_per_day": None}).claims_per_day
        is None
    )
    with pytest.raises(InvalidError) as caught:
        customers.update_customer(operator, "alpha", {"claims_per_day": -1})
    assert list(caught.value.details) == ["claims_per_day"]
    with pytest.raises(ForbiddenError):
        viewer = Actor(name="v", role="viewer", tenant=market.tenant)
        customers.update_customer(viewer, "alpha", {"claims_per_day": 1})


# -- concurrency (PostgreSQL: row locks; SQLite serialises every writer)


def in_threads(calls) -> list[object]:
    """Run the calls at the same moment, each from a thread with its own connection; return
    each one's result or exception."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        try:
            return call()
        except ConflictError as error:
            return error
        finally:
            database.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_simultaneous_claims_of_one_lead_sell_it_once(make_world, db):
    if not is_postgresql():
        pytest.skip("row locks under concurrency: PostgreSQL (SQLite serialises writers)")
    slugs = [f"buyer{n}" for n in range(8)]
    world = make_world(home_rules(), {slug: "100" for slug in slugs})
    operator = operator_actor(world.tenant.code)
    ref = place(world)
    db.close()
    results = in_threads(
        [
            lambda slug=slug: marketplace.claim_lead(operator, ref, customer_ref=slug)
            for slug in slugs
        ]
    )
    won = [result for result in results if isinstance(result, Lead)]
    refused = [result for result in results if isinstance(result, ConflictError)]
    assert len(won) == 1 and len(refused) == 7, results
    lead = Lead.get(Lead.public_id == ref)
    assert (lead.status, lead.customer_id) == ("assigned", won[0].customer_id)
    assert len(charges(lead.id)) == 1
    balances = sorted(c.balance_cents for c in Customer.select().where(Customer.slug.in_(slugs)))
    assert balances == [7500] + [10000] * 7
    assert LeadEvent.select().where(LeadEvent.kind == "claimed").count() == 1


def test_many_customers_claiming_many_leads_overrun_nothing(make_world, db):
    if not is_postgresql():
        pytest.skip("row locks under concurrency: PostgreSQL (SQLite serialises writers)")
    # Tight: 60.00 pays two claims of 25.00, the limit allows three a day; 4 customers.
    slugs = ["c1", "c2", "c3", "c4"]
    world = make_world(home_rules(), {slug: "60" for slug in slugs})
    operator = operator_actor(world.tenant.code)
    customers.update_customer(operator, "c1", {"claims_per_day": 1})
    customers.update_customer(operator, "c2", {"claims_per_day": 3})
    customers.update_customer(operator, "c3", {"claims_per_day": 3})
    refs = [place(world, n) for n in range(10)]
    db.close()
    rng = random.Random(17)
    calls = [
        lambda ref=ref, slug=slug: marketplace.claim_lead(operator, ref, customer_ref=slug)
        for ref in refs
        for slug in rng.sample(slugs, 3)
    ]
    rng.shuffle(calls)
    results = in_threads(calls)
    won = [result for result in results if isinstance(result, Lead)]
    assert all(isinstance(result, Lead | ConflictError) for result in results)
    assert len({lead.id for lead in won}) == len(won)  # a lead claimed at most once
    for slug in slugs:
        buyer = customer(slug)
        bought = Lead.select().where(Lead.customer == buyer.id)
        entries = WalletEntry.select().where(WalletEntry.customer == buyer.id)
        assert buyer.balance_cents >= 0
        assert buyer.balance_cents == 6000 - 2500 * bought.count()
        assert sum(e.amount_cents for e in entries) == buyer.balance_cents
        assert bought.count() <= (buyer.claims_per_day if buyer.claims_per_day is not None else 2)
        counted = (
            BidCounter.select(BidCounter.leads)
            .where(BidCounter.bid_id == f"claim:{buyer.public_id}")
            .scalar()
        )
        assert (counted or 0) == bought.count()
    for ref in refs:
        lead = Lead.get(Lead.public_id == ref)
        assert len(charges(lead.id)) == (1 if lead.status == "assigned" else 0)
    assert len(won) == Lead.select().where(Lead.status == "assigned").count() >= 7
