"""`sluice delivery list|show|retry`, and a lead's deliveries in `sluice lead show`."""

from __future__ import annotations

import json

import pytest

from app.store.customers import find_customer
from app.store.models import Delivery, Lead
from app.store.tenants import create_tenant
from tests.delivery_rows import attempt_row, delivered_entry, delivery_row, destination_row


@pytest.fixture
def lead(world, seed_lead, db):
    assert world.post(seed_lead).json["status"] == "assigned"
    return Lead.get()


@pytest.fixture
def rows(world, lead, db):
    sunco = destination_row(world.tenant, find_customer(world.tenant, "sunco"), name="Sunco")
    hook = destination_row(world.tenant, name="Our webhook")
    made = {
        "dead": delivery_row(sunco, lead=lead, attempts=2, last_error="HTTP 500", minute=1),
        "delivered": delivery_row(sunco, status="delivered", lead=lead, attempts=1, minute=2),
        "dead_hook": delivery_row(hook, event="lead.unsold", attempts=12, minute=3),
    }
    attempt_row(made["dead"], 1, answer='{"error": "overloaded"}')
    attempt_row(made["dead"], 2, status_code=None, error="read timeout after 10 s")
    db.close()
    return {"sunco": sunco, "hook": hook, **made}


def status_of(row) -> str:
    return Delivery.get_by_id(row.id).status


def test_deliveries_are_listed_filtered_and_counted(sluice, world, rows):
    tenant = world.tenant.code
    listed = sluice.json("delivery", "list", tenant)
    assert [d["id"] for d in listed] == [
        rows[name].public_id for name in ("dead_hook", "delivered", "dead")
    ]
    dead = sluice.json("delivery", "list", tenant, "--status", "dead", "--customer", "sunco")
    assert [d["id"] for d in dead] == [rows["dead"].public_id]
    by_destination = sluice.json(
        "deliveries", "list", tenant, "--destination", rows["hook"].public_id
    )
    assert [d["id"] for d in by_destination] == [rows["dead_hook"].public_id]
    assert sluice.json("delivery", "list", tenant, "--event", "lead.unsold", "--limit", "1")
    assert sluice.json("delivery", "list", tenant, "--status", "dead", "--count") == {"count": 2}
    code, text = sluice("delivery", "list", tenant, "--status", "dead")
    assert code == 0
    assert text.splitlines()[0].split() == [
        "CREATED_AT",
        "ID",
        "EVENT",
        "STATUS",
        "ATTEMPTS",
        "DESTINATION",
        "LEAD",
    ]
    assert rows["dead"].public_id in text and rows["delivered"].public_id not in text
    code, text = sluice("delivery", "list", tenant, "--status", "lost")
    assert code == 2 and "'lost' is not one of" in text


def test_a_delivery_is_shown_with_its_attempts(sluice, world, rows):
    tenant, dead = world.tenant.code, rows["dead"].public_id
    shown = sluice.json("delivery", "show", tenant, dead)
    assert [a["number"] for a in shown["history"]] == [1, 2]
    assert shown["history"][1]["error"] == "read timeout after 10 s"
    code, text = sluice("delivery", "show", tenant, dead)
    assert code == 0
    lines = text.splitlines()
    assert any(line.startswith("  #1  ") and line.endswith("  retry  500") for line in lines)
    assert any(line.startswith("  #2  ") and line.endswith("  retry  -") for line in lines)
    assert '      answer: {"error": "overloaded"}' in lines
    assert "      error: read timeout after 10 s" in lines
    assert '      "id": "lead_x",' in lines  # the payload, indented
    code, text = sluice("delivery", "show", tenant, "msg_nope")
    assert code == 1 and "no delivery 'msg_nope'" in text


def test_deliveries_are_replayed_one_by_one_or_all_dead(sluice, world, rows):
    tenant = world.tenant.code
    code, text = sluice("delivery", "retry", tenant, rows["dead"].public_id)
    assert (code, text.strip()) == (0, "replayed 1 dead delivery")
    assert status_of(rows["dead"]) == "pending"
    code, text = sluice("delivery", "retry", tenant, rows["dead"].public_id)
    assert text.strip() == "replayed 0 dead deliveries; 1 pending delivery to be attempted now"
    code, text = sluice("delivery", "retry", tenant, rows["delivered"].public_id)
    assert code == 1 and f"{rows['delivered'].public_id} is delivered" in text
    done = sluice.json(
        "delivery", "retry", tenant, "--all-dead", "--destination", rows["hook"].public_id
    )
    assert done == {"replayed": [rows["dead_hook"].public_id], "rescheduled": [], "count": 1}
    assert status_of(rows["dead_hook"]) == "pending"


def test_a_replay_needs_ids_or_all_dead(sluice, world, rows):
    tenant = world.tenant.code
    code, output = sluice("delivery", "retry", tenant, "--json")
    assert code == 1 and json.loads(output)["details"] == {
        "errors": {"ids": ["give one or more ids"]}
    }
    code, output = sluice("delivery", "retry", tenant, rows["dead"].public_id, "--all-dead")
    assert code == 1 and "not both" in output
    code, output = sluice(
        "delivery", "retry", tenant, rows["dead"].public_id, "--destination", "dst_x"
    )
    assert code == 1 and "only with all_dead" in output
    assert status_of(rows["dead"]) == "dead"


def test_another_tenants_delivery_is_not_found(sluice, world, rows, db):
    other, _, _ = create_tenant("Other Leads")
    theirs = delivery_row(destination_row(other))
    db.close()
    code, text = sluice("delivery", "retry", world.tenant.code, theirs.public_id)
    assert code == 1 and "no delivery" in text
    code, text = sluice("delivery", "show", world.tenant.code, theirs.public_id)
    assert code == 1
    assert status_of(theirs) == "dead"


def test_lead_show_lists_the_deliveries_and_links_the_timeline(sluice, world, rows, lead):
    delivered_entry(lead, rows["delivered"])
    code, text = sluice("lead", "show", world.tenant.code, lead.public_id)
    assert code == 0
    lines = text.splitlines()
    at = lines.index("deliveries:")
    assert lines[at + 1].split() == [
        "ID",
        "DESTINATION",
        "EVENT",
        "STATUS",
        "ATTEMPTS",
        "LAST_ERROR",
    ]
    assert lines[at + 2].split()[:5] == [
        rows["dead"].public_id,
        rows["sunco"].public_id,
        "lead.sold",
        "dead",
        "2",
    ]
    assert lines[at + 2].endswith("HTTP 500")
    url = f"/api/admin/deliveries/{rows['delivered'].public_id}"
    timeline = lines.index("timeline:")
    shown = f"sluice delivery show {world.tenant.code} {rows['delivered'].public_id}"
    assert lines[timeline + 1 :].index(f"      see {shown}, {url}") >= 1
    data = sluice.json("lead", "show", world.tenant.code, lead.public_id)
    assert [d["id"] for d in data["deliveries"]] == [
        rows["dead"].public_id,
        rows["delivered"].public_id,
    ]
    assert data["timeline"][-1]["details"]["url"] == url
