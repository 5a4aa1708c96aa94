"""/api/admin/partners: headers shown by name only, 422 by field, 409 on a taken name."""

from __future__ import annotations

import logging

import pytest

from app.store.models import Partner
from app.store.tenants import create_user
from tests.http import send_together

BASE = "/api/admin/partners"
KEY = "sk_live_partner_0123456789"
LEADCO = {
    "name": "leadco",
    "ping_url": "https://leadco.example/ping",
    "post_url": "https://leadco.example/post",
    "headers": {"Authorization": f"Bearer {KEY}"},
    "field_map": {"zip_code": "zip", "ping_id": "@reference", "vendor": {"value": "acme"}},
    "accepted_path": "status == 'accepted'",
    "price_path": "bid.price",
    "reference_path": "ping_id",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(world, secret_key):
    return bearer(world.admin_token)


def test_a_partner_is_added_shown_changed_and_removed(client, admin, caplog):
    caplog.set_level(logging.DEBUG)
    created = client.post(BASE, json=LEADCO, headers=admin)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["id"].startswith("prt_") and body["kind"] == "partner"
    assert body["headers"] == ["Authorization"] and body["timeout_ms"] == 2000
    assert body["field_map"] == LEADCO["field_map"]
    url = f"{BASE}/{body['id']}"
    answers = [
        created,
        client.get(url, headers=admin),
        client.get(f"{BASE}/leadco", headers=admin),
        client.get(BASE, headers=admin),
        client.patch(url, json={"timeout_ms": 300, "ping_url": None}, headers=admin),
    ]
    assert [answer.status_code for answer in answers] == [201, 200, 200, 200, 200]
    for answer in answers:
        assert KEY not in answer.text
    assert answers[-1].json["timeout_ms"] == 300 and answers[-1].json["ping_url"] is None
    assert KEY not in caplog.text
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    assert client.get(BASE, headers=admin).json == []


def test_a_provider_and_the_list_by_kind(client, admin):
    provider = {
        "name": "realestate",
        "kind": "enrichment",
        "url": "https://api.realestate.example/property",
        "method": "GET",
        "data_path": "property",
    }
    assert client.post(BASE, json=provider, headers=admin).status_code == 201
    assert client.post(BASE, json=LEADCO, headers=admin).status_code == 201
    listed = client.get(f"{BASE}?kind=enrichment", headers=admin).json
    assert [row["name"] for row in listed] == ["realestate"]
    assert listed[0]["required_fields"] == ["address_1", "city", "state", "zip"]
    assert client.get(f"{BASE}?kind=buyer", headers=admin).status_code == 422


def test_wrong_settings_answer_422_keyed_by_field(client, admin):
    answer = client.post(
        BASE,
        json={
            **LEADCO,
            "name": "lead co",
            "post_url": "ftp://x.example",
            "body_format": "xml",
            "price_path": "bid.[",
            "reason_pattern": "(",
            "field_map": None,
            "template": "{{ lead.zip }",
        },
        headers=admin,
    )
    assert answer.status_code == 422
    errors = answer.json["errors"]
    assert set(errors) == {
        "name",
        "post_url",
        "body_format",
        "price_path",
        "reason_pattern",
        "template",
    }
    assert "line 1" in errors["template"][0]
    assert (
        client.post(BASE, json={"post_url": "https://x.example"}, headers=admin).status_code == 422
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"template": "a\x00b", "field_map": None}, "template"),
        ({"reason_path": "message\x00"}, "reason_path"),
        ({"field_map": {"zip\x00": "zip"}}, "field_map"),
        ({"field_map": {"vendor": {"value": "x\x00"}}}, "field_map"),
        ({"headers": {"X-Key": "\ud800"}}, "headers"),
        ({"headers": {"X-Key": "clé"}}, "headers"),
    ],
)
def test_what_cannot_be_stored_or_sent_answers_422(client, admin, changes, field):
    answer = client.post(BASE, json={**LEADCO, **changes}, headers=admin)
    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]) == [field]


def test_a_taken_name_answers_409(client, admin):
    assert client.post(BASE, json=LEADCO, headers=admin).status_code == 201
    taken = client.post(BASE, json=LEADCO, headers=admin)
    assert taken.status_code == 409 and "leadco" in taken.json["message"]


def test_a_viewer_reads_but_does_not_write(client, world, admin):
    assert client.post(BASE, json=LEADCO, headers=admin).status_code == 201
    _, token = create_user(world.tenant, "viewer@acme.example", "viewer")
    assert client.get(BASE, headers=bearer(token)).status_code == 200
    assert client.post(BASE, json={**LEADCO, "name": "x"}, headers=bearer(token)).status_code == 403
    assert client.delete(f"{BASE}/leadco", headers=bearer(token)).status_code == 403


def test_simultaneous_adds_of_one_name_make_one_partner(admin, threads_server, db, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a race needs PostgreSQL's concurrent writers (SQLite runs one at a time)")
    for n in range(3):
        body = {**LEADCO, "name": f"leadco_{n}"}
        sent = send_together(threads_server, [("POST", BASE, admin, body)] * 4)
        answers = [(answer.status, answer.json) for answer in sent]
        assert sorted(status for status, _ in answers) == [201, 409, 409, 409], answers
        assert Partner.select().where(Partner.name == f"leadco_{n}").count() == 1
