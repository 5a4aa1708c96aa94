"""Tenant isolation: one tenant's tokens and keys see and change nothing of another's.

Tenant A has a lead, posts, customers, sources, a bearer token, users and three rule set
versions. Tenant B's admin calls every admin endpoint with A's identifiers: each answers
404 and A's rows stay exactly as they were; no answer B gets names anything of A's.
"""

from __future__ import annotations

import json

import pytest

from app.services.actor import operator_actor
from app.services.imports import import_leads
from app.store.customers import create_customer, find_customer
from app.store.destinations import create_destination
from app.store.jobs import create_job
from app.store.models import Customer, Lead, Post, Source, WalletEntry
from app.store.partners import create_partner
from app.store.rules import push_rules
from app.store.sources import create_token, token_id
from app.store.tenants import create_customer_user, create_user
from tests.delivery_rows import attempt_row, delivery_row
from tests.security.endpoints import admin_endpoints, tenant_snapshot

#: A ping of the example solar rules (the fields required for pings).
SOLAR_PING = {"state": "FL", "zip": "33139", "homeowner": "yes", "monthly_bill": "180"}

# Bodies that would succeed on the caller's own resources, so a refusal can only come
# from the resource being someone else's (not from validation).
BODIES = {
    ("PATCH", "/api/admin/sources/<source_id>"): {"test_mode": True, "active": False},
    ("POST", "/api/admin/customers/<ref>/deposits"): {"amount": "10.00"},
    ("PATCH", "/api/admin/customers/<ref>"): {"return_window_days": 3, "claims_per_day": 3},
    ("POST", "/api/admin/leads/<ref>/return"): {"reason": "Other", "override": True},
    ("POST", "/api/admin/customers/<ref>/destinations"): {
        "name": "Theirs",
        "kind": "http",
        "url": "https://b.example/",
    },
    ("PATCH", "/api/admin/customers/<ref>/destinations/<dst>"): {"name": "Renamed"},
    ("PATCH", "/api/admin/webhooks/<ref>"): {"name": "Renamed", "events": ["lead.sold"]},
    ("PATCH", "/api/admin/leads/<ref>"): {"city": "Elsewhere"},
    ("POST", "/api/admin/leads/<ref>/reclassify"): {"apply": True},
    ("POST", "/api/admin/customers/<ref>/users"): {"email": "new-buyer@beaver.example"},
    ("POST", "/api/admin/leads/<ref>/claim"): {"customer": "sunco"},  # B's own customer
    ("PATCH", "/api/admin/partners/<ref>"): {"timeout_ms": 500},
}


