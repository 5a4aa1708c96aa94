"""/api/admin/leads/{id}/approve, /reject and /api/admin/leads/review; simultaneous reviews."""

from __future__ import annotations

import pytest

from app.store.models import Customer, Delivery, Lead, LeadEvent, WalletEntry
from tests.delivery_rows import destination_row
from tests.http import send_together

DISPOSABLE = "katy.berry@mailinator.com"  # the example rules' "Disposable email" audit


@pytest.fixture
def held(world, seed_lead):
    """Return the public id of a new lead held for audit."""

    def post(**changes) -> str:
        body = world.post({**seed_lead, "email": DISPOSABLE, **changes}).json
        assert body["status"] == "audit", body
        return body["lead_public_id"]

    return post


def test_approve_answers_the_lead_sold_with_its_review(world, client, held):
    ref = held()
    response = client.post(f"/api/admin/leads/{ref}/approve", headers=world.admin)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "assigned" and body["customer"] is not None
    assert body["review"]["decision"] == "approved" and body["review"]["note"] is None
    assert body["review"]["by"] == "admin@acme.invalid"
    again = client.post(f"/api/admin/leads/{ref}/approve", headers=world.admin)
    assert again.status_code == 409 and "is assigned" in again.json["message"]


def test_reject_needs_a_note_and_then_nothing_can_release_the_lead(world, client, held):
    ref = held()
    missing = client.post(f"/api/admin/leads/{ref}/reject", json={}, headers=world.admin)
    assert missing.status_code == 422 and "note" in missing.json["errors"]
    too_long = client.post(
        f"/api/admin/leads/{ref}/reject", json={"note": "x" * 501}, headers=world.admin
    )
    assert too_long.status_code == 422 and "note" in too_long.json["errors"]
    done = client.post(f"/api/admin/leads/{ref}/reject", json={"note": "Fake"}, headers=world.admin)
    assert done.status_code == 200
    assert (done.json["status"], done.json["review"]["decision"]) == ("audit", "rejected")
    approve = client.post(f"/api/admin/leads/{ref}/approve", json={}, headers=world.admin)
    assert approve.status_code == 409 and "was rejected" in approve.json["message"]
    listed = client.get("/api/admin/leads?status=audit", headers=world.admin).json
    assert [(lead["id"], lead["review"]["note"]) for lead in listed] == [(ref, "Fake")]
    missing_lead = client.post("/api/admin/leads/lead_nobody/approve", headers=world.admin)
    assert missing_lead.status_code == 404


def test_bulk_review_refuses_all_or_reviews_each(world, client, held, seed_lead):
    first, second = held(), held(phone="555-123-9999", zip="33140")
    sold = world.post(seed_lead).json["lead_public_id"]
    refused = client.post(
        "/api/admin/leads/review", json={"approve": [first, sold]}, headers=world.admin
    )
    assert refused.status_code == 409
    assert refused.json["message"].startswith("1 of 2 leads cannot be approved, none was: ")
    assert list(refused.json["errors"]) == [sold]
    assert Lead.get(Lead.public_id == first).status == "audit"
    both = client.post(
        "/api/admin/leads/review",
        json={"approve": [first], "reject": [second], "note": "x"},
        headers=world.admin,
    )
    assert both.status_code == 422 and "approve" in both.json["errors"]
    unnoted = client.post("/api/admin/leads/review", json={"reject": [second]}, headers=world.admin)
    assert unnoted.status_code == 422 and "note" in unnoted.json["errors"]
    done = client.post(
        "/api/admin/leads/review",
        json={"reject": [second], "note": "Bot"},
        headers=world.admin,
    )
    assert done.status_code == 200
    assert done.json == [{"id": second, "status": "audit", "error": None}]
    done = client.post("/api/admin/leads/review", json={"approve": [first]}, headers=world.admin)
    # Audits are skipped, dedupe checks are not: the sold lead has the same phone.
    assert done.json == [{"id": first, "status": "duplicate", "error": None}]


def fire(url: str, headers: dict[str, str], calls: list[tuple[str, dict]]) -> list[int]:
    """POST every (path, body) at the same moment; return the statuses."""
    answers = send_together(url, [("POST", path, headers, body) for path, body in calls])
    return [answer.status for answer in answers]


def test_simultaneous_approvals_sell_the_lead_once(world, threads_server, held, db):
    for customer in Customer.select():
        destination_row(world.tenant, customer)
    refs = [held(phone=f"555-123-{n:04d}", zip=f"331{n:02d}") for n in range(3)]
    for ref in refs:
        path = f"/api/admin/leads/{ref}/approve"
        statuses = fire(threads_server, world.admin, [(path, {})] * 4)
        assert sorted(statuses) == [200, 409, 409, 409]
        lead = Lead.get(Lead.public_id == ref)
        assert lead.status == "assigned"
        assert WalletEntry.select().where(WalletEntry.lead == lead.id).count() == 1
        assert Delivery.select().where(Delivery.lead == lead.id).count() == 1
        approvals = LeadEvent.select().where(
            LeadEvent.lead == lead.id, LeadEvent.kind == "audit_approved"
        )
        assert approvals.count() == 1


def test_an_approval_and_a_rejection_at_once_do_one_or_the_other(world, threads_server, held, db):
    for n in range(3):
        ref = held(phone=f"555-124-{n:04d}", zip=f"331{n:02d}")
        statuses = fire(
            threads_server,
            world.admin,
            [
                (f"/api/admin/leads/{ref}/approve", {}),
                (f"/api/admin/leads/{ref}/reject", {"note": "no"}),
            ],
        )
        assert sorted(statuses) == [200, 409]
        lead = Lead.get(Lead.public_id == ref)
        kinds = {e.kind for e in LeadEvent.select().where(LeadEvent.lead == lead.id)}
        charged = WalletEntry.select().where(WalletEntry.lead == lead.id).count()
        if statuses[0] == 200:  # approved
            assert (lead.status, charged, "audit_rejected" in kinds) == ("assigned", 1, False)
        else:
            assert (lead.status, charged, "audit_approved" in kinds) == ("audit", 0, False)
