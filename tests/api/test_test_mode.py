"""Test mode: deterministic outcomes by zip; wallets, caps and dedupe history untouched."""

import pytest

from app.store.models import BidCounter, Customer, DedupeKey, Lead, WalletEntry


@pytest.fixture
def sandbox(make_world):
    return make_world(test_mode=True)


@pytest.mark.parametrize(
    ("zip_code", "status", "price"),
    [
        ("00001", "assigned", 45.0),
        ("00002", "unassigned", 0),
        ("00003", "duplicate", 0),
        ("00004", "marketplace", 0),
        ("00005", "audit", 0),
        ("33139", "audit", 0),
    ],
)
def test_test_zips_give_documented_outcomes(sandbox, seed_lead, zip_code, status, price):
    balances = {c.slug: c.balance_cents for c in Customer.select()}
    response = sandbox.post(dict(seed_lead, zip=zip_code))
    assert response.status_code == 201
    assert (response.json["status"], response.json["price"]) == (status, price)
    lead = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert lead.is_test is True
    assert lead.customer is None
    assert {c.slug: c.balance_cents for c in Customer.select()} == balances
    assert WalletEntry.select().where(WalletEntry.kind == "charge").count() == 0
    assert BidCounter.select().count() == 0
    assert DedupeKey.select().count() == 0


def test_test_leads_leave_no_dedupe_history(sandbox, make_world, seed_lead):
    for _ in range(2):
        assert sandbox.post(dict(seed_lead, zip="00001")).json["status"] == "assigned"
    live = make_world(name="Live")
    assert live.post(seed_lead).json["status"] == "assigned"


def test_test_mode_still_validates(sandbox):
    response = sandbox.post({"zip": "00001"})
    assert response.status_code == 422


def test_is_test_must_be_a_boolean_in_test_mode(sandbox, seed_lead):
    response = sandbox.post(dict(seed_lead, zip="00001", is_test="maybe"))
    assert response.status_code == 422
    assert response.json["errors"] == {"is_test": ["Must be true or false."]}
    assert sandbox.post(dict(seed_lead, zip="00001", is_test="true")).status_code == 201


def test_test_leads_are_hidden_from_lists_unless_asked(sandbox, make_world, seed_lead, client):
    sandbox.post(dict(seed_lead, zip="00002"))
    listed = client.get("/api/admin/leads", headers=sandbox.admin).json
    assert listed == []
    only_test = client.get("/api/admin/leads?test=true", headers=sandbox.admin).json
    assert [lead["status"] for lead in only_test] == ["unassigned"]
    assert only_test[0]["is_test"] is True
    both = client.get("/api/admin/leads?test=all", headers=sandbox.admin).json
    assert len(both) == 1