@pytest.fixture
def tenants(make_world, seed_lead, db, secret_key):
    """Return (A, B, A's identifiers): two tenants on the example rules; A has history."""
    first = make_world(name="Aardvark Leads")
    second = make_world(name="Beaver Leads")
    only_a = create_customer(first.tenant, "aardvark_only", "Aardvark Only", 5000)
    assert first.post(seed_lead).json["status"] == "assigned"
    assert first.post({"zip": "nope"}).status_code == 422
    unsold = dict(seed_lead, phone="555-301-0001", email="u@example.com", first_name="Al")
    assert first.post(unsold).status_code == 201
    pinged = first.client.post("/api/pings", json=SOLAR_PING, headers=first.auth).json
    assert pinged["ping_id"].startswith("png_"), pinged
    token_row, token = create_token(first.source)
    analyst, _ = create_user(first.tenant, "analyst@aardvark.example", "analyst")
    buyer, buyer_token = create_customer_user(only_a, "buyer@aardvark.example")
    solar = _solar_text()
    for number in (2, 3):  # versions B does not have
        push_rules(first.tenant, {"solar.rules": solar + f"\n# version {number}\n"}, by="t")
    destination = create_destination(
        first.tenant,
        {"name": "CRM", "kind": "http", "url": "https://crm.example/", "headers": {"A": "b"}},
        only_a,
    )
    webhook = create_destination(
        first.tenant,
        {"name": "Hooks", "kind": "http", "url": "https://a.example/", "events": ["lead.sold"]},
    )
    partner = create_partner(
        first.tenant,
        {
            "name": "aardvark_partner",
            "kind": "partner",
            "post_url": "https://partner.aardvark.example/post",
            "headers": {"X-Api-Key": "sk_live_aardvark_partner"},
        },
    )
    lead = Lead.select().where(Lead.tenant == first.tenant).order_by(Lead.id).first()
    posts = list(Post.select().where(Post.tenant == first.tenant))
    delivery = delivery_row(destination, lead=lead, attempts=2)  # dead: B could replay it
    attempt_row(delivery, 1)
    imported = import_leads(
        operator_actor(first.tenant.code),
        "sunco",
        first.source.category,
        b"first_name,last_name,phone,state,zip\nAl,Bo,555-301-0009,FL,33139\n",
        price="20",
        match=["zip"],
    )
    wanted = imported.auctions[0]
    job = create_job(first.tenant, "reprocess", "t", {"from": "bidding"}, [lead.id])
    db.close()
    ids = {
        "auctions": [wanted.public_id],
        "imports": [imported.id],
        "jobs": [job.public_id],
        "customers": [
            only_a.slug,
            only_a.public_id,
            find_customer(first.tenant, "sunco").public_id,
        ],
        "destinations": [destination.public_id],
        "deliveries": [delivery.public_id],
        "leads": [lead.public_id, str(lead.uuid)],
        "partners": [partner.public_id, partner.name],
        "posts": [post.public_id for post in posts],
        "pings": [pinged["ping_id"]],
        "sources": [first.source.public_id, first.source.api_key],
        "rules": ["2", "3"],
        "tokens": [token_id(token_row)],
        "users": [buyer.public_id, buyer.email],
        "webhooks": [webhook.public_id],
    }
    markers = {
        first.tenant.code,
        first.tenant.slug,
        "Aardvark",
        "aardvark",
        first.source.public_id,
        first.source.api_key,
        analyst.public_id,
        buyer.public_id,
        buyer_token,
        *(c.public_id for c in Customer.select().where(Customer.tenant == first.tenant)),
        *(lead.public_id for lead in Lead.select().where(Lead.tenant == first.tenant)),
        *(str(lead.uuid) for lead in Lead.select().where(Lead.tenant == first.tenant)),
        *(post.public_id for post in posts),
        pinged["ping_id"],
        token,
        token_id(token_row),
        first.secret,
        first.admin_token,
        destination.public_id,
        webhook.public_id,
        delivery.public_id,
        job.public_id,
        wanted.public_id,
        imported.id,
        partner.public_id,
        "sk_live_aardvark_partner",
    }
    return first, second, ids, markers


def _solar_text() -> str:
    from tests.conftest import EXAMPLES

    return (EXAMPLES / "solar" / "solar.rules").read_text()


def assert_no_marker(response, markers, what):
    text = response.get_data(as_text=True)
    leaked = sorted(marker for marker in markers if marker in text)
    assert leaked == [], f"{what} shows tenant A's {leaked}"


def test_every_admin_endpoint_refuses_another_tenants_resources(app, client, tenants):
    first, second, ids, markers = tenants
    before = tenant_snapshot(first.tenant.id)
    calls = 0
    for endpoint in admin_endpoints(app):
        if not endpoint.arguments:
            continue
        body = BODIES.get((endpoint.method, endpoint.rule), {})
        count = max(len(ids.get(segment, [])) for segment in ids)
        for n in range(count):
            values = {segment: refs[n % len(refs)] for segment, refs in ids.items()}
            url = endpoint.url(values)
            response = client.open(url, method=endpoint.method, json=body, headers=second.admin)
            assert response.status_code == 404, (url, endpoint.method, response.json)
            assert response.json["error"] == "not_found"
            # The message may echo what B sent, nothing more.
            assert_no_marker(response, {m for m in markers if m not in url}, url)
            calls += 1
    assert calls >= 20
    assert tenant_snapshot(first.tenant.id) == before


def test_the_same_urls_work_for_the_owner(app, client, tenants):
    # The control: A's own admin reaches every one of those resources.
    first, _, ids, _ = tenants
    for endpoint in admin_endpoints(app):
        if endpoint.arguments and endpoint.method == "GET":
            url = endpoint.url({segment: refs[0] for segment, refs in ids.items()})
            assert client.get(url, headers=first.admin).status_code == 200, url


