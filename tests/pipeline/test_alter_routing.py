"""Routing with `stage alter` in the store: a stored lead routed again, a sale that lost its
race, a deletion."""

from datetime import UTC, datetime

from app.services.routing import reroute_lead, take_new_lead
from app.store import facts
from app.store.db import database
from app.store.deletion import erase_leads
from app.store.leads import keep_failed_submission, new_submission
from app.store.models import Customer, Lead, LeadEvent
from app.store.rules import active_ruleset

RULES = """
category home "Home" {
    field phone phone required(post)
    field state us_state required(post)
    field score integer
}
lead_type any "Any" in home fallback
bid texas for customer acme on any price 30.00 when state == "TX" and score >= 50
plan home {
    stage alter {
        set state = "TX" when state == "OK"
        set score = score + 40
    }
    stage bidding highest_price
}
"""
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def submission(world, request_id: str, values: dict):
    return new_submission(
        world.source,
        request_id,
        values,
        {},
        values,
        category="home",
        partner_id=None,
        is_test=False,
        received_at=NOW.replace(tzinfo=None),
    )


def test_a_stored_lead_routed_again_stores_its_altered_data(make_world):
    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    post, lead = submission(world, "req-1", {"phone": "+15553010001", "state": "OK", "score": 20})
    keep_failed_submission(post, lead, [], "RuntimeError: down", "req-1")
    decision = reroute_lead(lead, version, ruleset, now=NOW)
    assert (decision.status, decision.bid_id) == ("assigned", "texas")
    assert decision.altered == {"phone": "+15553010001", "state": "TX", "score": 60}
    database.connect(reuse_if_open=True)
    stored = Lead.get_by_id(lead.id)
    assert stored.data == decision.altered and lead.data == decision.altered
    assert (stored.status, stored.bid_id) == ("assigned", "texas")


def test_a_missing_value_changes_nothing(make_world):
    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    post, lead = submission(world, "req-2", {"phone": "+15553010002", "state": "OK"})
    decision = take_new_lead(post, lead, version, ruleset, now=NOW)
    # The state is altered; the score is missing, so `score + 40` is missing: left as is.
    assert decision.altered == {"phone": "+15553010002", "state": "TX"}
    assert decision.status == "unassigned"  # `score >= 50` is false on a missing score
    stored = Lead.get(Lead.public_id == lead.public_id)  # PostgreSQL: no id read back
    event = LeadEvent.get(LeadEvent.lead == stored.id, LeadEvent.kind == "altered")
    assert [line["result"] for line in event.details["lines"]] == ["applied", "missing"]


def test_a_plan_without_alter_leaves_the_data_alone(make_world):
    alter = RULES[RULES.index("    stage alter") : RULES.index("    stage bidding")]
    world = make_world(RULES.replace(alter, ""), {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    post, lead = submission(world, "req-3", {"phone": "+15553010003", "state": "TX", "score": 90})
    decision = take_new_lead(post, lead, version, ruleset, now=NOW)
    assert (decision.status, decision.altered) == ("assigned", None)
    assert not LeadEvent.select().where(LeadEvent.kind == "altered").exists()


def test_a_sale_that_lost_its_race_alters_the_data_once(make_world, monkeypatch):
    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    read = facts.FactsQuery.facts
    calls = []

    def racing_read(self, rows):
        found = read(self, rows)
        calls.append(1)
        if len(calls) == 1:  # inside the routing transaction, undone by its rollback
            Customer.update(balance_cents=0).where(Customer.tenant == world.tenant).execute()
        return found

    monkeypatch.setattr(facts.FactsQuery, "facts", racing_read)
    post, lead = submission(world, "req-4", {"phone": "+15553010004", "state": "OK", "score": 20})
    decision = take_new_lead(post, lead, version, ruleset, now=NOW)
    assert (decision.status, len(calls)) == ("assigned", 2)
    database.connect(reuse_if_open=True)
    (stored,) = Lead.select()
    assert stored.data == {"phone": "+15553010004", "state": "TX", "score": 60}  # altered once


def test_deleting_a_lead_erases_the_values_its_alter_stage_kept(make_world):
    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    post, lead = submission(world, "req-5", {"phone": "+15553010005", "state": "OK", "score": 20})
    take_new_lead(post, lead, version, ruleset, now=NOW)
    stored = Lead.get(Lead.public_id == lead.public_id)
    erase_leads([stored.id], "admin@example.test", NOW.replace(tzinfo=None))
    event = LeadEvent.get(LeadEvent.lead == stored.id, LeadEvent.kind == "altered")
    assert event.details is None and event.message == "Altered state, score."


def test_counts_through_the_projection_see_a_stored_lead_altered(make_world):
    from app.analysis import leadsql
    from app.dsl import parse_condition
    from app.store.listing import LeadFilter

    world = make_world(RULES, {"acme": "1000"})
    version, ruleset = active_ruleset(world.tenant)
    post, lead = submission(world, "req-6", {"phone": "+15553010006", "state": "OK", "score": 20})
    keep_failed_submission(post, lead, [], "RuntimeError: down", "req-6")
    fields = {"state": "us_state", "score": "integer"}
    condition = leadsql.where_sql(
        parse_condition('state == "TX"', fields), fields, leadsql.dialect()
    )
    window = leadsql.Window(world.tenant.id, LeadFilter())
    assert window.count([("home", condition)], projection=True) == (1, [0])  # PostgreSQL: projected
    reroute_lead(lead, version, ruleset, now=NOW)
    database.connect(reuse_if_open=True)
    assert window.count([("home", condition)], projection=True) == (1, [1])
