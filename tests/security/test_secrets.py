"""Secrets are shown once: never in logs, posts, any stored row or any later API answer."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from app.api.logs import JsonFormatter
from app.services.actor import operator_actor
from app.services.imports import import_leads
from app.store.jobs import create_job
from app.store.models import Delivery, DeliveryDestination, Lead, Post
from app.store.secrets import hash_secret
from tests.delivery_rows import attempt_row
from tests.security.endpoints import admin_endpoints, database_snapshot


@pytest.fixture
def captured_logs():
    """Collect every record of the sluice loggers, at every level, as the JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sluice")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def secrets_in_use(world, client, seed_lead, captured_logs, secret_key):
    """Create a user, a source, a token and a destination through the API and use them
    every way."""
    admin = world.admin
    destination = client.post(
        "/api/admin/customers/sunco/destinations",
        json={
            "name": "CRM",
            "kind": "http",
            "url": "https://crm.example/leads",
            "headers": {"X-Api-Key": "sk_live_destination_header"},
        },
        headers=admin,
    )
    assert destination.status_code == 201
    webhook = client.post(
        "/api/admin/webhooks",
        json={
            "url": "https://hooks.acme.example/sluice",
            "events": ["lead.sold", "delivery.failed"],
            "headers": {"Authorization": "Bearer sk_live_webhook_header"},
        },
        headers=admin,
    )
    assert webhook.status_code == 201
    partner = client.post(
        "/api/admin/partners",
        json={
            "name": "leadco",
            "post_url": "https://leadco.example/post",
            "headers": {"Authorization": "Bearer sk_live_partner_header"},
        },
        headers=admin,
    )
    assert partner.status_code == 201
    user = client.post(
        "/api/admin/users", json={"email": "ana@acme.example", "role": "analyst"}, headers=admin
    )
    source = client.post(
        "/api/admin/sources", json={"name": "Feed", "category": "solar"}, headers=admin
    )
    token = client.post(f"/api/admin/sources/{source.json['id']}/tokens", headers=admin)
    assert (user.status_code, source.status_code, token.status_code) == (201, 201, 201)
    secrets = {
        "tenant admin token": world.admin_token,
        "user token": user.json["token"],
        "api secret": source.json["api_secret"],
        "source token": token.json["token"],
        "first api secret": world.secret,
        "destination header": "sk_live_destination_header",
        "signing secret": destination.json["signing_secret"],
        "signing secret key": destination.json["signing_secret"][6:],
        "webhook header": "sk_live_webhook_header",
        "partner header": "sk_live_partner_header",
        "webhook signing secret": webhook.json["signing_secret"],
        "webhook signing secret key": webhook.json["signing_secret"][6:],
    }
    key = source.json["api_key"]
    wrong = secrets["api secret"][:-4] + "abcd"  # a near miss is a secret too
    secrets["wrong secret"] = wrong
    attempts = [
        ({"Authorization": basic(key, secrets["api secret"])}, seed_lead),
        ({"Authorization": f"Bearer {secrets['source token']}"}, dict(seed_lead, zip="nope")),
        ({"Authorization": basic(key, wrong)}, seed_lead),
        (
            {
                "Authorization": f"Bearer {secrets['source token']}",
                "X-Api-Key": secrets["api secret"],
                "Cookie": f"session={secrets['user token']}",
                "Proxy-Authorization": basic(key, secrets["api secret"]),
            },
            dict(seed_lead, phone="555-777-0001"),
        ),
    ]
    for headers, body in attempts:
        assert client.post("/api/leads", json=body, headers=headers).status_code < 500
    broken = client.post(
        "/api/leads",
        data="{not json",
        headers={"Authorization": basic(key, secrets["api secret"])},
        content_type="application/json",
    )
    assert broken.status_code == 400
    for token_value in (secrets["user token"], secrets["user token"] + "x"):
        client.get("/api/admin/me", headers={"Authorization": f"Bearer {token_value}"})
    encoded = {
        f"{name} (Basic)": basic(key, value).split()[1]
        for name, value in secrets.items()
        if "secret" in name
    }
    return secrets | encoded, captured_logs


def find(secrets: dict[str, str], text: str) -> list[str]:
    return sorted(name for name, value in secrets.items() if value in text)


def test_secrets_never_appear_in_the_logs(secrets_in_use):
    secrets, logs = secrets_in_use
    output = logs.getvalue()
    assert output.count('"path": "/api/leads"') == 5  # the requests were logged...
    assert find(secrets, output) == []  # ...without a credential


def test_posts_record_no_credential(secrets_in_use):
    secrets, _ = secrets_in_use
    posts = list(Post.select())
    assert len(posts) == 4  # the wrong secret was a 401: nothing recorded
    for post in posts:
        text = json.dumps([post.payload, post.headers, post.errors])
        assert find(secrets, text) == [], post.public_id
        assert not {"authorization", "cookie", "x-api-key", "proxy-authorization"} & {
            name.lower() for name in post.headers
        }


def test_no_stored_row_holds_a_plain_secret(secrets_in_use):
    secrets, _ = secrets_in_use
    assert find(secrets, json.dumps(database_snapshot())) == []


def test_no_answer_after_creation_shows_a_secret_or_its_hash(app, client, world, secrets_in_use):
    secrets, _ = secrets_in_use
    hashes = {f"{name} hash": hash_secret(value) for name, value in secrets.items()}
    lead = Lead.select().order_by(Lead.id).first()
    post = Post.select().order_by(Post.id).first()
    delivery = Delivery.select().order_by(Delivery.id).first()  # as the sale wrote it
    assert delivery is not None
    attempt_row(delivery, 1, answer='{"ok": true}')
    job = create_job(world.tenant, "reprocess", "t", {"from": "bidding"}, [lead.id])
    imported = import_leads(
        operator_actor(world.tenant.code),
        "sunco",
        world.source.category,
        b"first_name,last_name,phone,state,zip\nAl,Bo,555-301-0009,FL,33139\n",
        price="20",
    )
    pinged = client.post(
        "/api/pings",
        json={"state": "FL", "zip": "33139", "homeowner": "yes", "monthly_bill": "180"},
        headers=world.auth,
    ).json
    values = {
        "pings": pinged["ping_id"],
        "imports": imported.id,
        "customers": "sunco",
        "deliveries": delivery.public_id,
        "destinations": DeliveryDestination.get(
            DeliveryDestination.customer.is_null(False)
        ).public_id,
        "webhooks": DeliveryDestination.get(DeliveryDestination.customer.is_null()).public_id,
        "jobs": job.public_id,
        "leads": lead.public_id,
        "posts": post.public_id,
        "sources": world.source.public_id,
        "rules": "1",
        "partners": "leadco",
    }
    seen = 0
    for endpoint in admin_endpoints(app):
        if endpoint.method != "GET":
            continue
        response = client.get(endpoint.url(values), headers=world.admin)
        assert response.status_code == 200, str(endpoint)
        text = response.get_data(as_text=True)
        assert find(secrets | hashes, text) == [], str(endpoint)
        seen += 1
    for page in ("/api/admin/posts?limit=500", "/api/admin/leads?test=all&limit=500"):
        for row in client.get(page, headers=world.admin).json:
            ref = row["id"]
            kind = "posts" if ref.startswith("post_") else "leads"
            text = client.get(f"/api/admin/{kind}/{ref}", headers=world.admin).get_data(
                as_text=True
            )
            assert find(secrets | hashes, text) == [], ref
    assert seen >= 10
