"""Sales re-check in their own writes what bidding read without locks."""

from datetime import datetime

import pytest

from app.domain.clock import utcnow
from app.store.db import database
from app.store.models import BidCounter, BidState, Customer, WalletEntry
from app.store.sales import Sale, record_sale

RULES = """
category home "Home" {
    field phone phone required(post)
    field zip zip required(post)
}
lead_type any "Any" in home fallback
bid capped for customer acme on any price 30.00 cap 2 per day budget 50.00 per month
plan home {
    stage bidding highest_price
}
"""
AT = datetime(2026, 11, 18, 15, 0)
DAY, MONTH = datetime(2026, 11, 18), datetime(2026, 11, 1)


class _Rollback(Exception):
    pass


@pytest.fixture
def acme(make_world):
    world = make_world(RULES, {"acme": "100"})
    database.connect(reuse_if_open=True)
    yield Customer.get((Customer.tenant == world.tenant) & (Customer.slug == "acme"))
    database.close()


def sale(customer, **changes) -> Sale:
    fields = dict(
        tenant_id=customer.tenant_id,
        customer_id=customer.id,
        bid_id="capped",
        price_cents=3000,
        lead_id=None,
        note="lead test",
        at=AT,
        periods=(("day", DAY), ("month", MONTH)),
        cap=("day", 2),
        budget=("month", 5000),
    )
    fields.update(changes)
    return Sale(**fields)


def attempt(a_sale: Sale) -> int | None:
    """Record the sale in a transaction that is rolled back when it fails, as routing does."""
    try:
        with database.atomic():
            balance = record_sale(a_sale)
            if balance is None:
                raise _Rollback
            return balance
    except _Rollback:
        return None


def state(customer):
    counters = {
        row.period: (row.leads, row.spent_cents)
        for row in BidCounter.select().where(BidCounter.tenant == customer.tenant_id)
    }
    won = BidState.select(BidState.last_won_at).where(BidState.tenant == customer.tenant_id)
    return (
        Customer.get_by_id(customer.id).balance_cents,
        WalletEntry.select().where(WalletEntry.kind == "charge").count(),
        counters,
        won.scalar(),
    )


def test_a_sale_that_holds_charges_counts_and_records_the_win(acme):
    before = utcnow()
    assert attempt(sale(acme)) == 7000
    balance, charges, counters, won_at = state(acme)
    assert (balance, charges, counters) == (7000, 1, {"day": (1, 3000), "month": (1, 3000)})
    assert before <= won_at <= utcnow()  # stamped when written: wins ordered as they commit


def test_a_wallet_short_since_the_read_writes_nothing(acme):
    Customer.update(balance_cents=2999).where(Customer.id == acme.id).execute()
    assert attempt(sale(acme)) is None
    assert state(acme) == (2999, 0, {}, None)


def test_an_inactive_customer_writes_nothing(acme):
    Customer.update(active=False).where(Customer.id == acme.id).execute()
    assert attempt(sale(acme)) is None
    assert state(acme) == (10000, 0, {}, None)


def test_a_cap_filled_since_the_read_writes_nothing(acme):
    cheap = sale(acme, price_cents=100)
    assert attempt(cheap) == 9900
    assert attempt(cheap) == 9800
    assert attempt(cheap) is None  # a third lead today: the cap is 2
    assert state(acme)[:3] == (9800, 2, {"day": (2, 200), "month": (2, 200)})


def test_a_budget_spent_since_the_read_writes_nothing(acme):
    no_cap = sale(acme, cap=None, periods=(("month", MONTH),))
    assert attempt(no_cap) == 7000
    assert attempt(no_cap) is None  # 30 + 30 > 50 this month
    assert state(acme)[:3] == (7000, 1, {"month": (1, 3000)})


def test_a_win_since_the_read_fails_only_a_sale_ranked_on_it(acme):
    first = sale(acme, cap=None, budget=None, periods=())
    assert attempt(first) == 7000
    won_at = state(acme)[3]
    later = datetime(2026, 11, 18, 16, 0)
    # Ranked on "never won" (round robin, a tie): the bid has won since.
    assert attempt(sale(acme, periods=(), at=later, check_last_won=True)) is None
    # Ranked on the win that is there: it holds.
    assert attempt(sale(acme, periods=(), at=later, last_won=won_at, check_last_won=True)) == 4000
    # Not ranked on it (a unique highest price): the last win does not matter.
    assert attempt(sale(acme, periods=(), at=later, budget=None)) == 1000
    assert state(acme)[0] == 1000
