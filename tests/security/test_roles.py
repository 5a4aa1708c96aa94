"""Roles on every admin endpoint: each one declares a permission, and only roles holding it pass.

The endpoints come from the app's URL map, so an endpoint added later is checked too.
"""

from __future__ import annotations

import pytest

from app.store.models import User
from app.store.tenants import PERMISSIONS, ROLES, create_user
from tests.security.endpoints import admin_endpoints, database_snapshot

# Any value will do for path arguments here: the role check runs before any look-up.
PATH_VALUES = {
    "auctions": "auc_00000000000000000000000000",
    "customers": "sunco",
    "imports": "imp_00000000000000000000000000",
    "deliveries": "msg_00000000000000000000000000",
    "destinations": "dst_00000000000000000000000000",
    "jobs": "job_00000000000000000000000000",
    "leads": "lead_00000000000000000000000000",
    "partners": "prt_00000000000000000000000000",
    "pings": "png_00000000000000000000000000",
    "posts": "post_00000000000000000000000000",
    "sources": "src_00000000000000000000000000",
    "rules": "1",
    "tokens": "tok_0000000000000000",
    "users": "usr_00000000000000000000000000",
    "webhooks": "whk_00000000000000000000000000",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(world):
    """A token for each role of the world's tenant."""
    result = {"admin": world.admin_token}
    for role in ROLES:
        if role != "admin":
            _, result[role] = create_user(world.tenant, f"{role}@acme.example", role)
    return result


def call(client, endpoint, headers):
    url = endpoint.url(PATH_VALUES)
    return client.open(url, method=endpoint.method, json={}, headers=headers)


def test_every_admin_endpoint_declares_a_known_permission(app):
    endpoints = admin_endpoints(app)
    assert len(endpoints) >= 24  # the admin API as of the intake service, at least
    known = set().union(*PERMISSIONS.values())
    undeclared = [str(e) for e in endpoints if e.permission is None]
    assert undeclared == [], "admin endpoints without @require(permission)"
    assert {e.permission for e in endpoints} <= known


def test_roles_are_enforced_on_every_admin_endpoint(app, client, tokens):
    checked = 0
    for endpoint in admin_endpoints(app):
        for role, token in tokens.items():
            response = call(client, endpoint, bearer(token))
            allowed = endpoint.permission in PERMISSIONS[role]
            if allowed:
                assert response.status_code not in (401, 403), (str(endpoint), role)
            else:
                assert response.status_code == 403, (str(endpoint), role, response.json)
                assert response.json["error"] == "forbidden"
                assert endpoint.permission in response.json["message"]
                checked += 1
    assert checked > 0


def test_forbidden_calls_change_nothing(app, client, tokens):
    before = database_snapshot()
    for endpoint in admin_endpoints(app):
        for role, token in tokens.items():
            if endpoint.permission not in PERMISSIONS[role]:
                assert call(client, endpoint, bearer(token)).status_code == 403
    assert database_snapshot() == before


def test_the_viewer_role_changes_nothing_anywhere(app, client, tokens):
    # Independent of the declared permissions: a viewer may only read.
    for endpoint in admin_endpoints(app):
        if endpoint.method != "GET":
            response = call(client, endpoint, bearer(tokens["viewer"]))
            assert response.status_code == 403, str(endpoint)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer sut_" + "A" * 43},
        {"Authorization": "Basic c3V0X3g6eA=="},
        {"Authorization": "Token sut_x"},
    ],
    ids=["none", "empty-bearer", "unknown-token", "basic", "other-scheme"],
)
def test_every_admin_endpoint_refuses_missing_or_unknown_tokens(app, client, world, headers):
    before = database_snapshot()
    for endpoint in admin_endpoints(app):
        response = call(client, endpoint, headers)
        assert response.status_code == 401, str(endpoint)
        assert response.json["error"] == "unauthorized"
    assert database_snapshot() == before


def test_source_credentials_open_no_admin_endpoint(app, client, world):
    for endpoint in admin_endpoints(app):
        assert call(client, endpoint, world.auth).status_code == 401, str(endpoint)


def test_a_deactivated_users_token_opens_nothing(app, client, world, tokens):
    User.update(active=False).where(User.role == "admin").execute()
    for endpoint in admin_endpoints(app):
        assert call(client, endpoint, bearer(tokens["admin"])).status_code == 401, str(endpoint)
