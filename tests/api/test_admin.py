"""The admin API: user tokens, roles, and the operations the CLI also offers."""

from datetime import datetime

import pytest

from app.store.models import Customer, Lead
from app.store.tenants import create_user


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(world):
    """A token for each role of the world's tenant."""
    result = {"admin": world.admin_token}
    for role in ("rules_author", "analyst", "viewer"):
        _, result[role] = create_user(world.tenant, f"{role}@acme.example", role)
    return result


def test_admin_api_requires_a_user_token(world, client):
    assert client.get("/api/admin/leads").status_code == 401
    assert client.get("/api/admin/leads", headers=world.auth).status_code == 401
    response = client.get("/api/admin/leads", headers=bearer("sut_nobody"))
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_me_shows_user_tenant_and_permissions(world, client, tokens):
    body = client.get("/api/admin/me", headers=bearer(tokens["viewer"])).json
    assert body["user"]["role"] == "viewer"
    assert body["tenant"]["code"] == world.tenant.code
    assert "leads.reprocess" not in body["permissions"]


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("post", "/api/admin/rules/rollback", {"admin", "rules_author"}),
        ("post", "/api/admin/customers", {"admin"}),
        ("post", "/api/admin/customers/sunco/deposits", {"admin"}),
        ("post", "/api/admin/sources", {"admin"}),
        ("get", "/api/admin/users", {"admin"}),
        ("post", "/api/admin/leads/lead_00000000000000000000000000/reprocess", {"admin"}),
        ("post", "/api/admin/leads/lead_00000000000000000000000000/approve", {"admin"}),
        ("post", "/api/admin/leads/lead_00000000000000000000000000/reject", {"admin"}),
        ("post", "/api/admin/leads/review", {"admin"}),
        ("get", "/api/admin/leads", {"admin", "rules_author", "analyst", "viewer"}),
    ],
)
def test_roles_are_enforced(client, tokens, method, url, allowed):
    for role, token in tokens.items():
        response = getattr(client, method)(url, json={}, headers=bearer(token))
        if role in allowed:
            assert response.status_code != 403, (role, url)
        else:
            assert response.status_code == 403, (role, url)
            assert response.json["error"] == "forbidden"


def test_rules_push_list_and_rollback(world, client, tokens, home_rules):
    headers = bearer(tokens["rules_author"])
    for slug in ("alpha", "beta", "gamma"):
        client.post("/api/admin/customers", json={"slug": slug, "name": slug}, headers=world.admin)
    Customer.update(active=True).execute()
    # The home rules lack the source's category (solar): refused.
    refused = client.post(
        "/api/admin/rules", json={"files": {"h.rules": home_rules()}}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json["diagnostics"][0]["code"] == "missing-category"
    pushed = client.post(
        "/api/admin/rules",
        json={"files": {"h.rules": home_rules(), "solar.rules": solar_text()}},
        headers=headers,
    )
    assert pushed.status_code == 201
    assert pushed.json["version"] == 2 and pushed.json["active"] is True
    assert pushed.json["activated_by"] == "rules_author@acme.example"
    versions = client.get("/api/admin/rules", headers=headers).json
    assert [(v["version"], v["active"]) for v in versions] == [(2, True), (1, False)]
    back = client.post("/api/admin/rules/rollback", json={}, headers=headers)
    assert (back.status_code, back.json["version"], back.json["active"]) == (200, 1, True)
    detail = client.get("/api/admin/rules/1", headers=headers).json
    assert list(detail["files"]) == ["solar.rules"]


def solar_text() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "examples/solar/solar.rules").read_text()


def test_rules_with_errors_are_refused_with_diagnostics(world, client):
    files = {"bad.rules": solar_text().replace("price 8.50", "price")}
    response = client.post("/api/admin/rules", json={"files": files}, headers=world.admin)
    assert response.status_code == 422
    diagnostic = response.json["diagnostics"][0]
    assert diagnostic["path"] == "bad.rules" and diagnostic["severity"] == "error"
    assert diagnostic["line"] > 1


