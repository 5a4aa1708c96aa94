"""Returns: the price credited, the bid's cap and budget units freed, the buyer's policy
(window, monthly limit) enforced unless an admin overrides, the tenant's reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.domain.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from app.domain.returns import DEFAULT_REASONS, allowed_returns, month_start
from app.services import customers, leads, returns
from app.services.actor import Actor, operator_actor, user_actor
from app.services.leads import LeadFilter
from app.store.customers import deposit
from app.store.models import BidCounter, Customer, Delivery, Lead, LeadEvent, WalletEntry
from app.store.tenants import CUSTOMER_ROLE, create_user
from tests.delivery_rows import destination_row
from tests.security.endpoints import database_snapshot

RULES = """
category home "Home services" {
    field first_name text required(post)
    field phone phone required(post)
    field state us_state required(post)
    field zip zip required(post)
    field kind one of ["Roof", "Solar", "Other"]
}

lead_type roof "Roofing" in home priority 20 when kind == "Roof"
lead_type solar "Solar" in home priority 10 when kind == "Solar"

bid capped for customer alpha on solar price 25.00 cap 1 per day
bid budgeted for customer beta on solar price 10.00 budget 10 per month
bid roofer for customer gamma on roof price 40.00

plan home {
    stage bidding highest_price
    stage marketplace
}
"""


@pytest.fixture
def shop(make_world):
    """A tenant whose solar bids have a cap of 1 a day (alpha) and a budget of 10.00 a
    month (beta); gamma buys every roof lead. No return limit unless a test sets one."""
    world = make_world(RULES, {"alpha": "100", "beta": "100", "gamma": "1000"})
    Customer.update(return_limit_percent=None).execute()
    return world


@pytest.fixture
def operator(shop, db):
    return operator_actor(shop.tenant.code)


class Seller:
    """Posts home leads, each with a phone of its own."""

    def __init__(self, world) -> None:
        self.world = world
        self.n = 0

    def __call__(self, kind: str = "Solar") -> Lead:
        self.n += 1
        body = {
            "first_name": "Katy",
            "phone": f"555-301-{self.n:04d}",
            "state": "FL",
            "zip": "33139",
            "kind": kind,
        }
        answer = self.world.post(body)
        assert answer.status_code == 201, answer.json
        return Lead.get(Lead.public_id == answer.json["lead_public_id"])


@pytest.fixture
def sell(shop):
    return Seller(shop)


def counter(bid_id: str) -> tuple[int, int]:
    row = BidCounter.get(BidCounter.bid_id == bid_id)
    return row.leads, row.spent_cents


def balance(slug: str) -> int:
    return Customer.get(Customer.slug == slug).balance_cents


def test_a_return_credits_the_price_and_records_who_and_why(shop, operator, sell):
    hook = destination_row(shop.tenant)
    hook.events = ["lead.returned"]
    hook.save()
    lead = sell()
    assert (lead.status, lead.customer.slug, lead.price_cents) == ("assigned", "alpha", 2500)
    assert balance("alpha") == 7500
    done = returns.return_lead(
        operator, lead.public_id, reason="  invalid   PHONE ", note=" disconnected "
    )
    assert (done.status, done.customer_id, done.price_cents) == ("returned", lead.customer_id, 2500)
    assert balance("alpha") == 10000
    credit = WalletEntry.get(WalletEntry.kind == "credit")
    assert (credit.amount_cents, credit.balance_after_cents, credit.lead_id) == (
        2500,
        10000,
        lead.id,
    )
    assert credit.customer_id == lead.customer_id
    assert credit.note == f"return of lead {lead.public_id}: Invalid phone"
    entry = done.timeline[-1]
    assert entry.kind == "returned"
    assert entry.details == {
        "by": operator.name,
        "reason": "Invalid phone",
        "note": "disconnected",
        "credit": 25.0,
        "override": False,
        "overridden": None,
    }
    assert entry.message == (
        f"Returned by {operator.name} for alpha (Invalid phone: disconnected); 25.00 credited."
    )
    (event,) = Delivery.select().where(Delivery.event == "lead.returned")
    assert event.lead_id == lead.id
    assert event.payload["data"]["lead"]["status"] == "returned"
    assert event.payload["data"]["lead"]["customer"] == lead.customer.public_id
    assert event.payload["data"]["return"] == {"reason": "Invalid phone", "note": "disconnected"}
    # The buyer keeps it, and a list of returned leads has it.
    listed = leads.list_leads(operator, LeadFilter(status="returned", test=None))
    assert [found.public_id for found in listed] == [lead.public_id]


def test_a_returned_lead_frees_its_cap_unit_for_the_next_lead(shop, operator, sell):
    first = sell()
    assert first.bid_id == "capped" and counter("capped") == (1, 2500)
    second = sell()
    assert second.bid_id == "budgeted"  # alpha's cap of 1 a day is used
    returns.return_lead(operator, first.public_id, reason="Duplicate")
    assert counter("capped") == (0, 0)
    third = sell()
    assert (third.bid_id, third.customer.slug) == ("capped", "alpha")
    assert counter("capped") == (1, 2500)
    assert sell().bid_id != "capped"  # and the cap binds again


def test_a_returned_lead_frees_its_budget_for_the_next_lead(shop, operator, sell):
    returns.return_lead(operator, sell().public_id, reason="Other")  # alpha's cap is free again
    sold = [sell(), sell()]
    assert [lead.bid_id for lead in sold] == ["capped", "budgeted"]
    assert counter("budgeted") == (1, 1000)
    assert sell().status == "marketplace"  # beta's budget of 10.00 a month is spent
    returns.return_lead(operator, sold[1].public_id, reason="Other")
    assert counter("budgeted") == (0, 0)
    again = sell()
    assert (again.bid_id, again.price_cents) == ("budgeted", 1000)


def test_a_lead_is_returned_once(shop, operator, sell):
    lead = sell()
    returns.return_lead(operator, lead.public_id, reason="Other")
    before = database_snapshot()
    with pytest.raises(ConflictError, match="returned already"):
        returns.return_lead(operator, lead.public_id, reason="Other", override=True)
    assert database_snapshot() == before
    assert WalletEntry.select().where(WalletEntry.kind == "credit").count() == 1
    assert counter("capped") == (0, 0)  # freed once, not below zero


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "Other"}, "is uncategorized: only a lead sold"),
        ({"deleted": True}, "was deleted"),
        ({"is_test": True}, "is a test lead"),
    ],
)
def test_only_a_sold_lead_is_returned(shop, operator, sell, change, message):
    lead = sell(change.get("kind", "Solar"))
    if change.get("deleted"):
        Lead.update(deleted_at=utcnow()).where(Lead.id == lead.id).execute()
    if change.get("is_test"):
        Lead.update(is_test=True).where(Lead.id == lead.id).execute()
    before = database_snapshot()
    with pytest.raises(ConflictError, match=message):
        returns.return_lead(operator, lead.public_id, reason="Other")
    assert database_snapshot() == before


def test_an_unknown_lead_is_not_found(shop, operator):
    with pytest.raises(NotFoundError):
        returns.return_lead(operator, "lead_nobody", reason="Other")


def test_a_reason_not_in_the_list_names_the_allowed_ones(shop, operator, sell):
    lead = sell()
    for given in ("Changed my mind", "", None):
        with pytest.raises(InvalidError) as caught:
            returns.return_lead(operator, lead.public_id, reason=given)
        assert list(caught.value.details) == ["reason"]
        assert "'Invalid phone'" in caught.value.details["reason"][0]
    with pytest.raises(InvalidError) as caught:
        returns.return_lead(operator, lead.public_id, reason="Other", note="x" * 501)
    assert list(caught.value.details) == ["note"]
    assert Lead.get_by_id(lead.id).status == "assigned"


def test_a_tenant_sets_its_own_reasons(shop, operator, sell):
    assert returns.return_reasons(operator) == list(DEFAULT_REASONS)
    mine = returns.set_return_reasons(operator, [" Bad  lead ", "Never asked"])
    assert mine == ["Bad lead", "Never asked"] == returns.return_reasons(operator)
    lead = sell()
    with pytest.raises(InvalidError, match="one of 'Bad lead', 'Never asked'"):
        returns.return_lead(operator, lead.public_id, reason="Other")
    done = returns.return_lead(operator, lead.public_id, reason="bad lead")
    assert done.timeline[-1].details["reason"] == "Bad lead"
    for wrong in ([], ["A", "a"], ["ok", " "], ["x" * 101]):
        with pytest.raises(InvalidError) as caught:
            returns.set_return_reasons(operator, wrong)
        assert list(caught.value.details) == ["reasons"]
    assert returns.set_return_reasons(operator, None) == list(DEFAULT_REASONS)


def test_a_return_outside_the_window_is_refused_unless_overridden(shop, operator, sell):
    customers.update_customer(operator, "alpha", {"return_window_days": 3})
    lead = sell()
    sold_at = utcnow() - timedelta(days=3, hours=1)
    Lead.update(assigned_at=sold_at).where(Lead.id == lead.id).execute()
    before = database_snapshot()
    with pytest.raises(ConflictError) as caught:
        returns.return_lead(operator, lead.public_id, reason="Other")
    assert list(caught.value.details) == ["window"]
    assert "sold 3.0 days ago" in caught.value.message
    assert "alpha's return window is 3 days" in caught.value.message
    assert database_snapshot() == before
    done = returns.return_lead(operator, lead.public_id, reason="Other", override=True)
    assert done.status == "returned"
    details = done.timeline[-1].details
    assert details["override"] is True and "return window is 3 days" in details["overridden"]
    assert "Policy overridden" in done.timeline[-1].message


def test_the_monthly_limit_counts_this_months_returns_against_its_sales(shop, operator, sell):
    customers.update_customer(operator, "gamma", {"return_limit_percent": 20})
    sold = [sell("Roof") for _ in range(10)]  # gamma: 20% of 10 = 2 returns this month
    for lead in sold[:2]:
        returns.return_lead(operator, lead.public_id, reason="Other")
    before = database_snapshot()
    with pytest.raises(ConflictError) as caught:
        returns.return_lead(operator, sold[2].public_id, reason="Other")
    assert list(caught.value.details) == ["limit"]
    assert "gamma has returned 2 of the 10 leads sold to it in" in caught.value.message
    assert "its limit of 20% allows 2" in caught.value.message
    assert database_snapshot() == before
    # A return made last month does not count this month.
    LeadEvent.update(at=month_start(utcnow()) - timedelta(minutes=1)).where(
        LeadEvent.kind == "returned", LeadEvent.lead == sold[0].id
    ).execute()
    returns.return_lead(operator, sold[2].public_id, reason="Other")
    customers.update_customer(operator, "gamma", {"return_limit_percent": None})
    returns.return_lead(operator, sold[3].public_id, reason="Other")  # no limit


def test_allowed_returns_round_down_with_at_least_one():
    assert [allowed_returns(15, sold) for sold in (0, 1, 6, 7, 13, 14, 100)] == [
        1,
        1,
        1,
        1,
        1,
        2,
        15,
    ]
    assert allowed_returns(0, 100) == 0 and allowed_returns(100, 3) == 3


def test_a_customer_returns_its_own_leads_within_its_policy_only(shop, sell, db):
    alpha = Customer.get(Customer.slug == "alpha")
    mine = sell()
    theirs = sell("Roof")  # gamma's
    me = Actor(name="buyer@alpha.example", role=CUSTOMER_ROLE, tenant=shop.tenant, customer=alpha)
    with pytest.raises(NotFoundError):
        returns.return_lead(me, theirs.public_id, reason="Other")
    with pytest.raises(ForbiddenError, match="cannot override"):
        returns.return_lead(me, mine.public_id, reason="Other", override=True)
    Lead.update(assigned_at=utcnow() - timedelta(days=8)).where(Lead.id == mine.id).execute()
    with pytest.raises(ConflictError, match="return window is 7 days"):
        returns.return_lead(me, mine.public_id, reason="Other")
    Lead.update(assigned_at=utcnow()).where(Lead.id == mine.id).execute()
    done = returns.return_lead(me, mine.public_id, reason="Other")
    assert done.status == "returned"
    assert LeadEvent.get(LeadEvent.kind == "returned").details["by"] == "buyer@alpha.example"


def test_only_an_admin_overrides(shop, sell, db):
    lead = sell()
    user, _ = create_user(shop.tenant, "analyst@acme.example", "analyst")
    with pytest.raises(ForbiddenError, match="leads.return"):
        returns.return_lead(user_actor(user), lead.public_id, reason="Other")
    assert "leads.return_override" not in user_actor(user).permissions


def test_a_bulk_return_reports_each_lead(shop, operator, sell):
    first, second = sell(), sell()
    returns.return_lead(operator, first.public_id, reason="Other")
    with pytest.raises(NotFoundError, match="none was returned"):
        returns.return_leads(operator, [second.public_id, "lead_nobody"], reason="Other")
    assert Lead.get_by_id(second.id).status == "assigned"
    done = returns.return_leads(operator, [first.public_id, second.public_id], reason="Other")
    assert [(r.id, r.status, r.error) for r in done] == [
        (first.public_id, "returned", f"lead {first.public_id} was returned already"),
        (second.public_id, "returned", None),
    ]


def test_the_wallet_equals_deposits_less_charges_plus_credits(shop, operator, sell):
    deposit(Customer.get(Customer.slug == "gamma"), 500)
    sold = [sell("Roof") for _ in range(4)]
    for lead in sold[:2]:
        returns.return_lead(operator, lead.public_id, reason="Other", override=True)
    for customer in Customer.select():
        entries = list(WalletEntry.select().where(WalletEntry.customer == customer))
        total = {
            kind: sum(e.amount_cents for e in entries if e.kind == kind)
            for kind in ("deposit", "charge", "credit")
        }
        assert customer.balance_cents == total["deposit"] + total["charge"] + total["credit"]
        assert customer.balance_cents == sum(e.amount_cents for e in entries) >= 0
    assert balance("gamma") == 100000 + 500 - 2 * 4000


def test_a_return_frees_the_unit_of_the_period_its_sale_fell_in(shop, operator, sell):
    lead = sell()
    today = BidCounter.get(BidCounter.bid_id == "capped")
    yesterday = today.period_start - timedelta(days=1)
    # As if the lead had been sold yesterday, with the rest of that day's sales.
    Lead.update(assigned_at=yesterday + timedelta(hours=5)).where(Lead.id == lead.id).execute()
    BidCounter.create(
        tenant=shop.tenant.id,
        bid_id="capped",
        period="day",
        period_start=yesterday,
        leads=3,
        spent_cents=7500,
    )
    old = BidCounter.create(  # a row of a period long gone is never touched
        tenant=shop.tenant.id,
        bid_id="capped",
        period="month",
        period_start=yesterday - timedelta(days=90),
        leads=1,
        spent_cents=2500,
    )
    returns.return_lead(operator, lead.public_id, reason="Other")
    rows = {
        (row.period, row.period_start): (row.leads, row.spent_cents)
        for row in BidCounter.select().where(BidCounter.bid_id == "capped")
    }
    assert rows == {
        ("day", today.period_start): (1, 2500),  # not the period of the sale (moved)
        ("day", yesterday): (2, 5000),
        ("month", old.period_start): (1, 2500),
    }
