"""Customer isolation: a customer's token sees its own customer's things and nothing else.

Tenant Acme has buyers sunco (A) and brightside (B), each with leads, wallet entries,
a destination, deliveries and a user; tenant Beaver has the same. A's token calls every
customer API endpoint with B's and Beaver's identifiers: each answers 404, and no answer
names anything of theirs. Tokens are not interchangeable: a customer's opens no admin
endpoint, a tenant user's no customer endpoint. No answer of the customer API shows a
field the rules do not mark deliverable.

The marketplace's claim is the one endpoint where an unsold lead of the tenant is the
customer's to act on: its values are B's and Beaver's sold leads, never on the marketplace.
"""

from __future__ import annotations

import pytest

from app.store.models import User
from app.store.tenants import ROLES, create_user
from tests.customer_world import leaked, make_market
from tests.security.endpoints import (
    admin_endpoints,
    customer_endpoints,
    database_snapshot,
    tenant_snapshot,
)
from tests.security.test_roles import PATH_VALUES


@pytest.fixture
def markets(make_world, db):
    """Return (Acme's market, Beaver's market)."""
    return make_market(make_world), make_market(make_world, name="Beaver")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def others(acme, beaver) -> tuple[dict[str, list[str]], set[str]]:
    """Return the identifiers A must not reach, and the markers A must not see."""
    b, beaver_a = acme.b, beaver.a
    ids = {
        "leads": [
            b.leads[0].public_id,
            str(b.leads[0].uuid),
            beaver_a.leads[-1].public_id,
            str(beaver_a.leads[-1].uuid),
            acme.unsold.public_id,
        ],
        "deliveries": [
            b.delivery.public_id,
            acme.webhook_delivery.public_id,
            beaver_a.delivery.public_id,
        ],
        "marketplace": [b.leads[0].public_id, beaver_a.leads[-1].public_id],
    }
    markers = {
        *(ref for refs in ids.values() for ref in refs),
        b.customer.public_id,
        "brightside",
        "Bob",
        "5552010004",
        "bob@brightside.example",
        b.token,
        beaver_a.customer.public_id,
        beaver_a.token,
        beaver.world.tenant.code,
        "Beaver",
        "beaver",
        "Una",
        acme.world.admin_token,
    }
    return ids, markers


def own_ids(buyer, market=None) -> dict[str, str]:
    ids = {"leads": buyer.leads[-1].public_id, "deliveries": buyer.delivery.public_id}
    ids["marketplace"] = market.unsold.public_id if market is not None else "lead_none"
    return ids


#: A valid body of each endpoint that takes one: the request reaches the lead's look-up.
BODIES = {("POST", "/api/customer/leads/<ref>/return"): {"reason": "Other"}}


def assert_no_marker(response, markers, what):
    text = response.get_data(as_text=True)
    shown = sorted(marker for marker in markers if marker in text)
    assert shown == [], f"{what} shows {shown}"


def test_every_customer_endpoint_refuses_anothers_resources_as_not_found(app, client, markets):
    acme, beaver = markets
    ids, markers = others(acme, beaver)
    before = database_snapshot()
    calls = 0
    for endpoint in customer_endpoints(app):
        if not endpoint.arguments:
            continue
        count = max(len(refs) for refs in ids.values())
        for n in range(count):
            url = endpoint.url({segment: refs[n % len(refs)] for segment, refs in ids.items()})
            body = BODIES.get((endpoint.method, endpoint.rule), {})
            response = client.open(url, method=endpoint.method, json=body, headers=acme.a.auth)
            assert response.status_code == 404, (url, endpoint.method, response.json)
            assert response.json["error"] == "not_found"
            # The message may echo what A sent, nothing more.
            assert_no_marker(response, {m for m in markers if m not in url}, url)
            calls += 1
    assert calls >= 10
    assert database_snapshot() == before


def test_the_same_urls_work_for_the_owner(app, client, markets):
    acme, _ = markets
    for endpoint in customer_endpoints(app):
        if endpoint.method == "GET":
            url = endpoint.url(own_ids(acme.a))
            assert client.get(url, headers=acme.a.auth).status_code == 200, url
            assert client.get(endpoint.url(own_ids(acme.b)), headers=acme.b.auth).status_code == 200