def test_rules_naming_unknown_customers_are_refused(world, client):
    files = {"solar.rules": solar_text().replace("customer bargain", "customer nobody")}
    response = client.post("/api/admin/rules", json={"files": files}, headers=world.admin)
    assert response.status_code == 422
    assert [d["code"] for d in response.json["diagnostics"]] == ["unknown-customer"]
    assert "nobody" in response.json["diagnostics"][0]["message"]


def test_customers_create_list_deposit_deactivate(world, client):
    headers = world.admin
    created = client.post(
        "/api/admin/customers",
        json={"slug": "newco", "name": "New Co", "balance": "12.34"},
        headers=headers,
    )
    assert created.status_code == 201
    assert created.json["balance"] == 12.34
    assert created.json["id"].startswith("cus_")
    duplicate = client.post(
        "/api/admin/customers", json={"slug": "newco", "name": "X"}, headers=headers
    )
    assert duplicate.status_code == 409
    deposit = client.post(
        "/api/admin/customers/newco/deposits", json={"amount": "0.66"}, headers=headers
    )
    assert deposit.json["balance"] == 13.0
    bad = client.post(
        "/api/admin/customers/newco/deposits", json={"amount": "0.001"}, headers=headers
    )
    assert bad.status_code == 422
    listed = client.get("/api/admin/customers", headers=headers).json
    assert {c["slug"]: c["balance"] for c in listed}["newco"] == 13.0
    off = client.post("/api/admin/customers/newco/deactivate", headers=headers)
    assert off.json["active"] is False
    assert client.get("/api/admin/customers/nobody", headers=headers).status_code == 404


