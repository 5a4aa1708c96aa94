"""Routing from a chosen plan stage (a reprocess): the stages before it are skipped, the
lead is classified, audited and checked for duplicates all the same."""

from datetime import UTC, datetime

import pytest

from app.domain.reprocess import START_STAGES, start_index
from app.domain.routing import CustomerFacts, Facts
from app.dsl import compile_rules
from app.pipeline import PreparedLead
from app.pipeline.router import CategoryRouter
from app.pipeline.verdicts import Conditions

RULES = """
category home "Home" {
    field first_name text
    field phone phone required(post)
}
lead_type any "Any" in home fallback
audit "Test name" in home when first_name == "Test"
dedupe "Same phone" in home on phone within 30 days
bid acme_any for customer acme on any price 30.00
plan home {
    stage bidding highest_price
    stage marketplace
    stage bidding highest_price
}
"""
NOW = datetime(2026, 11, 18, 15, tzinfo=UTC)
ACME = {"acme": CustomerFacts(1, "cus_1", "acme", True, 10**9)}


@pytest.fixture(scope="module")
def ruleset():
    return compile_rules({"r.rules": RULES})


def decide(ruleset, lead, start: int = 0, customers=ACME):
    prepared = PreparedLead(lead, ruleset, "home", NOW, start=start)
    return prepared, prepared.decide(Facts(customers=customers))


def test_from_the_first_stage_the_lead_is_sold(ruleset):
    prepared, decision = decide(ruleset, {"phone": "+15553010001"})
    assert prepared.needs.bids == ("acme_any",)
    assert (decision.status, decision.bid_id) == ("assigned", "acme_any")


def test_from_the_marketplace_the_bidding_before_it_is_skipped(ruleset):
    prepared, decision = decide(ruleset, {"phone": "+15553010001"}, start=1)
    assert prepared.needs.bids == ()  # no bid of a skipped stage is read for
    assert decision.status == "marketplace" and decision.sale is None
    kinds = [step.kind for step in decision.steps]
    assert "auction" not in kinds and kinds[-1] == "marketplace"


def test_from_a_later_stage_only_its_bids_run(ruleset):
    prepared, decision = decide(ruleset, {"phone": "+15553010001"}, start=2)
    assert prepared.needs.bids == ("acme_any",)
    assert (decision.status, decision.bid_id) == ("assigned", "acme_any")


def test_audits_still_hold_a_lead_routed_from_a_stage(ruleset):
    _, decision = decide(ruleset, {"phone": "+15553010001", "first_name": "Test"}, start=1)
    assert decision.status == "audit"


def test_the_router_itself_starts_at_the_stage(ruleset):
    conditions = Conditions()
    router = CategoryRouter(ruleset, "home", conditions)

    class Ledger:
        side = 0
        customers = ACME
        last_won: dict = {}

    def route(start):
        memo = [None] * len(conditions.functions)
        memo[router.dedupes[0][1]] = False  # no phone history: the check is skipped
        lead = {"phone": "+15553010001"}
        return router.route(
            lead, NOW.timestamp(), 0, memo, conditions.functions, Ledger(), start=start
        )[0]

    assert route(1) == "marketplace"
    assert route(3) == "unassigned"  # past the last stage: no stage took it


@pytest.mark.parametrize(
    "kinds, start, index",
    [
        (("bidding", "marketplace"), "bidding", 0),
        (("bidding", "marketplace"), "marketplace", 1),
        (("marketplace", "bidding", "marketplace"), "marketplace", 0),
        (("bidding",), "marketplace", None),
        ((), "bidding", 0),
    ],
)
def test_the_start_stage_is_the_plans_first_of_its_kind(kinds, start, index):
    assert start_index(kinds, start) == index


def test_every_start_stage_names_a_plan_stage_kind_or_the_beginning():
    assert START_STAGES["bidding"] is None
    assert set(START_STAGES) >= {"bidding", "marketplace"}
