"""/api/admin/leads/{id}/reprocess (from a stage), /leads/reprocess/preview, /leads/reprocess
(a background job) and /api/admin/jobs."""

from __future__ import annotations

import pytest

from app.services.worker import Worker
from app.store.customers import deposit
from app.store.models import Customer, Job
from app.store.tenants import create_user


@pytest.fixture
def broke(make_world, home_rules):
    """A tenant on the home rules (bidding only) whose customers have no money: its roof
    leads stay unassigned."""
    return make_world(
        home_rules(plan="stage bidding highest_price"),
        {"alpha": "0", "beta": "0", "gamma": "0"},
        name="H",
    )


@pytest.fixture
def unsold(broke, home_lead):
    def post(n: int) -> str:
        body = broke.post(home_lead(n)).json
        assert body["status"] == "unassigned", body
        return body["lead_public_id"]

    return post


def fund(db) -> None:
    deposit(Customer.get(Customer.slug == "alpha"), 100_000)
    db.close()


def test_one_lead_is_reprocessed_from_bidding_by_default(broke, client, unsold, db):
    ref = unsold(1)
    fund(db)
    response = client.post(f"/api/admin/leads/{ref}/reprocess", headers=broke.admin)
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["customer"]) == ("assigned", "alpha")
    again = client.post(
        f"/api/admin/leads/{ref}/reprocess", json={"from": "bidding"}, headers=broke.admin
    )
    assert again.status_code == 409 and "cannot be reprocessed" in again.json["message"]


def test_a_start_stage_the_plan_lacks_is_a_conflict_and_an_unknown_one_a_422(broke, client, unsold):
    ref = unsold(1)
    url = f"/api/admin/leads/{ref}/reprocess"
    lacking = client.post(url, json={"from": "marketplace"}, headers=broke.admin)
    assert lacking.status_code == 409
    assert "its plan has no marketplace stage" in lacking.json["message"]
    no_stage = client.post(url, json={"from": "ping_post"}, headers=broke.admin)
    assert no_stage.status_code == 409
    assert "its plan has no ping_post stage" in no_stage.json["message"]
    unknown = client.post(url, json={"from": "auction"}, headers=broke.admin)
    assert unknown.status_code == 422
    assert "bidding" in str(unknown.json["errors"]["from"])
    assert "marketplace" in str(unknown.json["errors"]["from"])
    missing = client.post("/api/admin/leads/lead_nobody/reprocess", headers=broke.admin)
    assert missing.status_code == 404


def test_the_preview_then_the_confirmed_job_and_its_progress(broke, client, unsold, db):
    refs = [unsold(n) for n in range(1, 4)]
    fund(db)
    sold = broke.post(
        {"first_name": "Jo", "phone": "555-201-0009", "state": "FL", "zip": "33139", "kind": "Roof"}
    ).json["lead_public_id"]
    body = {"leads": [*refs, sold], "from": "bidding"}
    preview = client.post("/api/admin/leads/reprocess/preview", json=body, headers=broke.admin)
    assert preview.status_code == 200, preview.json
    assert (preview.json["eligible"], preview.json["ineligible"]) == (3, 1)
    assert preview.json["from"] == "bidding"
    assert [row["eligible"] for row in preview.json["leads"]] == [True, True, True, False]
    assert "assigned" in preview.json["leads"][3]["reason"]
    assert Job.select().count() == 0
    unconfirmed = client.post("/api/admin/leads/reprocess", json=body, headers=broke.admin)
    assert unconfirmed.status_code == 422 and "confirm" in unconfirmed.json["errors"]
    started = client.post(
        "/api/admin/leads/reprocess", json={**body, "confirm": True}, headers=broke.admin
    )
    assert started.status_code == 202, started.json
    job = started.json
    assert (job["status"], job["total"], job["done"], job["kind"]) == ("queued", 3, 0, "reprocess")
    Worker().drain()
    db.close()
    shown = client.get(f"/api/admin/jobs/{job['id']}", headers=broke.admin).json
    assert (shown["status"], shown["done"], shown["succeeded"]) == ("done", 3, 3)
    assert shown["finished_at"].endswith("Z") and shown["errors"] == []
    listed = client.get("/api/admin/jobs", headers=broke.admin).json
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.get("/api/admin/jobs/job_nobody", headers=broke.admin).status_code == 404


def test_bulk_by_filters_and_bad_bodies(broke, client, unsold):
    refs = [unsold(n) for n in range(1, 3)]
    by_filter = client.post(
        "/api/admin/leads/reprocess/preview",
        json={"filters": {"status": "unassigned"}},
        headers=broke.admin,
    )
    assert by_filter.status_code == 200, by_filter.json
    assert [row["id"] for row in by_filter.json["leads"]] == refs
    for bad in (
        {},
        {"leads": refs, "filters": {}},
        {"leads": []},
        {"filters": {"status": "nope"}},
        {"leads": refs, "from": "teleport"},
    ):
        answer = client.post("/api/admin/leads/reprocess/preview", json=bad, headers=broke.admin)
        assert answer.status_code == 422, (bad, answer.json)
    unknown = client.post(
        "/api/admin/leads/reprocess/preview", json={"leads": ["lead_nobody"]}, headers=broke.admin
    )
    assert unknown.status_code == 404


def test_reprocessing_needs_the_reprocess_permission(broke, client, unsold, db):
    ref = unsold(1)
    _, token = create_user(broke.tenant, "vi@acme.example", "viewer")
    db.close()
    viewer = {"Authorization": f"Bearer {token}"}
    body = {"leads": [ref], "confirm": True}
    for method, url, payload in (
        ("post", f"/api/admin/leads/{ref}/reprocess", None),
        ("post", "/api/admin/leads/reprocess/preview", body),
        ("post", "/api/admin/leads/reprocess", body),
        ("get", "/api/admin/jobs", None),
        ("get", "/api/admin/jobs/job_nobody", None),
    ):
        answer = getattr(client, method)(url, json=payload, headers=viewer)
        assert answer.status_code == 403, url
    assert Job.select().count() == 0