def test_sources_create_token_and_spec(world, client):
    created = client.post(
        "/api/admin/sources",
        json={"name": "Partner feed", "category": "solar"},
        headers=world.admin,
    )
    assert created.status_code == 201
    assert created.json["api_secret"].startswith("sks_")
    source_id = created.json["id"]
    listed = client.get("/api/admin/sources", headers=world.admin).json
    assert all("api_secret" not in s for s in listed)
    spec = client.get(f"/api/admin/sources/{source_id}/spec", headers=world.admin).json
    assert spec["endpoint"] == {"method": "POST", "url": "http://sluice.test/api/leads"}
    assert [a["method"] for a in spec["authentication"]] == ["basic", "bearer"]
    fields = {f["name"]: f for f in spec["fields"]}
    assert fields["zip"]["required_for_post"] and fields["zip"]["required_for_ping"]
    assert fields["homeowner"]["required_for_ping"] and not fields["homeowner"]["required_for_post"]
    assert fields["roof_type"]["allowed_values"] == ["shingle", "tile", "metal", "flat"]
    assert fields["first_name"]["example"] == "Katy"
    assert "curl -X POST" in spec["example_request"]
    assert "http://sluice.test/api/leads" in spec["example_request"]
    assert spec["content_types"] == [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
    patched = client.patch(
        f"/api/admin/sources/{source_id}", json={"test_mode": True}, headers=world.admin
    )
    assert patched.json["test_mode"] is True


def test_invalid_admin_input_is_422_in_the_one_shape(world, client):
    response = client.post("/api/admin/sources", json={"name": ""}, headers=world.admin)
    assert response.status_code == 422
    assert response.json["error"] == "validation_failed"
    assert set(response.json["errors"]) == {"name", "category"}


def test_leads_list_filters_and_detail(world, client, seed_lead):
    world.post(seed_lead)
    world.post(dict(seed_lead, phone="555-999-0000", email="other@example.com", first_name="Al"))
    world.post(seed_lead)  # duplicate
    headers = world.admin
    everything = client.get("/api/admin/leads", headers=headers).json
    assert [lead["status"] for lead in everything] == ["duplicate", "assigned", "assigned"]
    duplicates = client.get("/api/admin/leads?status=duplicate", headers=headers).json
    assert len(duplicates) == 1
    by_type = client.get("/api/admin/leads?lead_type=other&limit=1", headers=headers).json
    assert len(by_type) == 1
    future = client.get("/api/admin/leads?since=2999-01-01T00:00:00Z", headers=headers).json
    assert future == []
    by_source = client.get(f"/api/admin/leads?source={world.source.public_id}", headers=headers)
    assert len(by_source.json) == 3
    assert client.get("/api/admin/leads?status=bogus", headers=headers).status_code == 422
    # Sold: assigned, posted or returned; a returned lead is still sold.
    Lead.update(status="returned").where(Lead.public_id == everything[-1]["id"]).execute()
    sold = client.get("/api/admin/leads?status=sold", headers=headers).json
    assert sorted(lead["status"] for lead in sold) == ["assigned", "returned"]
    csv = client.get("/api/admin/leads/export.csv?status=sold", headers=headers).text
    assert len(csv.strip().splitlines()) == 3  # the header and both sold leads
    detail = client.get(f"/api/admin/leads/{everything[-1]['id']}", headers=headers).json
    assert detail["data"]["first_name"] == "Katy"
    assert detail["rule_version"] == 1
    assert detail["post"].startswith("post_")
    assert [e["kind"] for e in detail["timeline"]] == ["received", "classified", "assigned"]
    by_uuid = client.get(f"/api/admin/leads/{detail['uuid']}", headers=headers).json
    assert by_uuid["id"] == detail["id"]


def test_posts_list_newest_first_and_detail(world, client, seed_lead):
    world.post(seed_lead)
    world.post({"zip": "nope"})
    posts = client.get("/api/admin/posts", headers=world.admin).json
    assert [(p["status"], p["status_code"]) for p in posts] == [
        ("Rejected", 422),
        ("Accepted", 201),
    ]
    assert posts[0]["lead"] is None
    assert posts[1]["lead"] == str(Lead.get().uuid)
    assert posts[1]["source"] == "Web form"
    detail = client.get(f"/api/admin/posts/{posts[0]['id']}", headers=world.admin).json
    assert detail["payload"] == {"zip": "nope"}
    assert "zip" in detail["errors"]
    rejected = client.get("/api/admin/posts?status=rejected", headers=world.admin).json
    assert [p["id"] for p in rejected] == [posts[0]["id"]]


def test_other_tenants_data_is_invisible(make_world, client, seed_lead):
    first = make_world(name="First")
    second = make_world(name="Second")
    first.post(seed_lead)
    lead_id = client.get("/api/admin/leads", headers=first.admin).json[0]["id"]
    assert client.get("/api/admin/leads", headers=second.admin).json == []
    assert client.get(f"/api/admin/leads/{lead_id}", headers=second.admin).status_code == 404


def test_malformed_admin_bodies_are_json_errors(world, client):
    headers = {**world.admin, "Content-Type": "application/json"}
    broken = client.post("/api/admin/customers", data="{bad", headers=headers)
    assert broken.status_code == 400
    assert broken.json == {
        "error": "bad_request",
        "message": "The request is malformed.",
        "request_id": broken.headers["X-Request-Id"],
    }
    refused = client.post(
        "/api/admin/customers", json={"slug": "Bad Slug", "name": "x"}, headers=headers
    )
    assert refused.status_code == 422
    assert "slug" in refused.json["message"]
    assert "errors" not in refused.json


def test_source_tokens_are_listed_and_revoked_one_by_one(world, client, seed_lead):
    url = f"/api/admin/sources/{world.source.public_id}/tokens"
    first = client.post(url, headers=world.admin)
    second = client.post(url, headers=world.admin).json
    assert first.status_code == 201 and first.json["id"].startswith("tok_")
    revoked = client.delete(f"{url}/{first.json['id']}", headers=world.admin)
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    listed = client.get(url, headers=world.admin).json
    assert [t["id"] for t in listed] == [first.json["id"], second["id"]]  # oldest first
    assert [t["revoked_at"] is not None for t in listed] == [True, False]
    assert all("token" not in t for t in listed)
    for token, status in ((first.json["token"], 401), (second["token"], 201)):
        response = client.post("/api/leads", json=seed_lead, headers=bearer(token))
        assert response.status_code == status
    assert client.delete(f"{url}/tok_0000000000000000", headers=world.admin).status_code == 404


def test_rotate_secret_answers_the_new_secret_once(world, client, seed_lead):
    url = f"/api/admin/sources/{world.source.public_id}/rotate-secret"
    rotated = client.post(url, headers=world.admin)
    assert rotated.status_code == 200
    assert rotated.json["api_key"] == world.source.api_key
    assert rotated.json["api_secret"].startswith("sks_")
    assert world.post(seed_lead).status_code == 401  # the old secret
    world.secret = rotated.json["api_secret"]
    assert world.post(seed_lead).status_code == 201
    routio = client.post(
        "/api/admin/sources", json={"name": "Routio", "api_style": "routio"}, headers=world.admin
    ).json
    refused = client.post(f"/api/admin/sources/{routio['id']}/rotate-secret", headers=world.admin)
    assert refused.status_code == 422 and "Routio-style" in refused.json["message"]


def test_rotate_secret_with_an_overlap_keeps_the_old_one_until_it_expires(world, client, seed_lead):
    from app.store.models import Source

    url = f"/api/admin/sources/{world.source.public_id}/rotate-secret"
    old = world.secret
    rotated = client.post(url, json={"overlap_hours": 1}, headers=world.admin)
    assert rotated.status_code == 200 and rotated.json["previous_secret_expires_at"]
    new = rotated.json["api_secret"]
    for secret in (old, new):  # both work during the overlap
        world.secret = secret
        assert world.post(seed_lead).status_code == 201
    shown = client.get(f"/api/admin/sources/{world.source.public_id}", headers=world.admin)
    assert shown.json["previous_secret_expires_at"] == rotated.json["previous_secret_expires_at"]
    Source.update(previous_secret_expires_at=datetime(2020, 1, 1)).execute()  # it expired
    world.secret = old
    assert world.post(seed_lead).status_code == 401
    world.secret = new
    assert world.post(seed_lead).status_code == 201
    # A rotation without an overlap ends any earlier one at once.
    again = client.post(url, json={"overlap_hours": 0.5}, headers=world.admin).json
    final = client.post(url, headers=world.admin).json
    assert final["previous_secret_expires_at"] is None
    for secret, status in ((new, 401), (again["api_secret"], 401), (final["api_secret"], 201)):
        world.secret = secret
        assert world.post(seed_lead).status_code == status


@pytest.mark.parametrize("overlap", [-1, 721, "1h"])
def test_rotate_secret_refuses_an_overlap_out_of_range(world, client, overlap):
    url = f"/api/admin/sources/{world.source.public_id}/rotate-secret"
    refused = client.post(url, json={"overlap_hours": overlap}, headers=world.admin)
    assert refused.status_code == 422 and "overlap_hours" in str(refused.json)


def test_rules_push_answers_warnings_and_check_stores_nothing(world, client):
    from tests.conftest import EXAMPLES

    text = (EXAMPLES / "solar" / "solar.rules").read_text() + (
        '\nlead_type again "Again" in solar priority 1 when homeowner == true\n'
        'lead_type again_too "Again too" in solar priority 1 when homeowner == true\n'
    )
    files = {"solar.rules": text}
    checked = client.post("/api/admin/rules/check", json={"files": files}, headers=world.admin)
    assert checked.status_code == 200
    assert checked.json["categories"] == ["solar"]
    assert {w["code"] for w in checked.json["warnings"]} == {"unreachable-lead-type"}
    assert [v["version"] for v in client.get("/api/admin/rules", headers=world.admin).json] == [1]
    pushed = client.post("/api/admin/rules", json={"files": files}, headers=world.admin)
    assert pushed.status_code == 201 and pushed.json["version"] == 2
    assert pushed.json["warnings"] == checked.json["warnings"]
    warning = pushed.json["warnings"][0]
    assert (warning["path"], warning["severity"]) == ("solar.rules", "warning")
    assert warning["line"] > 0 and warning["column"] > 0
