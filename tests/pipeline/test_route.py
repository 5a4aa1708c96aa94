"""Routing without HTTP: stages at chosen moments (schedules, periods in the bid's zone)."""

from datetime import UTC, datetime

import pytest

from app.domain.routing import Facts
from app.dsl import compile_rules
from app.pipeline.bidding import FactsLedger, rank_key
from app.pipeline.router import CategoryRouter
from app.pipeline.verdicts import Conditions
from app.services.routing import reroute_lead, take_new_lead
from app.store import facts
from app.store.leads import keep_failed_submission, new_submission
from app.store.models import Lead
from app.store.rules import active_ruleset

RULES = """
category home "Home" {
    field phone phone required(post)
    field zip zip required(post)
}
lead_type any "Any" in home fallback
bid nightly for customer acme on any price 30.00 cap 1 per day
    schedule mon..sun 00:00..24:00 "America/New_York"
bid office for customer acme on any price 20.00
    schedule mon..fri 09:00..17:00 "America/New_York"
bid always for customer acme on any price 5.00
plan home {
    stage bidding highest_price
}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def submission(world, request_id: str, phone: str, now: datetime):
    """Return the post and lead of a new home lead with this phone, not yet stored."""
    values = {"phone": phone, "zip": "10001"}
    return new_submission(
        world.source,
        request_id,
        values,
        {},
        values,
        category="home",
        partner_id=None,
        is_test=False,
        received_at=now.replace(tzinfo=None),
    )


def accept(world, request_id: str, phone: str, now: datetime) -> Lead:
    """Store a home lead with this phone whose first routing failed (reprocessable), as the
    intake keeps it; return its row."""
    post, lead = submission(world, request_id, phone, now)
    keep_failed_submission(post, lead, [], "RuntimeError: down", request_id)
    return lead


@pytest.fixture
def route(make_world):
    """Return route(n, now) -> (status, bid id) for a new lead with its own phone."""
    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)

    def run(n: int, now: datetime):
        post, lead = submission(world, f"req-{n}", f"+1555301{n:04d}", now)
        outcome = take_new_lead(post, lead, version, ruleset, now=now)
        stored = Lead.get(Lead.public_id == lead.public_id)
        assert (stored.status, stored.bid_id) == (outcome.status, outcome.bid_id)
        return outcome.status, outcome.bid_id

    return run


def test_caps_count_days_in_the_bids_time_zone(route):
    # 10:00 on Wednesday in New York: the capped bid (highest) sells.
    assert route(1, at("2026-11-18T15:00:00")) == ("assigned", "nightly")
    # 03:00 UTC Thursday is still Wednesday 22:00 in New York: cap reached; office closed.
    assert route(2, at("2026-11-19T03:00:00")) == ("assigned", "always")
    # 01:00 Thursday in New York: a new day, the cap is fresh.
    assert route(3, at("2026-11-19T06:00:00")) == ("assigned", "nightly")


def test_schedules_open_in_their_time_zone(route):
    assert route(1, at("2026-11-18T15:00:00"))[1] == "nightly"
    # Office hours (9-17 New York) on a weekday, once the capped bid is spent.
    assert route(2, at("2026-11-18T16:00:00"))[1] == "office"
    # 17:30 in New York: the office bid has closed.
    assert route(3, at("2026-11-18T22:30:00"))[1] == "always"
    # Saturday: closed all day.
    assert route(4, at("2026-11-21T15:00:00"))[1] == "nightly"
    assert route(5, at("2026-11-21T16:00:00"))[1] == "always"


def test_rank_breaks_price_ties_by_least_recent_win_then_file_order():
    text = RULES.replace("price 20.00", "price 30.00")
    rules = compile_rules({"r.rules": text})
    candidates = CategoryRouter(rules, "home", Conditions()).by_type["any"].bids

    def rank(method, won):
        ledger = FactsLedger(Facts(last_won=won))
        ordered = sorted(candidates, key=lambda c: rank_key(method, c, ledger.last_won))
        return [c.bid.id for c in ordered]

    assert rank("highest_price", {}) == ["nightly", "office", "always"]
    won = {"nightly": datetime(2026, 1, 2), "office": datetime(2026, 1, 1)}
    assert rank("highest_price", won) == ["office", "nightly", "always"]
    assert rank("round_robin", won) == ["always", "office", "nightly"]


@pytest.mark.parametrize("races", [1, 3])
def test_a_sale_that_lost_its_race_is_decided_again(make_world, monkeypatch, races):
    """Another routing empties the wallet between bidding's read and the sale, `races` times.

    The losing attempt is rolled back whole (no charge, no timeline, no dedupe record) and
    routing decides again; after three lost races the attempt that locks first sells.
    """
    from app.store.db import database
    from app.store.models import Customer, LeadEvent, WalletEntry

    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    read = facts.FactsQuery.facts
    calls = []

    def racing_read(self, rows):
        found = read(self, rows)
        calls.append(1)
        if len(calls) <= races:  # inside the routing transaction, undone by its rollback
            Customer.update(balance_cents=0).where(Customer.tenant == world.tenant).execute()
        return found

    monkeypatch.setattr(facts.FactsQuery, "facts", racing_read)
    now = at("2026-11-18T15:00:00")
    lead = accept(world, "req-race", "+15553010001", now)
    outcome = reroute_lead(lead, version, ruleset, now=now)
    assert (outcome.status, outcome.bid_id, len(calls)) == ("assigned", "nightly", races + 1)
    database.connect(reuse_if_open=True)
    customer = Customer.get(Customer.tenant == world.tenant)
    assert customer.balance_cents == 100000 - 3000
    assert WalletEntry.select().where(WalletEntry.kind == "charge").count() == 1
    kinds = [e.kind for e in LeadEvent.select().where(LeadEvent.lead == lead.id)]
    assert kinds == ["received", "distribution_error", "classified", "assigned"]


@pytest.mark.parametrize("dedupe", [False, True])
@pytest.mark.parametrize("races", [1, 3])
def test_a_new_lead_whose_sale_lost_its_race_is_written_once(
    make_world, monkeypatch, races, dedupe
):
    """The intake's take_new_lead inserts the post and lead with their outcome: a lost race
    rolls all of it back, so deciding again leaves one post, one lead, one charge. With a
    dedupe check, bidding's read goes with the keys' upsert (PostgreSQL)."""
    from app.store.db import database
    from app.store.models import Customer, DedupeKey, LeadEvent, Post, WalletEntry

    rules = RULES + ('dedupe "Same phone" in home on phone within 30 days' if dedupe else "")
    world = make_world(rules, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    result = facts.FactsQuery.facts
    calls = []

    def racing_result(self, rows):
        found = result(self, rows)
        calls.append(1)
        if len(calls) <= races:  # inside the routing transaction, undone by its rollback
            Customer.update(balance_cents=0).where(Customer.tenant == world.tenant).execute()
        return found

    monkeypatch.setattr(facts.FactsQuery, "facts", racing_result)
    now = at("2026-11-18T15:00:00")
    values = {"phone": "+15553010009", "zip": "10001"}
    post, lead = new_submission(
        world.source,
        "req-new",
        values,
        {},
        values,
        category="home",
        partner_id=None,
        is_test=False,
        received_at=now.replace(tzinfo=None),
    )
    outcome = take_new_lead(post, lead, version, ruleset, notes=["a note"], now=now)
    assert (outcome.status, outcome.bid_id, len(calls)) == ("assigned", "nightly", races + 1)
    database.connect(reuse_if_open=True)
    assert Customer.get(Customer.tenant == world.tenant).balance_cents == 100000 - 3000
    (stored,) = Lead.select()
    assert Post.select().count() == 1 and stored.post_id == Post.get().id
    assert (stored.public_id, stored.status) == (lead.public_id, "assigned")
    assert stored.bid_id == "nightly"
    assert (stored.price_cents, stored.rule_version_id) == (3000, version.id)
    assert stored.customer.slug == "acme" and stored.assigned_at == now.replace(tzinfo=None)
    (charge,) = WalletEntry.select().where(WalletEntry.kind == "charge")
    assert (charge.lead_id, charge.amount_cents) == (stored.id, -3000)
    events = LeadEvent.select().where(LeadEvent.lead == stored.id).order_by(LeadEvent.id)
    assert [e.kind for e in events] == ["received", "note", "classified", "assigned"]
    keys = DedupeKey.select()
    assert [key.lead_id for key in keys] == ([stored.id] if dedupe else [])


@pytest.mark.parametrize("status", ["assigned", None])
def test_a_lead_that_may_not_be_routed_is_refused_and_left_alone(make_world, status):
    """The lead's lock refuses a routing when its status is not allowed (or it is gone)."""
    from app.domain.errors import ConflictError
    from app.store.db import database
    from app.store.models import Customer, LeadEvent

    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    now = at("2026-11-18T15:00:00")
    lead = accept(world, "req-twice", "+15553010002", now)
    assert reroute_lead(lead, version, ruleset, now=now).status == "assigned"
    if status is None:
        LeadEvent.delete().where(LeadEvent.lead == lead.id).execute()
        Lead.delete().where(Lead.id == lead.id).execute()
    with pytest.raises(ConflictError, match=f"is {status}: it cannot be routed now"):
        reroute_lead(lead, version, ruleset, now=now)
    database.connect(reuse_if_open=True)
    assert Customer.get(Customer.tenant == world.tenant).balance_cents == 100000 - 3000
    assert LeadEvent.select().where(LeadEvent.lead == lead.id).count() == (4 if status else 0)
    assert database.in_transaction() is False
