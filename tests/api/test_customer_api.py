"""/api/customer: a buyer's own leads, wallet and deliveries; and how a tenant gives a
buyer its users (/api/admin/customers/<ref>/users)."""

from __future__ import annotations

import csv
import io

import pytest

from app.store.models import User
from tests.customer_world import leaked, make_market


@pytest.fixture
def market(make_world):
    return make_market(make_world)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_me_shows_the_customer_and_its_balance(client, market):
    response = client.get("/api/customer/me", headers=market.a.auth)
    assert response.status_code == 200
    assert response.json == {
        "id": market.a.customer.public_id,
        "slug": "sunco",
        "name": "Sunco",
        "balance": 75.0,
        "active": True,
        "return_window_days": 7,
        "return_limit_percent": 15,
        "claims_per_day": None,
        "created_at": response.json["created_at"],
    }


def test_the_lead_list_shows_public_facts_and_deliverable_fields(client, market):
    response = client.get("/api/customer/leads", headers=market.a.auth)
    assert response.status_code == 200
    deleted, roof, solar = response.json
    assert solar == {
        "id": market.a.leads[-1].public_id,
        "category": "solar",
        "lead_type": None,
        "status": "assigned",
        "price": 45.0,
        "is_test": False,
        "received_at": "2026-11-02T10:00:00Z",
        "assigned_at": "2026-11-02T10:01:00Z",
        "deleted": False,
        "fields": {"first_name": "Ann", "phone": "5552010001"},
    }
    assert roof["fields"] == {"phone": "5552010002"}
    assert deleted["deleted"] is True and deleted["fields"] == {}
    assert leaked(response.get_data(as_text=True)) == []


def test_the_lead_list_pages_and_filters(client, market):
    get = client.get
    page = get("/api/customer/leads?limit=1&offset=1", headers=market.a.auth).json
    assert [lead["id"] for lead in page] == [market.a.leads[1].public_id]
    since = get(
        "/api/customer/leads?assigned_since=2026-11-03T00:00:00Z", headers=market.a.auth
    ).json
    assert [lead["id"] for lead in since] == [lead.public_id for lead in market.a.leads[:2]]
    assert get("/api/customer/leads?status=returned", headers=market.a.auth).json == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bought", "status"),
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("assigned_since=2026-11-03T00:00:00Z&assigned_until=2026-11-01T00:00:00Z", None),
        ("category=%00", "category"),
    ],
)
def test_bad_filters_are_422_naming_the_field(client, market, query, field):
    response = client.get(f"/api/customer/leads?{query}", headers=market.a.auth)
    assert response.status_code == 422, response.json
    assert response.json["error"] == "validation_failed"
    assert (field or "assigned_until") in response.json["errors"]


def test_a_lead_shows_its_deliveries_and_their_attempts(client, market):
    a1 = market.a.leads[-1]
    response = client.get(f"/api/customer/leads/{a1.public_id}", headers=market.a.auth)
    assert response.status_code == 200
    body = response.json
    assert body["fields"] == {"first_name": "Ann", "phone": "5552010001"}
    [delivery] = body["deliveries"]
    assert delivery["id"] == market.a.delivery.public_id
    assert delivery["url"] == f"/api/customer/deliveries/{market.a.delivery.public_id}"
    assert "customer" not in delivery and "payload" not in delivery
    assert [a["answer"] for a in delivery["history"]] == ["busy", "still busy"]
    assert leaked(response.get_data(as_text=True)) == []


def test_the_export_is_a_streamed_csv_of_deliverable_fields(client, market):
    response = client.get("/api/customer/leads/export.csv", headers=market.a.auth)
    assert response.status_code == 200 and response.is_streamed
    assert response.content_type == "text/csv; charset=utf-8"
    assert 'filename="sunco-leads-' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header[-4:] == ["assigned_at", "deleted", "first_name", "phone"]
    assert [row[0] for row in rows] == [lead.public_id for lead in market.a.leads]
    assert leaked(text) == []
    roof = client.get("/api/customer/leads/export.csv?category=roof", headers=market.a.auth)
    header, *rows = list(csv.reader(io.StringIO(roof.get_data(as_text=True), newline="")))
    assert header[-1] == "phone" and len(rows) == 1


def test_the_wallet_shows_balance_and_entries(client, market):
    response = client.get("/api/customer/wallet?limit=2", headers=market.a.auth)
    assert response.status_code == 200
    body = response.json
    assert body["balance"] == 75.0 and body["total"] == 3
    charge, top_up = body["entries"]
    assert charge["kind"] == "charge" and charge["amount"] == -45.0
    assert charge["lead"] == market.a.leads[-1].public_id and charge["balance_after"] == 75.0
    assert top_up == {
        "kind": "deposit",
        "amount": 20.0,
        "balance_after": 120.0,
        "lead": None,
        "note": "top-up",
        "created_at": top_up["created_at"],
    }


