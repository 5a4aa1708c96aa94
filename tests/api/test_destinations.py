"""/api/admin/customers/<ref>/destinations: secrets shown once, masked after, 422 by field."""

from __future__ import annotations

import pytest

from app.store.tenants import create_tenant, create_user

BASE = "/api/admin/customers/sunco/destinations"
HTTP = {
    "name": "Sunco CRM",
    "kind": "http",
    "url": "https://crm.sunco.example/leads",
    "headers": {"X-Api-Key": "sk_live_0123456789"},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(world, secret_key):
    return bearer(world.admin_token)


def test_a_destination_is_created_with_its_secret_shown_once(client, admin):
    created = client.post(BASE, json=HTTP, headers=admin)
    assert created.status_code == 201, created.json
    body = created.json
    secret = body["signing_secret"]
    assert secret.startswith("whsec_")
    assert body["headers"] == {"X-Api-Key": "sk…(18 chars)"}
    url = f"{BASE}/{body['id']}"
    for answer in (client.get(url, headers=admin), client.get(BASE, headers=admin)):
        assert answer.status_code == 200
        assert secret not in answer.text and "sk_live_0123456789" not in answer.text
        assert "signing_secret" not in answer.text.replace("signing_secrets", "")
    changed = client.patch(url, json={"method": "PUT", "active": False}, headers=admin)
    assert changed.status_code == 200
    assert changed.json["method"] == "PUT" and changed.json["active"] is False
    assert secret not in changed.text and "sk_live_0123456789" not in changed.text
    rotated = client.post(f"{url}/rotate-secret", json={"overlap_hours": 1}, headers=admin)
    assert rotated.status_code == 200
    assert rotated.json["signing_secret"].startswith("whsec_")
    assert rotated.json["signing_secret"] != secret
    assert len(rotated.json["signing_secrets"]) == 2
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404


def test_wrong_settings_answer_422_keyed_by_field(client, admin):
    template = '{\n  "zip": {{ lead.zip }\n}'
    answer = client.post(
        BASE,
        json={**HTTP, "url": "ftp://x.example", "template": template, "success_pattern": "("},
        headers=admin,
    )
    assert answer.status_code == 422
    errors = answer.json["errors"]
    assert set(errors) == {"url", "template", "success_pattern"}
    assert errors["template"][0].startswith("line 2: ")


def test_a_customer_of_another_tenant_is_not_found(client, admin, db):
    from app.store.customers import create_customer

    other, _, token = create_tenant("Other Leads")
    create_customer(other, "theirs", "Theirs")
    created = client.post(
        "/api/admin/customers/theirs/destinations", json=HTTP, headers=bearer(token)
    )
    assert created.status_code == 201
    assert client.get("/api/admin/customers/theirs/destinations", headers=admin).status_code == 404
    theirs = f"{BASE}/{created.json['id']}"
    assert client.get(theirs, headers=admin).status_code == 404


def test_a_viewer_lists_but_cannot_create(client, admin, world, db):
    _, token = create_user(world.tenant, "viewer@acme.example", "viewer")
    assert client.get(BASE, headers=bearer(token)).status_code == 200
    refused = client.post(BASE, json=HTTP, headers=bearer(token))
    assert refused.status_code == 403
    assert client.get(BASE, headers=admin).json == []


def test_the_app_refuses_to_start_with_a_malformed_key(database_url):
    from app import create_app

    with pytest.raises(ValueError, match="SLUICE_SECRET_KEY key 2 is not a Fernet key"):
        create_app({"DATABASE_URL": database_url, "SECRET_KEY": "A" * 43 + "=,nope"})
