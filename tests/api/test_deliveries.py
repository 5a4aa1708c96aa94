"""/api/admin/deliveries: lists and filters, a delivery with its attempts, replays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.store.customers import find_customer
from app.store.models import Customer, Delivery, Lead
from app.store.tenants import create_tenant, create_user
from tests.delivery_rows import (
    attempt_row,
    delivered_entry,
    delivery_row,
    destination_row,
)

BASE = "/api/admin/deliveries"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def lead(world, seed_lead, db):
    assert world.post(seed_lead).json["status"] == "assigned"
    return Lead.get()


@pytest.fixture
def rows(world, lead, db):
    sunco = destination_row(world.tenant, find_customer(world.tenant, "sunco"), name="Sunco")
    hook = destination_row(world.tenant, name="Our webhook")
    made = {
        "dead": delivery_row(sunco, lead=lead, attempts=3, last_error="HTTP 503", minute=1),
        "delivered": delivery_row(sunco, status="delivered", lead=lead, attempts=1, minute=2),
        "pending": delivery_row(hook, status="pending", event="lead.unsold", minute=3),
        "dead_hook": delivery_row(hook, event="lead.unsold", attempts=12, minute=4),
    }
    db.close()
    return {"sunco": sunco, "hook": hook, **made}


def status_of(row) -> str:
    return Delivery.get_by_id(row.id).status


def test_deliveries_are_listed_with_filters_pages_and_a_total(client, world, rows, lead):
    answer = client.get(BASE, headers=world.admin)
    assert answer.status_code == 200
    assert [d["id"] for d in answer.json] == [
        rows[name].public_id for name in ("dead_hook", "pending", "delivered", "dead")
    ]
    assert answer.headers["X-Total-Count"] == "4"
    dead = answer.json[-1]
    assert dead == {
        "id": rows["dead"].public_id,
        "event": "lead.sold",
        "status": "dead",
        "destination": rows["sunco"].public_id,
        "destination_name": "Sunco",
        "customer": find_customer(world.tenant, "sunco").public_id,
        "lead": lead.public_id,
        "attempts": 3,
        "tries": 3,
        "next_attempt_at": None,  # a dead delivery has none
        "last_status_code": 500,
        "last_error": "HTTP 503",
        "created_at": dead["created_at"],
        "updated_at": dead["updated_at"],
        "delivered_at": None,
        "url": f"{BASE}/{rows['dead'].public_id}",
    }
    assert answer.json[0]["customer"] is None  # a tenant's webhook
    queries = {
        "status=dead": ["dead_hook", "dead"],
        f"destination={rows['hook'].public_id}": ["dead_hook", "pending"],
        "customer=sunco": ["delivered", "dead"],
        f"lead={lead.public_id}&status=delivered": ["delivered"],
        "event=lead.unsold&status=dead": ["dead_hook"],
        "limit=2&offset=1": ["pending", "delivered"],
    }
    for query, names in queries.items():
        answer = client.get(f"{BASE}?{query}", headers=world.admin)
        assert [d["id"] for d in answer.json] == [rows[n].public_id for n in names], query
    assert client.get(f"{BASE}?limit=1", headers=world.admin).headers["X-Total-Count"] == "4"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("event=lead.bought", "event"),
        ("limit=0", "limit"),
        ("customer=sun%00co", "customer"),  # PostgreSQL would refuse the text itself
        ("destination=dst_x%27%20OR%201=1", "destination"),
    ],
)
def test_a_wrong_filter_answers_422_with_its_field(client, world, query, field):
    answer = client.get(f"{BASE}?{query}", headers=world.admin)
    assert answer.status_code == 422
    assert list(answer.json["errors"]) == [field]


def test_a_delivery_shows_its_payload_and_every_attempt(client, world, rows):
    dead = rows["dead"]
    attempt_row(dead, 1, answer="x" * 5000)
    attempt_row(dead, 2, status_code=None, error="connect timeout after 10 s")
    attempt_row(dead, 3, outcome="failed", status_code=410, answer="Gone")
    answer = client.get(f"{BASE}/{dead.public_id}", headers=world.admin)
    assert answer.status_code == 200
    body = answer.json
    assert body["id"] == dead.public_id and body["status"] == "dead"
    assert body["payload"] == {"lead": {"id": "lead_x", "fields": {}}}
    history = body["history"]
    assert [a["number"] for a in history] == [1, 2, 3]
    assert set(history[0]) == {
        "number",
        "started_at",
        "duration_ms",
        "outcome",
        "status_code",
        "answer",
        "error",
    }
    assert history[0]["answer"] == "x" * 4096  # the first 4 KB
    assert history[1] == {
        "number": 2,
        "started_at": history[1]["started_at"],
        "duration_ms": 25.0,
        "outcome": "retry",
        "status_code": None,
        "answer": "",
        "error": "connect timeout after 10 s",
    }
    assert history[2]["outcome"] == "failed" and history[2]["status_code"] == 410
    assert history[0]["started_at"].endswith("Z")


def test_a_dead_delivery_is_replayed_and_a_delivered_one_refused(client, world, rows):
    dead, delivered = rows["dead"], rows["delivered"]
    answer = client.post(f"{BASE}/{dead.public_id}/retry", headers=world.admin)
    assert answer.status_code == 200
    assert answer.json == {"replayed": [dead.public_id], "rescheduled": [], "count": 1}
    shown = client.get(f"{BASE}/{dead.public_id}", headers=world.admin).json
    assert (shown["status"], shown["tries"], shown["attempts"]) == ("pending", 0, 3)
    moment = datetime.fromisoformat(shown["next_attempt_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60  # now, not a day ago
    again = client.post(f"{BASE}/{dead.public_id}/retry", headers=world.admin)
    assert again.json == {"replayed": [], "rescheduled": [dead.public_id], "count": 1}
    refused = client.post(f"{BASE}/{delivered.public_id}/retry", headers=world.admin)
    assert refused.status_code == 409
    assert f"{delivered.public_id} is delivered" in refused.json["message"]
    missing = client.post(f"{BASE}/msg_nope/retry", headers=world.admin)
    assert missing.status_code == 404 and "msg_nope" in missing.json["message"]
    for url in (f"{BASE}/msg%00x", f"{BASE}/msg%00x/retry"):  # no id holds a NUL: named
        answer = client.open(url, method="POST" if "retry" in url else "GET", headers=world.admin)
        assert answer.status_code == 422 and "NUL" in answer.text, url
    answer = client.post(f"{BASE}/retry", json={"ids": ["msg\x00x"]}, headers=world.admin)
    assert answer.status_code == 422 and "NUL" in answer.json["errors"]["ids"][0]


def test_deliveries_are_replayed_by_id_or_all_dead_of_a_destination(client, world, rows):
    url = f"{BASE}/retry"
    both = {"ids": [rows["dead"].public_id, rows["delivered"].public_id]}
    assert client.post(url, json=both, headers=world.admin).status_code == 409
    assert status_of(rows["dead"]) == "dead"  # all or nothing
    named = {"ids": [rows["dead"].public_id, rows["pending"].public_id]}
    answer = client.post(url, json=named, headers=world.admin)
    assert answer.status_code == 200
    assert answer.json["replayed"] == [rows["dead"].public_id]
    assert answer.json["rescheduled"] == [rows["pending"].public_id]
    assert status_of(rows["dead_hook"]) == "dead"
    only = {"all_dead": True, "destination": rows["sunco"].public_id}
    assert client.post(url, json=only, headers=world.admin).json["count"] == 0
    answer = client.post(url, json={"all_dead": True}, headers=world.admin)
    assert answer.json == {"replayed": [rows["dead_hook"].public_id], "rescheduled": [], "count": 1}
    assert Delivery.select().where(Delivery.status == "dead").count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ids"),
        ({"ids": []}, "ids"),
        ({"ids": "msg_x"}, "ids"),
        ({"ids": ["msg_x"], "all_dead": True}, "ids"),
        ({"ids": ["msg_x"], "destination": "dst_x"}, "destination"),
        ({"all_dead": "yes please"}, "all_dead"),
        ({"all_dead": True, "extra": 1}, "extra"),
    ],
)
def test_a_wrong_replay_body_answers_422_with_its_field(client, world, rows, body, field):
    answer = client.post(f"{BASE}/retry", json=body, headers=world.admin)
    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]) == [field]
    assert status_of(rows["dead"]) == "dead"


def test_another_tenants_delivery_is_not_found(client, world, rows, db):
    other, _, token = create_tenant("Other Leads")
    theirs = delivery_row(destination_row(other))
    for method, url, body in (
        ("GET", f"{BASE}/{theirs.public_id}", None),
        ("POST", f"{BASE}/{theirs.public_id}/retry", None),
        ("POST", f"{BASE}/retry", {"ids": [theirs.public_id]}),
        ("POST", f"{BASE}/retry", {"all_dead": True, "destination": theirs.destination_id}),
    ):
        if body and "destination" in body:
            body = {**body, "destination": theirs.destination.public_id}
        answer = client.open(url, method=method, json=body, headers=world.admin)
        assert answer.status_code == 404, (method, url)
    assert status_of(theirs) == "dead"
    listed = client.get(BASE, headers=world.admin).json
    assert theirs.public_id not in [d["id"] for d in listed]
    assert client.get(f"{BASE}/{theirs.public_id}", headers=bearer(token)).status_code == 200


def test_a_viewer_reads_deliveries_but_cannot_replay(client, world, rows):
    _, token = create_user(world.tenant, "viewer@acme.example", "viewer")
    viewer = bearer(token)
    assert len(client.get(f"{BASE}?status=dead", headers=viewer).json) == 2
    assert client.get(f"{BASE}/{rows['dead'].public_id}", headers=viewer).status_code == 200
    for url, body in (
        (f"{BASE}/{rows['dead'].public_id}/retry", None),
        (f"{BASE}/retry", {"all_dead": True}),
    ):
        refused = client.post(url, json=body, headers=viewer)
        assert refused.status_code == 403
        assert "deliveries.retry" in refused.json["message"]
    assert status_of(rows["dead"]) == "dead"


def test_a_lead_shows_its_deliveries_and_its_timeline_links_them(client, world, rows, lead):
    delivered_entry(lead, rows["delivered"])
    answer = client.get(f"/api/admin/leads/{lead.public_id}", headers=world.admin)
    assert answer.status_code == 200
    listed = answer.json["deliveries"]
    assert [d["id"] for d in listed] == [rows["dead"].public_id, rows["delivered"].public_id]
    assert listed[0]["last_error"] == "HTTP 503" and listed[0]["attempts"] == 3
    assert listed[0]["destination"] == rows["sunco"].public_id
    url = f"{BASE}/{rows['delivered'].public_id}"
    assert listed[1]["url"] == url
    entry = answer.json["timeline"][-1]
    assert entry["kind"] == "delivered" and entry["details"]["url"] == url
    assert client.get(url, headers=world.admin).json["status"] == "delivered"


def test_the_openapi_document_describes_deliveries(client):
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    assert "X-Total-Count" in paths[BASE]["get"]["responses"]["200"]["headers"]
    assert "status" in {p["name"] for p in paths[BASE]["get"]["parameters"]}
    assert "get" in paths[BASE + "/{ref}"] and "post" in paths[BASE + "/{ref}/retry"]
    replay = paths[BASE + "/retry"]["post"]
    assert "deliveries.retry" in replay["description"]
    schemas = spec["components"]["schemas"]
    assert {"history", "payload"} <= set(schemas["DeliveryDetail"]["properties"])
    assert "deliveries" in schemas["LeadDetail"]["properties"]


def test_a_dead_sale_replayed_reaches_the_buyer_with_the_same_webhook_id(
    client, world, buyer, seed_lead, secret_key, db
):
    # The whole way, with the real worker: the buyer's endpoint is gone (410: dead at once),
    # the tenant fixes the URL, replays the dead delivery, and the buyer gets it.
    from app.services.worker import Worker
    from app.store.destinations import create_destination

    for customer in Customer.select().where(Customer.tenant == world.tenant.id):
        settings = {"name": customer.slug, "kind": "http", "url": buyer.url + "/gone"}
        create_destination(world.tenant, settings, customer)
    db.close()
    lead_id = world.post(seed_lead).json["lead_public_id"]
    assert Worker().drain() == 1
    [dead] = client.get(f"{BASE}?status=dead&lead={lead_id}", headers=world.admin).json
    failed = client.get(f"/api/admin/leads/{lead_id}", headers=world.admin).json
    assert failed["timeline"][-1]["kind"] == "delivery_failed"
    assert failed["timeline"][-1]["details"]["url"] == dead["url"]
    destination = f"/api/admin/customers/{failed['customer']}/destinations/{dead['destination']}"
    fixed = client.patch(destination, json={"url": buyer.url + "/ok"}, headers=world.admin)
    assert fixed.status_code == 200
    replay = client.post(f"{dead['url']}/retry", headers=world.admin)
    assert replay.json["replayed"] == [dead["id"]]
    assert Worker().drain() == 1
    assert [r.path for r in buyer.received] == ["/gone", "/ok"]
    assert {r.headers["webhook-id"] for r in buyer.received} == {dead["id"]}
    shown = client.get(dead["url"], headers=world.admin).json
    assert shown["status"] == "delivered" and shown["attempts"] == 2 and shown["tries"] == 1
    assert [(a["number"], a["outcome"], a["status_code"]) for a in shown["history"]] == [
        (1, "failed", 410),
        (2, "delivered", 200),
    ]
    assert shown["history"][1]["answer"] == '{"status": "accepted"}'
    lead = client.get(f"/api/admin/leads/{lead_id}", headers=world.admin).json
    assert [e["kind"] for e in lead["timeline"][-2:]] == ["delivery_failed", "delivered"]
    assert [(d["id"], d["status"]) for d in lead["deliveries"]] == [(dead["id"], "delivered")]
