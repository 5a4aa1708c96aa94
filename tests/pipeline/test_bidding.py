"""Bidding's decisions on facts given by hand: no database, the pipeline is pure."""

from datetime import UTC, datetime

import pytest

from app.domain.routing import CustomerFacts, Facts
from app.dsl import compile_rules
from app.pipeline import PreparedLead

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wednesday, 10:00 in New York
HEAD = """
category home "Home" {
    field zip zip
    field flag bool
}
lead_type any "Any" in home fallback
"""


def rules(bids: str, plan: str = "stage bidding highest_price") -> object:
    return compile_rules({"r.rules": f"{HEAD}{bids}\nplan home {{\n    {plan}\n}}\n"})


def customer(slug: str, number: int, balance: int = 100_000, active: bool = True):
    return CustomerFacts(number, f"cus_{slug}", slug, active, balance)


CUSTOMERS = {slug: customer(slug, n) for n, slug in enumerate(["a", "b", "c", "d"], 1)}


def decide(ruleset, facts: Facts = None, lead=None, now: datetime = NOW):
    prepared = PreparedLead(lead or {"zip": "10001", "flag": False}, ruleset, "home", now)
    return prepared, prepared.decide(facts or Facts(customers=CUSTOMERS))


def bidding_step(decision):
    (step,) = [s for s in decision.steps if s.kind in ("bidding", "assigned")]
    return step


def results(decision) -> list[tuple[str, str]]:
    return [(d["bid"], d["result"]) for d in bidding_step(decision).details["decisions"]]


def test_every_bid_is_set_aside_for_its_first_reason_in_order():
    ruleset = rules(
        """
bid cond for customer a on any price 90.00
    when flag
bid unlisted for customer a on any price 80.00
bid closed for customer a on any price 70.00
    schedule sat..sun 00:00..24:00 "America/New_York"
bid unknown for customer nobody on any price 60.00
bid inactive for customer b on any price 55.00
    cap 1 per day
bid short for customer c on any price 50.00
bid capped for customer d on any price 45.00
    cap 1 per day
bid spent for customer d on any price 40.00
    budget 50.00 per day
bid winner for customer a on any price 10.00
""",
        "stage bidding highest_price"
        " [cond, closed, unknown, inactive, short, capped, spent, winner]",
    )
    prepared, _ = decide(ruleset)
    # Nothing is read for bids set aside before the read: condition, stage list, schedule.
    assert set(prepared.needs.bids) == {"unknown", "inactive", "short", "capped", "spent", "winner"}
    day = datetime(2026, 11, 18)  # the bids without a schedule count days of UTC
    assert ("capped", "day", day) in prepared.needs.counters
    facts = Facts(
        customers={
            "a": customer("a", 1),
            "b": customer("b", 2, active=False),  # inactive before its cap is looked at
            "c": customer("c", 3, balance=4999),
            "d": customer("d", 4),
        },
        usage={
            ("inactive", "day", day): (1, 5500),
            ("capped", "day", day): (1, 4500),
            ("spent", "day", day): (0, 1001),
        },
    )
    decision = prepared.decide(facts)
    assert results(decision) == [
        ("cond", "condition_false"),
        ("unlisted", "not_in_stage"),
        ("closed", "schedule_closed"),
        ("unknown", "unknown_customer"),
        ("inactive", "inactive_customer"),
        ("short", "wallet_short"),
        ("capped", "cap_exhausted"),
        ("spent", "budget_exhausted"),
        ("winner", "won"),
    ]
    details = bidding_step(decision).details
    assert details["excluded"] == {
        "closed": "outside its schedule",
        "unknown": "customer nobody does not exist",
        "inactive": "customer b is inactive",
        "short": "customer c has insufficient funds",
        "capped": "cap reached (1 per day)",
        "spent": "budget exhausted (50.00 per day)",
    }
    assert details["bids"] == [
        "closed",
        "unknown",
        "inactive",
        "short",
        "capped",
        "spent",
        "winner",
    ]
    assert (decision.status, decision.bid_id, decision.price_cents) == ("assigned", "winner", 1000)
    assert decision.customer == facts.customers["a"]


def test_highest_price_then_least_recent_win_then_file_order():
    ruleset = rules(
        """
bid first for customer a on any price 30.00
bid second for customer b on any price 30.00
bid third for customer c on any price 30.00
bid cheap for customer d on any price 20.00
"""
    )
    _, decision = decide(ruleset)  # nobody won yet: file order
    assert decision.bid_id == "first"
    assert results(decision)[1:] == [
        ("second", "lost_tie"),
        ("third", "lost_tie"),
        ("cheap", "outbid"),
    ]
    assert decision.sale.check_last_won is True  # a tie: the rank depended on last wins
    won = {"first": datetime(2026, 11, 18, 14), "second": datetime(2026, 11, 18, 13)}
    _, decision = decide(ruleset, Facts(customers=CUSTOMERS, last_won=won))
    assert decision.bid_id == "third"  # never won: before every bid that has
    won["third"] = datetime(2026, 11, 18, 14, 30)
    _, decision = decide(ruleset, Facts(customers=CUSTOMERS, last_won=won))
    assert decision.bid_id == "second"  # the least recent win
    assert decision.sale.last_won == won["second"]  # as read: the sale re-checks it


