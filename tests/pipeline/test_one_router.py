"""Live routing and the dry-run's replay route the same leads alike: they share the router."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.analysis.replay import Conditions, Side
from app.domain.routing import CustomerFacts, Facts, SeenKey
from app.dsl import compile_rules
from app.pipeline import PreparedLead

START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # a Monday

bids = st.lists(
    st.tuples(
        st.sampled_from([1000, 2000, 3000]),  # price in cents: ties likely
        st.booleans(),  # `when flag`
        st.sampled_from([None, 1, 2]),  # cap per hour
        st.sampled_from([None, 5000]),  # budget per day
        st.booleans(),  # the customer is active
        st.sampled_from([None, "mon..fri 08:00..20:00", "mon..sun 22:00..02:00"]),
    ),
    min_size=1,
    max_size=4,
)
leads = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 3600),  # seconds since the previous lead
        st.booleans(),  # flag
        st.sampled_from([None, "+15550000001", "+15550000002"]),
    ),
    max_size=40,
)


# Sets the flag the bids' `when` reads: a lead's bids change with the alter stage.
ALTER = '    stage alter {\n        set flag = not flag when phone == "+15550000002"\n    }\n'


def rule_text(offers, method: str, marketplace: bool, alter: bool = False) -> str:
    lines = [
        'category home "Home" {\n    field flag bool\n    field phone phone\n}',
        'lead_type any "Any" in home fallback',
        'dedupe "Phone" in home on phone within 2 hours',
        "plan home {\n"
        + (ALTER if alter else "")
        + f"    stage bidding {method}"
        + ("\n    stage marketplace price 3.50" if marketplace else "")
        + "\n}",
    ]
    for index, (price, when, cap, budget, _, schedule) in enumerate(offers):
        lines.append(f"bid b{index} for customer c{index} on any price {price / 100:.2f}")
        if when:
            lines.append("    when flag")
        if cap is not None:
            lines.append(f"    cap {cap} per hour")
        if budget is not None:
            lines.append(f"    budget {budget / 100:.2f} per day")
        if schedule is not None:
            lines.append(f'    schedule {schedule} "America/New_York"')
    return "\n".join(lines) + "\n"


class Store:
    """What the database would hold for live routing: dedupe history, counters, last wins."""

    def __init__(self, customers: dict[str, bool]) -> None:
        self.customers = {
            slug: CustomerFacts(n, f"cus_{n}", slug, active, 10**12)  # wallets never run dry
            for n, (slug, active) in enumerate(customers.items())
        }
        self.keys: dict[str, SeenKey] = {}
        self.usage: dict[tuple, tuple[int, int]] = {}
        self.last_won: dict[str, datetime] = {}

    def route(self, ruleset, lead: dict, now: datetime, lead_id: int):
        prepared = PreparedLead(lead, ruleset, "home", now)
        decision = prepared.decide(Facts(self.keys, self.customers, self.usage, self.last_won))
        at = now.replace(tzinfo=None)
        for digest in decision.record_keys:
            self.keys[digest] = SeenKey(at, lead_id, f"lead_{lead_id}")
        if decision.sale is not None:
            sale = decision.sale
            for period, start in sale.periods:
                leads, cents = self.usage.get((sale.bid_id, period, start), (0, 0))
                self.usage[(sale.bid_id, period, start)] = (leads + 1, cents + sale.price_cents)
            self.last_won[sale.bid_id] = at
        return decision


@settings(max_examples=150, deadline=None)
@given(
    bids,
    st.sampled_from(["highest_price", "round_robin"]),
    st.booleans(),
    leads,
    st.booleans(),
)
def test_live_routing_and_the_replay_decide_alike(offers, method, marketplace, steps, alter):
    ruleset = compile_rules({"r.rules": rule_text(offers, method, marketplace, alter)})
    customers = {f"c{index}": offer[4] for index, offer in enumerate(offers)}
    store = Store(customers)
    conditions = Conditions()
    side = Side(ruleset, conditions, customers, 0)
    now = START
    for number, (gap, flag, phone) in enumerate(steps):
        now += timedelta(seconds=gap)
        lead = {"flag": flag, "phone": phone}
        live = store.route(ruleset, lead, now, number)
        memo = [None] * len(conditions.functions)
        replayed = side.route(lead, "home", now.timestamp(), 0, memo, conditions.functions)
        # A marketplace lead's price is its claim price (the lead's offer_cents).
        price = live.offer_cents if live.status == "marketplace" else live.price_cents
        assert (live.status, live.bid_id, price) == (
            replayed[0],
            replayed[4],
            replayed[6],
        ), (number, now)
