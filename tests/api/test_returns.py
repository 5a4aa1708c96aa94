"""/api/admin/leads/{id}/return, /leads/return, /return-reasons, a customer's policy;
simultaneous returns, and a return racing a sale for a bid's last cap unit."""

from __future__ import annotations

import pytest

from app.store.models import BidCounter, Customer, Lead, LeadEvent, WalletEntry
from app.store.tenants import create_user
from tests.http import send_together
from tests.services.test_returns import RULES


@pytest.fixture
def shop(make_world):
    """Solar: alpha's bid has a cap of 1 a day; roof: gamma buys all. No return limit."""
    world = make_world(RULES, {"alpha": "100", "beta": "100", "gamma": "1000"})
    Customer.update(return_limit_percent=None).execute()
    return world


def sell(world, n: int, kind: str = "Solar") -> dict:
    body = {"first_name": "Katy", "phone": f"555-401-{n:04d}", "state": "FL", "zip": "33139"}
    answer = world.post({**body, "kind": kind})
    assert answer.status_code == 201, answer.json
    return answer.json


def test_return_answers_the_lead_returned_with_its_timeline(shop, client):
    ref = sell(shop, 1)["lead_public_id"]
    response = client.post(
        f"/api/admin/leads/{ref}/return",
        json={"reason": "Invalid phone", "note": "Disconnected"},
        headers=shop.admin,
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["status"], body["customer"], body["price"]) == ("returned", "alpha", 25.0)
    entry = body["timeline"][-1]
    assert entry["kind"] == "returned"
    assert (entry["details"]["reason"], entry["details"]["note"]) == (
        "Invalid phone",
        "Disconnected",
    )
    again = client.post(
        f"/api/admin/leads/{ref}/return", json={"reason": "Other"}, headers=shop.admin
    )
    assert again.status_code == 409 and "returned already" in again.json["message"]
    listed = client.get("/api/admin/leads?status=returned", headers=shop.admin).json
    assert [lead["id"] for lead in listed] == [ref]
    alpha = client.get("/api/admin/customers/alpha", headers=shop.admin).json
    assert alpha["balance"] == 100.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "Changed my mind"}, "reason"),
        ({"reason": "Other", "note": "x" * 501}, "note"),
        ({"reason": "Other", "override": "maybe"}, "override"),
    ],
)
def test_an_invalid_return_names_its_field(shop, client, body, field):
    ref = sell(shop, 1)["lead_public_id"]
    response = client.post(f"/api/admin/leads/{ref}/return", json=body, headers=shop.admin)
    assert response.status_code == 422, response.json
    assert list(response.json["errors"]) == [field]
    if body.get("reason") == "Changed my mind":
        assert "'Invalid phone'" in response.json["errors"]["reason"][0]
    assert Lead.get(Lead.public_id == ref).status == "assigned"


def test_a_return_outside_the_policy_is_a_409_naming_the_rule(shop, client, db):
    ref = sell(shop, 1)["lead_public_id"]
    changed = client.patch(
        "/api/admin/customers/alpha", json={"return_window_days": 0}, headers=shop.admin
    )
    assert changed.status_code == 200
    assert (changed.json["return_window_days"], changed.json["return_limit_percent"]) == (0, None)
    refused = client.post(
        f"/api/admin/leads/{ref}/return", json={"reason": "Other"}, headers=shop.admin
    )
    assert refused.status_code == 409
    assert list(refused.json["errors"]) == ["window"]
    assert "return window is 0 days" in refused.json["message"]
    done = client.post(
        f"/api/admin/leads/{ref}/return",
        json={"reason": "Other", "override": True},
        headers=shop.admin,
    )
    assert done.status_code == 200 and done.json["timeline"][-1]["details"]["override"] is True


def test_a_viewer_may_not_return_and_an_unknown_lead_is_a_404(shop, client, db):
    ref = sell(shop, 1)["lead_public_id"]
    _, token = create_user(shop.tenant, "viewer@acme.example", "viewer")
    viewer = {"Authorization": f"Bearer {token}"}
    refused = client.post(f"/api/admin/leads/{ref}/return", json={"reason": "x"}, headers=viewer)
    assert refused.status_code == 403 and "leads.return" in refused.json["message"]
    assert client.get("/api/admin/return-reasons", headers=viewer).status_code == 200
    put = client.put("/api/admin/return-reasons", json={"reasons": ["A"]}, headers=viewer)
    assert put.status_code == 403
    patch = client.patch(
        "/api/admin/customers/alpha", json={"return_window_days": 1}, headers=viewer
    )
    assert patch.status_code == 403
    missing = client.post(
        "/api/admin/leads/lead_nobody/return", json={"reason": "Other"}, headers=shop.admin
    )
    assert missing.status_code == 404
    assert Lead.get(Lead.public_id == ref).status == "assigned"


