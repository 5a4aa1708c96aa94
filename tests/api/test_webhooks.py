"""/api/admin/webhooks: secrets shown once, masked after, 422 by field; the events documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema_rs
import pytest

from app.domain.delivery import EVENTS
from app.store.tenants import create_user

BASE = "/api/admin/webhooks"
HOOK = {
    "name": "Acme hooks",
    "url": "https://hooks.acme.example/sluice",
    "events": ["lead.sold", "delivery.failed"],
    "headers": {"Authorization": "Bearer sk_live_0123456789"},
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(world, secret_key):
    return bearer(world.admin_token)


def test_a_webhook_is_created_with_its_secret_shown_once(client, admin):
    created = client.post(BASE, json=HOOK, headers=admin)
    assert created.status_code == 201, created.json
    body = created.json
    secret = body["signing_secret"]
    assert body["id"].startswith("whk_") and secret.startswith("whsec_")
    assert body["events"] == ["lead.sold", "delivery.failed"]
    assert body["headers"] == {"Authorization": "Be…(25 chars)"}
    assert not {"customer", "kind", "addresses"} & set(body)
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    _validator({"$ref": "#/components/schemas/RevealedWebhook"}, schemas).validate(body)
    url = f"{BASE}/{body['id']}"
    _validator({"$ref": "#/components/schemas/Webhook"}, schemas).validate(
        client.get(url, headers=admin).json
    )
    for answer in (client.get(url, headers=admin), client.get(BASE, headers=admin)):
        assert answer.status_code == 200
        assert secret not in answer.text and "sk_live_0123456789" not in answer.text
        assert "signing_secret" not in answer.text.replace("signing_secrets", "")
    changed = client.patch(url, json={"events": ["lead.unsold"], "active": False}, headers=admin)
    assert changed.status_code == 200
    assert changed.json["events"] == ["lead.unsold"] and changed.json["active"] is False
    assert changed.json["paused_reason"].startswith("paused by ")
    assert secret not in changed.text and "sk_live_0123456789" not in changed.text
    rotated = client.post(f"{url}/rotate-secret", json={"overlap_hours": 1}, headers=admin)
    assert rotated.status_code == 200
    assert rotated.json["signing_secret"] not in (None, secret)
    assert len(rotated.json["signing_secrets"]) == 2
    removed = client.delete(url, headers=admin)
    assert removed.status_code == 204 and removed.data == b""
    assert client.get(url, headers=admin).status_code == 404
    assert client.get(BASE, headers=admin).json == []
    assert client.patch(url, json={"active": True}, headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"events": ["lead.sold", "lead.bought"]}, {"events"}),
        ({"events": []}, {"events"}),
        ({"url": "not a url"}, {"url"}),
        ({"url": "mailto:ops@acme.example", "events": ["*"]}, {"url", "events"}),
        ({"headers": {"Sluice-Event": "x"}, "retry_schedule": []}, {"headers", "retry_schedule"}),
    ],
)
def test_wrong_settings_answer_422_keyed_by_field(client, admin, change, fields):
    answer = client.post(BASE, json={**HOOK, **change}, headers=admin)
    assert answer.status_code == 422, answer.json
    assert set(answer.json["errors"]) == fields
    assert client.get(BASE, headers=admin).json == []


def test_an_unknown_event_is_named_with_the_known_ones(client, admin):
    answer = client.post(BASE, json={**HOOK, "events": ["lead.bought"]}, headers=admin)
    message = answer.json["errors"]["events"][0]
    assert message == f"unknown event 'lead.bought'; known: {', '.join(EVENTS)}"


def test_url_and_events_are_required(client, admin):
    answer = client.post(BASE, json={"name": "Hooks"}, headers=admin)
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == {"url", "events"}
    kind = client.post(BASE, json={**HOOK, "kind": "email"}, headers=admin)
    assert kind.status_code == 422 and set(kind.json["errors"]) == {"kind"}


def test_a_viewer_lists_but_cannot_add_change_or_remove(client, admin, world, db):
    made = client.post(BASE, json=HOOK, headers=admin).json
    _, token = create_user(world.tenant, "viewer@acme.example", "viewer")
    viewer = bearer(token)
    assert [w["id"] for w in client.get(BASE, headers=viewer).json] == [made["id"]]
    assert client.get(f"{BASE}/{made['id']}", headers=viewer).status_code == 200
    url = f"{BASE}/{made['id']}"
    for answer in (
        client.post(BASE, json=HOOK, headers=viewer),
        client.patch(url, json={"active": False}, headers=viewer),
        client.delete(url, headers=viewer),
        client.post(f"{url}/rotate-secret", json={}, headers=viewer),
    ):
        assert answer.status_code == 403
        assert "webhooks.write" in answer.json["message"]
    assert client.get(url, headers=admin).json["active"] is True


def test_the_openapi_document_lists_every_event_with_its_headers_and_body(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    assert set(spec["webhooks"]) == set(EVENTS)
    schemas = spec["components"]["schemas"]
    for event, item in spec["webhooks"].items():
        operation = item["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature", "Sluice-Event"}
        media = operation["requestBody"]["content"]["application/json"]
        validator = _validator(media["schema"], schemas)
        validator.validate(media["example"])
        assert media["example"]["type"] == event
        other = next(e for e in EVENTS if e != event)
        assert not validator.is_valid({**media["example"], "type": other})
    assert "Not sent yet" not in spec["webhooks"]["lead.returned"]["post"]["description"]
    for path in ("/api/admin/webhooks", "/api/admin/webhooks/{ref}"):
        assert path in spec["paths"]
    assert spec["paths"]["/api/admin/webhooks"]["post"]["security"] == [{"userBearer": []}]


def test_the_docs_show_a_valid_body_for_every_event(client):
    # docs/webhooks.md shows one full body per event, under a heading naming it: each one
    # must be what the OpenAPI document says that event sends.
    spec = client.get("/api/openapi.json").json
    shown = _bodies_in_docs(DOCS.read_text())
    assert set(shown) == set(EVENTS)
    for event, body in shown.items():
        media = spec["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]
        assert body["type"] == event
        _validator(media["schema"], spec["components"]["schemas"]).validate(body)


def _validator(schema: dict, components: dict) -> jsonschema_rs.Draft202012Validator:
    """Return a validator of a schema whose $refs point into the document's components."""
    document = {**schema, "components": {"schemas": components}}
    return jsonschema_rs.Draft202012Validator(document)


def _bodies_in_docs(text: str) -> dict[str, dict]:
    """Return the first JSON block under each `### <event>` heading of the docs."""
    found = {}
    for match in re.finditer(r"^### `([a-z.]+)`\n(.*?)(?=^### |^## |\Z)", text, re.M | re.S):
        block = re.search(r"```json\n(.*?)```", match.group(2), re.S)
        if block:
            found[match.group(1)] = json.loads(block.group(1))
    return found
