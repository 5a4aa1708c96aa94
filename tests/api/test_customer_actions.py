"""/api/customer: a buyer returns its own leads within its policy, and claims marketplace
leads (first claim wins); neither reaches another buyer's leads."""

from __future__ import annotations

import pytest

from app.store.customers import deposit, find_customer
from app.store.models import Customer, Lead, WalletEntry
from app.store.tenants import create_customer_user

BROKE = {"sunco": "0", "brightside": "0", "bargain": "0"}  # no bid can pay: the marketplace


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def buyer_token(world, slug: str, email: str) -> str:
    _, token = create_customer_user(find_customer(world.tenant, slug), email)
    return token


def test_a_buyer_returns_its_own_lead_within_its_policy(client, world, seed_lead, db):
    sold = world.post(seed_lead).json
    assert sold["status"] == "assigned", sold
    lead = Lead.get(Lead.public_id == sold["lead_public_id"])
    owner = lead.customer
    token = buyer_token(world, owner.slug, "owner@example.com")
    other = next(c for c in Customer.select() if c.id != owner.id)
    stranger = buyer_token(world, other.slug, "other@example.com")
    balance = owner.balance_cents
    db.close()
    me = client.get("/api/customer/me", headers=bearer(token)).json
    assert (me["return_window_days"], me["return_limit_percent"]) == (7, 15)
    reasons = client.get("/api/customer/return-reasons", headers=bearer(token)).json["reasons"]
    assert "Invalid phone" in reasons
    url = f"/api/customer/leads/{lead.public_id}/return"
    body = {"reason": "invalid PHONE", "note": "Disconnected"}
    # Another buyer's lead is not found, and stays as it was.
    refused = client.post(url, json=body, headers=bearer(stranger))
    assert refused.status_code == 404 and refused.json["error"] == "not_found"
    bad = client.post(url, json={"reason": "Too expensive"}, headers=bearer(token))
    assert bad.status_code == 422 and list(bad.json["errors"]) == ["reason"]
    # A buyer may not override its policy: the field does not exist for it.
    forced = client.post(url, json={**body, "override": True}, headers=bearer(token))
    assert forced.status_code == 422 and "override" in forced.json["errors"]
    done = client.post(url, json=body, headers=bearer(token))
    assert done.status_code == 200, done.json
    assert done.json["status"] == "returned" and done.json["id"] == lead.public_id
    assert "phone" in done.json["fields"]  # the buyer keeps the lead's data
    again = client.post(url, json=body, headers=bearer(token))
    assert again.status_code == 409
    credit = WalletEntry.get((WalletEntry.lead == lead.id) & (WalletEntry.kind == "credit"))
    assert credit.amount_cents == lead.price_cents
    assert Customer.get_by_id(owner.id).balance_cents == balance + lead.price_cents
    wallet = client.get("/api/customer/wallet", headers=bearer(token)).json
    assert wallet["entries"][0]["kind"] == "credit"


def test_a_return_outside_the_window_is_refused_to_the_buyer(client, world, seed_lead, db):
    sold = world.post(seed_lead).json
    lead = Lead.get(Lead.public_id == sold["lead_public_id"])
    token = buyer_token(world, lead.customer.slug, "owner@example.com")
    Customer.update(return_window_days=0).where(Customer.id == lead.customer_id).execute()
    db.close()
    url = f"/api/customer/leads/{lead.public_id}/return"
    refused = client.post(url, json={"reason": "Other"}, headers=bearer(token))
    assert refused.status_code == 409 and "window" in refused.json["errors"]
    assert Lead.get_by_id(lead.id).status == "assigned"


@pytest.fixture
def offered(make_world, seed_lead, db):
    """A tenant whose buyers could not pay: the seed lead waits on the marketplace at 15.00
    (the example rules' marketplace stage); then sunco and brightside get money and users."""
    world = make_world(customers=BROKE)
    placed = world.post(seed_lead).json
    assert placed["status"] == "marketplace", placed
    tokens = {}
    for slug in ("sunco", "brightside"):
        deposit(find_customer(world.tenant, slug), 100_00)
        tokens[slug] = buyer_token(world, slug, f"{slug}@example.com")
    db.close()
    return world, placed["lead_public_id"], tokens


def test_a_buyer_lists_the_marketplace_and_claims_a_lead_once(client, offered):
    world, ref, tokens = offered
    listed = client.get("/api/customer/marketplace", headers=bearer(tokens["sunco"])).json
    [offer] = listed
    assert offer["id"] == ref and offer["price"] == 15.0
    assert set(offer["teaser"]) == {"city", "state", "zip"}  # no name, phone or email
    url = f"/api/customer/marketplace/{ref}/claim"
    claimed = client.post(url, headers=bearer(tokens["sunco"]))
    assert claimed.status_code == 200, claimed.json
    assert claimed.json["status"] == "assigned" and claimed.json["price"] == 15.0
    assert "phone" in claimed.json["fields"]  # now the buyer's: its deliverable fields
    second = client.post(url, headers=bearer(tokens["brightside"]))
    assert second.status_code == 409 and second.json["error"] == "conflict"
    sunco = find_customer(world.tenant, "sunco")
    assert sunco.balance_cents == 100_00 - 15_00
    assert find_customer(world.tenant, "brightside").balance_cents == 100_00
    assert client.get("/api/customer/marketplace", headers=bearer(tokens["sunco"])).json == []
    mine = client.get("/api/customer/leads", headers=bearer(tokens["sunco"])).json
    assert [lead["id"] for lead in mine] == [ref]


def test_a_lead_never_on_the_marketplace_is_not_found_to_a_claiming_buyer(
    client, world, seed_lead, db
):
    sold = world.post(seed_lead).json
    assert sold["status"] == "assigned"
    lead = Lead.get(Lead.public_id == sold["lead_public_id"])
    other = next(c for c in Customer.select() if c.id != lead.customer_id)
    token = buyer_token(world, other.slug, "other@example.com")
    db.close()
    for ref in (lead.public_id, "lead_nope"):
        answer = client.post(f"/api/customer/marketplace/{ref}/claim", headers=bearer(token))
        assert answer.status_code == 404 and answer.json["error"] == "not_found"
    assert Lead.get_by_id(lead.id).customer_id == lead.customer_id