def test_a_higher_price_wins_without_looking_at_last_wins():
    ruleset = rules(
        """
bid dear for customer a on any price 40.00
bid cheap for customer b on any price 30.00
"""
    )
    won = {"dear": datetime(2026, 11, 18, 14, 59)}
    _, decision = decide(ruleset, Facts(customers=CUSTOMERS, last_won=won))
    assert decision.bid_id == "dear"
    assert decision.sale.check_last_won is False


def test_round_robin_gives_the_lead_to_the_least_recent_winner():
    ruleset = rules(
        """
bid first for customer a on any price 10.00
bid second for customer b on any price 50.00
bid third for customer c on any price 30.00
""",
        "stage bidding round_robin",
    )
    _, decision = decide(ruleset)
    assert decision.bid_id == "first"  # nobody won yet: file order, whatever the price
    won = {"first": datetime(2026, 11, 18, 14), "second": datetime(2026, 11, 18, 12)}
    _, decision = decide(ruleset, Facts(customers=CUSTOMERS, last_won=won))
    assert decision.bid_id == "third"
    assert results(decision) == [
        ("third", "won"),
        ("second", "lost_round_robin"),
        ("first", "lost_round_robin"),
    ]
    assert decision.sale.check_last_won is True


@pytest.mark.parametrize(
    ("used", "sold"),
    [
        ((1, 1000), True),  # one of two
        ((2, 2000), False),  # the cap of today is reached
    ],
)
def test_caps_count_the_current_period_in_the_bids_time_zone(used, sold):
    ruleset = rules(
        """
bid capped for customer a on any price 10.00
    cap 2 per day
    schedule mon..sun 00:00..24:00 "America/New_York"
"""
    )
    at = datetime(2026, 11, 19, 3, 0, tzinfo=UTC)  # still Wednesday in New York
    wednesday = datetime(2026, 11, 18, 5, 0)
    prepared, _ = decide(ruleset, now=at)
    assert prepared.needs.counters == (("capped", "day", wednesday),)
    tuesday = datetime(2026, 11, 17, 5, 0)
    facts = Facts(
        customers=CUSTOMERS,
        usage={("capped", "day", wednesday): used, ("capped", "day", tuesday): (9, 9000)},
    )
    decision = prepared.decide(facts)
    assert (decision.status == "assigned") is sold
    if sold:
        assert decision.sale.periods == (("day", wednesday),)
        assert decision.sale.cap == ("day", 2)


def test_a_budget_takes_a_lead_that_fits_exactly():
    ruleset = rules(
        """
bid budgeted for customer a on any price 10.00
    budget 30.00 per month
"""
    )
    prepared, _ = decide(ruleset)
    month = datetime(2026, 11, 1)  # the bid's zone is UTC
    (key,) = prepared.needs.counters
    assert key == ("budgeted", "month", month)
    decision = prepared.decide(Facts(customers=CUSTOMERS, usage={key: (2, 2000)}))
    assert decision.status == "assigned"
    assert decision.sale.budget == ("month", 3000)
    decision = prepared.decide(Facts(customers=CUSTOMERS, usage={key: (2, 2001)}))
    assert (decision.status, results(decision)) == (
        "unassigned",
        [("budgeted", "budget_exhausted")],
    )


def test_a_closed_schedule_sets_the_bid_aside_and_the_next_stage_takes_the_lead():
    ruleset = rules(
        """
bid weekend for customer a on any price 10.00
    schedule sat..sun 09:00..17:00 "America/New_York"
""",
        "stage bidding highest_price\n    stage marketplace",
    )
    prepared, decision = decide(ruleset)
    assert prepared.needs.customers == ()  # nothing to read
    assert results(decision) == [("weekend", "schedule_closed")]
    assert decision.status == "marketplace" and decision.steps[-1].kind == "marketplace"
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    _, decision = decide(ruleset, now=saturday)
    assert decision.bid_id == "weekend"


def test_every_bidding_stage_is_read_for_before_deciding():
    ruleset = rules(
        """
bid only_first for customer a on any price 20.00
bid only_second for customer b on any price 10.00
""",
        "stage bidding highest_price [only_first]\n    stage bidding highest_price [only_second]",
    )
    prepared, _ = decide(ruleset)
    assert prepared.needs.customers == ("a", "b")
    decision = prepared.decide(Facts(customers={"b": customer("b", 2)}))
    assert decision.bid_id == "only_second"
    kinds = [step.kind for step in decision.steps]
    assert kinds == ["classified", "bidding", "assigned"]