def test_lists_and_writes_without_ids_show_nothing_of_another_tenant(app, client, tenants):
    first, second, ids, markers = tenants
    before = tenant_snapshot(first.tenant.id)
    for endpoint in admin_endpoints(app):
        if endpoint.arguments:
            continue
        response = client.open(endpoint.rule, method=endpoint.method, json={}, headers=second.admin)
        assert response.status_code < 500, str(endpoint)
        assert_no_marker(response, markers, str(endpoint))
    # Filters naming A's things find nothing.
    for url in (
        f"/api/admin/leads?source={first.source.public_id}&test=all",
        f"/api/admin/posts?source={first.source.public_id}",
        "/api/admin/leads?status=assigned&test=all",
        f"/api/admin/deliveries?destination={ids['destinations'][0]}",
        f"/api/admin/deliveries?lead={ids['leads'][0]}&status=dead",
    ):
        response = client.get(url, headers=second.admin)
        assert response.status_code == 200
        assert_no_marker(response, markers, url)
    # Replaying "every dead delivery" is B's own, none of A's.
    replay = client.post(
        "/api/admin/deliveries/retry", json={"all_dead": True}, headers=second.admin
    )
    assert replay.status_code == 200 and replay.json["count"] == 0
    assert tenant_snapshot(first.tenant.id) == before


def test_rules_cannot_name_another_tenants_customer(client, tenants):
    first, second, _, _ = tenants
    rules = _solar_text().replace("customer bargain", "customer aardvark_only")
    response = client.post(
        "/api/admin/rules", json={"files": {"solar.rules": rules}}, headers=second.admin
    )
    assert response.status_code == 422
    assert [d["code"] for d in response.json["diagnostics"]] == ["unknown-customer"]


def test_created_things_belong_to_the_creators_tenant(client, tenants):
    first, second, _, _ = tenants
    made = client.post(
        "/api/admin/customers",
        json={"slug": "aardvark_only", "name": "Not A's", "balance": "1.00"},
        headers=second.admin,
    )
    assert made.status_code == 201  # slugs are per tenant: B may use the same one
    ours = find_customer(first.tenant, "aardvark_only")
    assert ours.balance_cents == 5000 and ours.name == "Aardvark Only"
    source = client.post(
        "/api/admin/sources", json={"name": "B feed", "category": "solar"}, headers=second.admin
    ).json
    assert Source.get(Source.public_id == source["id"]).tenant_id == second.tenant.id


def test_intake_charges_only_the_sources_tenant(tenants, seed_lead):
    # Both tenants have a customer "sunco" bidding on the same lead types with the same
    # rules: A's leads charge A's sunco only, and A's history never makes B's lead a
    # duplicate, nor do A's cap and budget counters limit B.
    first, second, _, _ = tenants
    b_before = {
        c.slug: c.balance_cents for c in Customer.select().where(Customer.tenant == second.tenant)
    }
    lead = dict(seed_lead, phone="555-401-0001", email="x1@example.com")
    assert first.post(lead).json["status"] == "assigned"
    b_after = {
        c.slug: c.balance_cents for c in Customer.select().where(Customer.tenant == second.tenant)
    }
    assert b_after == b_before
    assert second.post(lead).json["status"] == "assigned"  # not a duplicate across tenants
    assert second.post(lead).json["status"] == "duplicate"
    charges = (
        WalletEntry.select()
        .join(Customer)
        .where((Customer.tenant == second.tenant) & (WalletEntry.kind == "charge"))
    )
    assert charges.count() == 1


def test_one_tenants_credentials_never_reach_the_other(client, tenants, seed_lead):
    first, second, _, _ = tenants
    token_row, token = create_token(first.source)
    response = client.post(
        "/api/leads",
        data=json.dumps(seed_lead),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    lead = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert lead.tenant_id == first.tenant.id
    # A's user token is no source credential, and B's admin cannot read A's new lead.
    assert client.post("/api/leads", json=seed_lead, headers=first.admin).status_code == 401
    url = f"/api/admin/leads/{lead.public_id}"
    assert client.get(url, headers=second.admin).status_code == 404
    assert client.get(url, headers=first.admin).status_code == 200
