"""Dedupe decisions on a history given by hand: no database, the pipeline is pure."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.routing import Facts, SeenKey
from app.dsl import compile_rules
from app.pipeline import PreparedLead
from app.pipeline.dedupe import key_hash

NOW = datetime(2026, 11, 18, 15, 0, 0, 250_000, tzinfo=UTC)
RULES = compile_rules(
    {
        "r.rules": """
category home "Home" {
    field phone phone
    field email email
    field zip zip
    field flag bool
}
lead_type any "Any" in home fallback
audit "Flagged" in home when flag
dedupe "Phone" in home on phone within 30 days
dedupe "Email and zip" in home on email, zip within 2 hours
plan home { stage marketplace }
"""
    }
)
LEAD = {"phone": "+15553010001", "email": "Ann@Example.com ", "zip": "10001", "flag": False}
PHONE = key_hash("home", "phone=15553010001")
EMAIL_ZIP = key_hash("home", "email=ann@example.com|zip=10001")


def route(history: dict, lead=None, lead_id=None):
    prepared = PreparedLead(lead or LEAD, RULES, "home", NOW, lead_id=lead_id)
    return prepared, prepared.decide(Facts(keys=history))


def seen(ago: timedelta, lead_id: int = 7, original: str = "lead_original"):
    return SeenKey((NOW - ago).replace(tzinfo=None), lead_id, original)


def test_the_keys_read_are_the_stored_hashes_of_the_normalized_values():
    prepared, _ = route({})
    assert prepared.needs.key_hashes == tuple(sorted([PHONE, EMAIL_ZIP]))


@pytest.mark.parametrize(
    ("ago", "duplicate"),
    [
        (timedelta(days=30), True),  # the window's first moment still counts
        (timedelta(days=30, microseconds=1), False),
        (timedelta(0), True),
    ],
)
def test_a_key_seen_within_its_window_makes_a_duplicate(ago, duplicate):
    _, decision = route({PHONE: seen(ago)})
    assert (decision.status == "duplicate") is duplicate
    if duplicate:
        (step,) = [s for s in decision.steps if s.kind == "duplicate"]
        assert step.message == "Duplicate (Phone) of lead_original."
        assert step.details == {"check": "Phone", "original": "lead_original"}
        assert decision.record_keys == ()  # a duplicate does not extend the window


def test_each_check_has_its_own_window():
    _, decision = route({EMAIL_ZIP: seen(timedelta(hours=2, seconds=1))})
    assert decision.status == "marketplace"
    _, decision = route({EMAIL_ZIP: seen(timedelta(hours=1), original=None)})
    assert decision.status == "duplicate"
    assert decision.steps[-1].message == "Duplicate (Email and zip) of an earlier lead."


def test_a_lead_routed_again_is_not_its_own_duplicate():
    history = {PHONE: seen(timedelta(minutes=5), lead_id=42)}
    _, decision = route(history, lead_id=42)
    assert decision.status == "marketplace"
    assert set(decision.record_keys) == {PHONE, EMAIL_ZIP}
    _, decision = route(history, lead_id=43)
    assert decision.status == "duplicate"


def test_only_a_lead_that_passes_is_recorded_on_its_keys():
    _, decision = route({})
    assert decision.status == "marketplace"
    assert sorted(decision.record_keys) == sorted([PHONE, EMAIL_ZIP])
    prepared, decision = route({}, lead={**LEAD, "flag": True})
    assert decision.status == "audit"
    assert prepared.needs.key_hashes == () and decision.record_keys == ()


def test_a_missing_field_skips_its_check():
    lead = {**LEAD, "email": None}
    prepared, decision = route({EMAIL_ZIP: seen(timedelta(minutes=1))}, lead=lead)
    assert prepared.needs.key_hashes == (PHONE,)
    assert decision.status == "marketplace"
    assert decision.record_keys == (PHONE,)


def test_a_lead_approved_by_its_review_skips_its_audits_not_its_dedupe_checks():
    flagged = {**LEAD, "flag": True}
    held = PreparedLead(flagged, RULES, "home", NOW).decide(Facts(keys={}))
    assert held.status == "audit"
    approved = PreparedLead(flagged, RULES, "home", NOW, audit=False)
    assert approved.needs.key_hashes == tuple(sorted({PHONE, EMAIL_ZIP}))
    assert approved.decide(Facts(keys={})).status == "marketplace"
    again = approved.decide(Facts(keys={PHONE: seen(timedelta(days=1))}))
    assert again.status == "duplicate"