def test_a_tenant_sets_its_reasons_and_customers_policies(shop, client):
    shown = client.get("/api/admin/return-reasons", headers=shop.admin).json
    assert shown["reasons"][0] == "Invalid phone" and "Other" in shown["reasons"]
    put = client.put(
        "/api/admin/return-reasons", json={"reasons": ["Bad", "bad"]}, headers=shop.admin
    )
    assert put.status_code == 422 and list(put.json["errors"]) == ["reasons"]
    for unstorable in ("Bad\x00", "Bad \ud800"):  # no column holds them: named, never a 500
        body = {"reasons": ["Fine", unstorable]}
        put = client.put("/api/admin/return-reasons", json=body, headers=shop.admin)
        assert put.status_code == 422 and list(put.json["errors"]) == ["reasons"]
    put = client.put(
        "/api/admin/return-reasons", json={"reasons": ["Bad", "Never asked"]}, headers=shop.admin
    )
    assert put.json == {"reasons": ["Bad", "Never asked"]}
    for body, field in (
        ({"return_window_days": -1}, "return_window_days"),
        ({"return_limit_percent": 101}, "return_limit_percent"),
        ({"return_window_days": None}, "return_window_days"),
        ({"colour": "red"}, "colour"),
    ):
        answer = client.patch("/api/admin/customers/alpha", json=body, headers=shop.admin)
        assert answer.status_code == 422 and list(answer.json["errors"]) == [field], answer.json
    changed = client.patch(
        "/api/admin/customers/alpha",
        json={"return_window_days": 30, "return_limit_percent": 5},
        headers=shop.admin,
    ).json
    assert (changed["return_window_days"], changed["return_limit_percent"]) == (30, 5)
    assert (
        client.get("/api/admin/customers/beta", headers=shop.admin).json["return_window_days"] == 7
    )


def test_a_bulk_return_answers_each_lead(shop, client):
    refs = [sell(shop, n, "Roof")["lead_public_id"] for n in range(3)]
    client.post(f"/api/admin/leads/{refs[0]}/return", json={"reason": "Other"}, headers=shop.admin)
    done = client.post(
        "/api/admin/leads/return", json={"ids": refs, "reason": "Duplicate"}, headers=shop.admin
    )
    assert done.status_code == 200
    assert [(row["id"], row["status"], row["error"] is None) for row in done.json] == [
        (refs[0], "returned", False),
        (refs[1], "returned", True),
        (refs[2], "returned", True),
    ]


def fire(url: str, calls: list[tuple[str, dict, dict]]) -> list[tuple[int, dict]]:
    """POST every (path, headers, body) at the same moment; return (status, json) each."""
    answers = send_together(url, [("POST", path, h, body) for path, h, body in calls])
    return [(answer.status, answer.json) for answer in answers]


def test_simultaneous_returns_of_a_lead_credit_it_once(shop, threads_server, db, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a race needs PostgreSQL's row locks (SQLite runs one writer at a time)")
    for n in range(3):
        ref = sell(shop, 10 + n, "Roof")["lead_public_id"]
        path = f"/api/admin/leads/{ref}/return"
        answers = fire(threads_server, [(path, shop.admin, {"reason": "Other"})] * 4)
        assert sorted(status for status, _ in answers) == [200, 409, 409, 409], answers
        lead = Lead.get(Lead.public_id == ref)
        assert lead.status == "returned"
        credited = WalletEntry.select().where(
            WalletEntry.lead == lead.id, WalletEntry.kind == "credit"
        )
        assert credited.count() == 1
        returned = LeadEvent.select().where(LeadEvent.lead == lead.id, LeadEvent.kind == "returned")
        assert returned.count() == 1
    gamma = Customer.get(Customer.slug == "gamma")
    assert gamma.balance_cents == 100000  # three sales, three credits


def test_a_return_racing_a_sale_for_the_last_cap_unit_never_overruns(
    shop, threads_server, db, database_url
):
    if not database_url.startswith("postgresql"):
        pytest.skip("a race needs PostgreSQL's row locks (SQLite runs one writer at a time)")
    for n in range(6):
        # alpha's bid takes 1 lead a day: it holds one, returned while another arrives.
        sold = [
            lead for lead in Lead.select().where(Lead.bid_id == "capped", Lead.status == "assigned")
        ]
        if not sold:
            sold = [Lead.get(Lead.public_id == sell(shop, 100 + n)["lead_public_id"])]
        (held,) = sold
        body = {"first_name": "Katy", "phone": f"555-402-{n:04d}", "state": "FL", "zip": "33139"}
        answers = fire(
            threads_server,
            [
                (f"/api/admin/leads/{held.public_id}/return", shop.admin, {"reason": "Other"}),
                ("/api/leads", shop.auth, {**body, "kind": "Solar"}),
            ],
        )
        assert [status for status, _ in answers] == [200, 201], answers
        taken = Lead.select().where(Lead.bid_id == "capped", Lead.status == "assigned").count()
        counted = BidCounter.get(BidCounter.bid_id == "capped", BidCounter.period == "day")
        assert taken <= 1 and counted.leads == taken, (taken, counted.leads)
        assert counted.spent_cents == 2500 * taken


def test_simultaneous_returns_keep_the_monthly_limit(shop, threads_server, db, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a race needs PostgreSQL's row locks (SQLite runs one writer at a time)")
    Customer.update(return_limit_percent=10).where(Customer.slug == "gamma").execute()
    refs = [sell(shop, 200 + n, "Roof")["lead_public_id"] for n in range(10)]  # 10% of 10: 1
    for pair in (refs[:2], refs[2:4]):
        answers = fire(
            threads_server,
            [(f"/api/admin/leads/{ref}/return", shop.admin, {"reason": "Other"}) for ref in pair],
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses == ([200, 409] if pair == refs[:2] else [409, 409]), answers
        refused = [body for status, body in answers if status == 409]
        assert all(list(body["errors"]) == ["limit"] for body in refused), refused
    assert Lead.select().where(Lead.status == "returned").count() == 1
