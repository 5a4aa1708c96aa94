"""/api/admin/marketplace and /api/admin/leads/{id}/claim; a customer's claims limit."""

from __future__ import annotations

import pytest

from app.store.models import Customer, Lead, WalletEntry
from tests.services.test_marketplace import home_rules, place


@pytest.fixture
def market(make_world):
    return make_world(home_rules(), {"alpha": "100", "beta": "10"})


def test_the_marketplace_lists_price_and_teaser(market, client):
    ref = place(market, city="Miami")
    response = client.get("/api/admin/marketplace", headers=market.admin)
    assert response.status_code == 200, response.json
    (offer,) = response.json
    assert offer["id"] == ref and offer["price"] == 25.0 and offer["lead_type"] == "any"
    assert offer["teaser"] == {"state": "FL", "zip": "33139", "city": "Miami"}
    assert set(offer) == {"id", "category", "lead_type", "received_at", "price", "teaser"}
    other = client.get("/api/admin/marketplace?category=roof", headers=market.admin)
    assert other.status_code == 200 and other.json == []
    bad = client.get("/api/admin/marketplace?limit=0", headers=market.admin)
    assert bad.status_code == 422 and "limit" in bad.json["errors"]
    assert client.get("/api/admin/marketplace").status_code == 401


def test_a_claim_answers_the_lead_assigned_and_a_second_gets_409(market, client):
    ref = place(market)
    path = f"/api/admin/leads/{ref}/claim"
    missing = client.post(path, json={}, headers=market.admin)
    assert missing.status_code == 422 and "customer" in missing.json["errors"]
    nul = client.post(path, json={"customer": "al\u0000pha"}, headers=market.admin)
    assert nul.status_code == 422 and nul.json["errors"]["customer"] == [
        "contains a NUL character (\\u0000)"
    ]
    done = client.post(path, json={"customer": "alpha"}, headers=market.admin)
    assert done.status_code == 200, done.json
    body = done.json
    assert (body["status"], body["customer"], body["price"]) == ("assigned", "alpha", 25.0)
    assert body["offer"] == 25.0 and body["bid_id"].startswith("claim:cus_")
    assert body["timeline"][-1]["kind"] == "claimed"
    again = client.post(path, json={"customer": "beta"}, headers=market.admin)
    assert again.status_code == 409 and "no longer on the marketplace" in again.json["message"]
    assert client.get("/api/admin/marketplace", headers=market.admin).json == []
    nobody = client.post(
        "/api/admin/leads/lead_nobody/claim", json={"customer": "alpha"}, headers=market.admin
    )
    assert nobody.status_code == 404


def test_a_claim_the_customer_cannot_pay_is_409_and_charges_nothing(market, client):
    ref = place(market)
    poor = client.post(
        f"/api/admin/leads/{ref}/claim", json={"customer": "beta"}, headers=market.admin
    )
    assert poor.status_code == 409 and "does not cover" in poor.json["message"]
    lead = Lead.get(Lead.public_id == ref)
    assert lead.status == "marketplace"
    assert WalletEntry.select().where(WalletEntry.lead == lead.id).count() == 0


def test_a_customers_claims_limit_is_set_with_patch(market, client):
    path = "/api/admin/customers/alpha"
    done = client.patch(path, json={"claims_per_day": 1}, headers=market.admin)
    assert done.status_code == 200 and done.json["claims_per_day"] == 1
    refs = [place(market, n) for n in range(2)]
    claim = {"customer": "alpha"}
    first = client.post(f"/api/admin/leads/{refs[0]}/claim", json=claim, headers=market.admin)
    assert first.status_code == 200
    over = client.post(f"/api/admin/leads/{refs[1]}/claim", json=claim, headers=market.admin)
    assert over.status_code == 409 and "limit of 1 claims a day" in over.json["message"]
    bad = client.patch(path, json={"claims_per_day": -1}, headers=market.admin)
    assert bad.status_code == 422 and "claims_per_day" in bad.json["errors"]
    unknown = client.patch(path, json={"colour": "red"}, headers=market.admin)
    assert unknown.status_code == 422
    cleared = client.patch(path, json={"claims_per_day": None}, headers=market.admin)
    assert cleared.status_code == 200 and cleared.json["claims_per_day"] is None
    kept = client.patch(path, json={}, headers=market.admin)
    assert kept.status_code == 200 and kept.json["claims_per_day"] is None
    assert Customer.get(Customer.slug == "alpha").claims_per_day is None