def test_deliveries_list_and_detail(client, market):
    response = client.get("/api/customer/deliveries", headers=market.a.auth)
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "1"
    [delivery] = response.json
    assert delivery["id"] == market.a.delivery.public_id and delivery["status"] == "dead"
    shown = client.get(delivery["url"], headers=market.a.auth)
    assert shown.status_code == 200
    assert shown.json["payload"]["fields"] == {"phone": "5552010001"}
    assert [a["number"] for a in shown.json["history"]] == [1, 2]
    filtered = client.get("/api/customer/deliveries?status=delivered", headers=market.a.auth)
    assert filtered.json == [] and filtered.headers["X-Total-Count"] == "0"
    bad = client.get("/api/customer/deliveries?status=lost", headers=market.a.auth)
    assert bad.status_code == 422 and "status" in bad.json["errors"]


def test_without_a_token_the_customer_api_is_401(client, market):
    for headers in ({}, bearer("sct_" + "A" * 43), bearer("sut_" + "A" * 43)):
        response = client.get("/api/customer/me", headers=headers)
        assert response.status_code == 401 and response.json["error"] == "unauthorized"
        assert "customer" in response.headers["WWW-Authenticate"]


def test_tenant_users_add_list_and_remove_a_customers_users(client, market):
    admin = market.world.admin
    made = client.post(
        "/api/admin/customers/sunco/users", json={"email": "Cy@Sunco.example"}, headers=admin
    )
    assert made.status_code == 201, made.json
    assert made.json["role"] == "customer" and made.json["customer"] == "sunco"
    assert made.json["email"] == "cy@sunco.example" and made.json["token"].startswith("sct_")
    token = made.json["token"]
    assert client.get("/api/customer/me", headers=bearer(token)).json["slug"] == "sunco"
    listed = client.get("/api/admin/customers/sunco/users", headers=admin).json
    assert [u["email"] for u in listed] == ["ann@sunco.example", "cy@sunco.example"]
    assert "token" not in listed[0]
    again = client.post(
        "/api/admin/customers/sunco/users", json={"email": "cy@sunco.example"}, headers=admin
    )
    assert again.status_code == 409
    removed = client.delete("/api/admin/customers/sunco/users/cy@sunco.example", headers=admin)
    assert removed.status_code == 200 and removed.json["active"] is False
    assert client.get("/api/customer/me", headers=bearer(token)).status_code == 401
    # Added again: active, with a new token; the old one stays dead.
    back = client.post(
        "/api/admin/customers/sunco/users", json={"email": "cy@sunco.example"}, headers=admin
    )
    assert back.status_code == 201 and back.json["token"] != token
    assert client.get("/api/customer/me", headers=bearer(back.json["token"])).status_code == 200
    assert client.get("/api/customer/me", headers=bearer(token)).status_code == 401


def test_a_customer_user_is_refused_a_taken_email_or_a_bad_one(client, market):
    admin = market.world.admin
    taken = client.post(  # bob is brightside's
        "/api/admin/customers/sunco/users", json={"email": "bob@brightside.example"}, headers=admin
    )
    assert taken.status_code == 409
    bad = client.post("/api/admin/customers/sunco/users", json={"email": "nope"}, headers=admin)
    assert bad.status_code == 422 and "email" in bad.json["errors"]
    missing = client.delete(
        "/api/admin/customers/sunco/users/bob@brightside.example", headers=admin
    )
    assert missing.status_code == 404
    assert User.get(User.email == "bob@brightside.example").active


def test_tenant_users_are_never_customer_users(client, market):
    response = client.post(
        "/api/admin/users",
        json={"email": "c@acme.example", "role": "customer"},
        headers=market.world.admin,
    )
    assert response.status_code == 422 and "role" in response.json["errors"]


def test_the_openapi_document_describes_the_customer_api(client):
    spec = client.get("/api/openapi.json").json
    assert "customerBearer" in spec["components"]["securitySchemes"]
    operation = spec["paths"]["/api/customer/leads"]["get"]
    assert operation["security"] == [{"customerBearer": []}]
    assert operation["tags"] == ["customer_leads"]
    assert {"customer_account", "customer_leads", "customer_deliveries"} <= {
        tag["name"] for tag in spec["tags"]
    }
    assert "/api/admin/customers/{ref}/users/{user}" in spec["paths"]


def test_a_lead_sold_through_the_intake_shows_to_its_buyer_as_delivered(
    client, world, seed_lead, db
):
    from app.store.customers import find_customer
    from app.store.models import Lead
    from app.store.tenants import create_customer_user

    body = dict(seed_lead, homeowner=True, monthly_bill=180, credit_score=700)
    sold = world.post(body)
    assert sold.json["status"] == "assigned", sold.json
    lead = Lead.get(Lead.public_id == sold.json["lead_public_id"])
    buyer = find_customer(world.tenant, lead.customer.slug)
    _, token = create_customer_user(buyer, "buyer@example.com")
    db.close()
    [shown] = client.get("/api/customer/leads", headers=bearer(token)).json
    assert shown["id"] == lead.public_id and shown["price"] == sold.json["price"]
    assert set(shown["fields"]) == {
        "first_name",
        "last_name",
        "email",
        "phone",
        "address_1",
        "city",
        "state",
        "zip",
    }  # homeowner, monthly_bill and credit_score are not deliverable
    wallet = client.get("/api/customer/wallet", headers=bearer(token)).json
    charge = wallet["entries"][0]
    assert charge["kind"] == "charge" and charge["lead"] == lead.public_id
    assert charge["amount"] == -sold.json["price"]