def test_lists_show_nothing_of_another_customer_or_tenant(app, client, markets):
    acme, beaver = markets
    ids, markers = others(acme, beaver)
    listed = 0
    for endpoint in customer_endpoints(app):
        if endpoint.arguments or endpoint.method != "GET":
            continue
        response = client.get(endpoint.rule, headers=acme.a.auth)
        assert response.status_code == 200, str(endpoint)
        shown = markers
        if endpoint.rule == "/api/customer/marketplace":  # its offers are every buyer's
            shown = markers - {acme.unsold.public_id}
        assert_no_marker(response, shown, str(endpoint))
        listed += 1
    assert listed >= 5
    # Filters naming B's things find nothing.
    b = acme.b
    destination = b.delivery.destination.public_id
    for url in (
        f"/api/customer/deliveries?lead={b.leads[0].public_id}",
        f"/api/customer/deliveries?destination={destination}",
        f"/api/customer/deliveries?customer={b.customer.slug}",  # not a filter here
        "/api/customer/leads?status=marketplace",
        "/api/customer/leads?status=assigned&category=solar",
    ):
        response = client.get(url, headers=acme.a.auth)
        assert response.status_code == 200, url
        assert_no_marker(response, markers | {destination}, url)


def test_no_customer_endpoint_shows_a_non_deliverable_field(app, client, markets):
    acme, _ = markets
    for buyer in (acme.a, acme.b):
        for endpoint in customer_endpoints(app):
            if endpoint.method == "GET":
                response = client.get(endpoint.url(own_ids(buyer)), headers=buyer.auth)
                assert leaked(response.get_data(as_text=True)) == [], str(endpoint)


def test_tenant_tokens_open_no_customer_endpoint(app, client, markets):
    acme, _ = markets
    tokens = {"admin": acme.world.admin_token}
    for role in ROLES:
        if role != "admin":
            _, tokens[role] = create_user(acme.world.tenant, f"{role}@acme.example", role)
    for endpoint in customer_endpoints(app):
        url = endpoint.url(own_ids(acme.a))
        for role, token in tokens.items():
            response = client.open(url, method=endpoint.method, json={}, headers=bearer(token))
            assert response.status_code == 403, (str(endpoint), role)
            assert response.json["error"] == "forbidden"
            assert "admin API" in response.json["message"]


def test_customer_tokens_open_no_admin_endpoint(app, client, markets):
    acme, _ = markets
    before = tenant_snapshot(acme.world.tenant.id)
    for endpoint in admin_endpoints(app):
        response = client.open(
            endpoint.url(PATH_VALUES), method=endpoint.method, json={}, headers=acme.a.auth
        )
        assert response.status_code == 403, str(endpoint)
        assert "customer API" in response.json["message"]
    assert tenant_snapshot(acme.world.tenant.id) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer sct_" + "A" * 43},
        {"Authorization": "Basic c2N0X3g6eA=="},
        {"Authorization": "Token sct_x"},
    ],
    ids=["none", "empty-bearer", "unknown-token", "basic", "other-scheme"],
)
def test_every_customer_endpoint_refuses_missing_or_unknown_tokens(app, client, markets, headers):
    acme, _ = markets
    for endpoint in customer_endpoints(app):
        url = endpoint.url(own_ids(acme.a))
        response = client.open(url, method=endpoint.method, json={}, headers=headers)
        assert response.status_code == 401, str(endpoint)
        assert response.json["error"] == "unauthorized"


def test_source_credentials_open_no_customer_endpoint(app, client, markets):
    acme, _ = markets
    for endpoint in customer_endpoints(app):
        url = endpoint.url(own_ids(acme.a))
        response = client.open(url, method=endpoint.method, json={}, headers=acme.world.auth)
        assert response.status_code == 401, str(endpoint)


def test_a_deactivated_customer_users_token_opens_nothing(app, client, markets):
    acme, _ = markets
    User.update(active=False).where(User.email == "ann@sunco.example").execute()
    for endpoint in [*customer_endpoints(app), *admin_endpoints(app)]:
        url = endpoint.url({**PATH_VALUES, **own_ids(acme.a)})
        response = client.open(url, method=endpoint.method, json={}, headers=acme.a.auth)
        assert response.status_code == 401, str(endpoint)
    # B's user is untouched.
    assert client.get("/api/customer/me", headers=acme.b.auth).status_code == 200
