"""DELETE /api/admin/leads/{id} and POST /api/admin/leads/delete."""

from __future__ import annotations

from app.store.models import Lead, Post
from app.store.tenants import create_user


def sold(world, seed_lead, n: int = 0) -> str:
    body = world.post({**seed_lead, "phone": f"555-123-000{n}", "email": f"k{n}@example.org"}).json
    assert body["status"] == "assigned", body
    return body["lead_public_id"]


def test_delete_answers_the_lead_shown_as_deleted(world, client, seed_lead, db):
    ref = sold(world, seed_lead)
    response = client.delete(f"/api/admin/leads/{ref}", headers=world.admin)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["deleted"] is True and body["deleted_at"].endswith("Z")
    assert body["data"] == {} and body["status"] == "assigned" and body["customer"]
    assert body["timeline"][-1]["kind"] == "deleted"
    assert "admin@acme.invalid" in body["timeline"][-1]["message"]
    post = client.get(f"/api/admin/posts/{body['post']}", headers=world.admin).json
    assert post["payload"] == {} and post["headers"] == {}
    again = client.delete(f"/api/admin/leads/{ref}", headers=world.admin)
    assert again.status_code == 200 and again.json["deleted_at"] == body["deleted_at"]
    assert [e["kind"] for e in again.json["timeline"]].count("deleted") == 1
    listed = client.get("/api/admin/leads", headers=world.admin).json
    assert [(lead["id"], lead["deleted"]) for lead in listed] == [(ref, True)]
    reprocess = client.post(f"/api/admin/leads/{ref}/reprocess", headers=world.admin)
    assert reprocess.status_code == 409
    assert client.delete("/api/admin/leads/lead_nobody", headers=world.admin).status_code == 404


def test_bulk_delete_is_all_or_nothing(world, client, seed_lead, db):
    refs = [sold(world, seed_lead, n) for n in range(2)]
    missing = client.post(
        "/api/admin/leads/delete", json={"ids": [*refs, "lead_nobody"]}, headers=world.admin
    )
    assert missing.status_code == 404 and "lead_nobody" in missing.json["message"]
    assert Lead.select().where(Lead.deleted_at.is_null(False)).count() == 0
    done = client.post("/api/admin/leads/delete", json={"ids": refs}, headers=world.admin)
    assert done.status_code == 200, done.json
    assert [(row["id"], row["already"]) for row in done.json] == [(ref, False) for ref in refs]
    again = client.post("/api/admin/leads/delete", json={"ids": refs[:1]}, headers=world.admin)
    assert [row["already"] for row in again.json] == [True]
    assert all(post.payload == {} for post in Post.select())


def test_bulk_delete_needs_ids(world, client, db):
    for body in ({}, {"ids": []}, {"ids": "lead_x"}):
        response = client.post("/api/admin/leads/delete", json=body, headers=world.admin)
        assert response.status_code == 422 and "ids" in response.json["errors"], body


def test_a_viewer_cannot_delete(world, client, seed_lead, db):
    ref = sold(world, seed_lead)
    _, token = create_user(world.tenant, "vic@acme.example", "viewer")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete(f"/api/admin/leads/{ref}", headers=headers).status_code == 403
    bulk = client.post("/api/admin/leads/delete", json={"ids": [ref]}, headers=headers)
    assert bulk.status_code == 403
    assert Lead.get(Lead.public_id == ref).deleted_at is None


def test_another_tenants_leads_are_not_found(make_world, client, seed_lead, db):
    mine, theirs = make_world(name="Mine"), make_world(name="Theirs")
    ref = sold(theirs, seed_lead)
    assert client.delete(f"/api/admin/leads/{ref}", headers=mine.admin).status_code == 404
    bulk = client.post("/api/admin/leads/delete", json={"ids": [ref]}, headers=mine.admin)
    assert bulk.status_code == 404
    assert Lead.get(Lead.public_id == ref).deleted_at is None
