"""Routio-style sources: Routio's documented request, answers and errors, on our pipeline."""

import base64
import json
import shlex

import pytest

from app.store.models import Customer, Lead, LeadEvent, Post, Source
from app.store.sources import create_source, create_token


def only_post() -> Post:
    (post,) = Post.select()
    return post


def curl_request(client, command: str):
    """Replay a cURL command as printed (-X, -H, -d and the URL) through the test client."""
    words = shlex.split(command.replace("\\\n", " "))
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    url = next(w for w in words if w.startswith("http"))
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    return client.post(path, data=words[words.index("-d") + 1], headers=headers)


def test_routios_documented_curl_request_is_sold(routio, routio_curl_body):
    # curl -X POST .../api/leads -H "Content-Type: application/json"
    #      -H "Authorization: Bearer YOUR_API_KEY" -d '{...}'  (Routio's Code Examples)
    response = routio.client.post(
        "/api/leads",
        data=routio_curl_body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {routio.key}"},
    )
    assert response.status_code == 200
    lonestar = Customer.get(Customer.slug == "lonestar")
    body = response.json
    assert body == {
        "success": True,
        "lead_id": body["lead_id"],
        "status": "sold",
        "price": 45.0,
        "buyer_ids": [lonestar.public_id],
        "outcome": "assigned",
    }
    lead = Lead.get(Lead.public_id == body["lead_id"])
    assert lead.category == "auto"
    assert lead.data == {
        "first_name": "John",
        "last_name": "Doe",
        "phone": "+15551234567",
        "email": "john@email.com",
        "state": "TX",
    }
    assert lead.customer == lonestar
    post = only_post()
    assert (post.accepted, post.status_code) == (True, 200)
    assert post.payload == json.loads(routio_curl_body)


def test_routios_request_body_example_with_zip_and_city(routio, routio_request_body):
    response = routio.post(routio_request_body)
    assert response.json["status"] == "sold"
    data = Lead.get().data
    assert (data["zip"], data["city"]) == ("75001", "Dallas")


def test_not_sold_is_pending_with_our_outcome(make_routio, routio_body):
    world = make_routio(customers={"lonestar": "0", "roadrunner": "0"})
    response = world.post(routio_body)
    assert response.status_code == 200
    assert response.json == {
        "success": True,
        "lead_id": response.json["lead_id"],
        "status": "pending",
        "outcome": "marketplace",
    }


def test_over_the_monthly_threshold_is_pending_withheld(routio, routio_body):
    from app.services.actor import operator_actor
    from app.services.withheld import set_threshold

    set_threshold(operator_actor(routio.tenant.code), 0)
    response = routio.post(routio_body)
    assert response.status_code == 200
    assert response.json == {
        "success": True,
        "lead_id": response.json["lead_id"],
        "status": "pending",
        "outcome": "withheld",
    }


@pytest.mark.parametrize(
    ("change", "outcome"),
    [({"firstName": "Test"}, "audit"), ({}, "duplicate")],
    ids=["audit", "duplicate"],
)
def test_duplicate_and_audit_are_pending_with_their_outcome(routio, routio_body, change, outcome):
    if outcome == "duplicate":
        assert routio.post(routio_body).json["status"] == "sold"
    response = routio.post({**routio_body, **change})
    assert response.status_code == 200
    assert (response.json["status"], response.json["outcome"]) == ("pending", outcome)
    assert "price" not in response.json and "buyer_ids" not in response.json


@pytest.mark.parametrize(
    ("zip_code", "expected"),
    [
        ("00001", {"status": "sold", "price": 45.0, "buyer_ids": [], "outcome": "assigned"}),
        ("00002", {"status": "pending", "outcome": "unassigned"}),
        ("00003", {"status": "pending", "outcome": "duplicate"}),
        (None, {"status": "pending", "outcome": "audit"}),
    ],
)
def test_test_mode_answers_are_marked_test(make_routio, routio_body, zip_code, expected):
    world = make_routio(test_mode=True)
    body = dict(routio_body, zip=zip_code) if zip_code else routio_body
    response = world.post(body)
    assert response.status_code == 200
    assert response.json == {
        "success": True,
        "lead_id": response.json["lead_id"],
        **expected,
        "test": True,
    }
    assert {c.balance_cents for c in Customer.select()} == {100_000}


def test_missing_and_invalid_fields_are_400_naming_each(routio):
    response = routio.post(
        {
            "seller": "ACME1234",
            "category": "Auto Insurance",
            "firstName": "John",
            "email": "nope",
            "state": "ZZ",
            "vehicleYear": "old",
        }
    )
    assert response.status_code == 400
    body = response.json
    assert body["success"] is False
    assert body["error"] == "Missing required field"
    assert body["errors"] == {
        "email": ["Must be a valid email address."],
        "lastName": ["This field is required."],
        "phone": ["This field is required."],
        "state": ["Must be a two-letter US state code."],
        "vehicleYear": ["Must be a number."],
    }
    assert body["message"] == "Missing or invalid: email, lastName, phone, state, vehicleYear."
    assert body["request_id"] == response.headers["X-Request-Id"]
    post = only_post()
    assert (post.accepted, post.status_code, post.errors) == (False, 400, body["errors"])
    assert Lead.select().count() == 0


def test_without_seller_and_category_routios_required_list_is_reported(routio):
    response = routio.post({"firstName": "John"})
    assert response.status_code == 400
    assert sorted(response.json["errors"]) == [
        "category",
        "lastName",
        "phone",
        "seller",
        "state",
    ]


def test_zip_is_required_only_if_the_category_requires_it(make_routio, routio_body, auto_rules):
    rules = auto_rules.replace(
        "field zip          zip       deliverable", "field zip zip required(post)"
    )
    response = make_routio(rules).post(routio_body)
    assert response.status_code == 400
    assert response.json["errors"] == {"zip": ["This field is required."]}


@pytest.mark.parametrize("seller", ["ACME1234", "acme1234", "acme", "ACME"])
def test_seller_is_the_code_or_the_slug(routio, routio_body, seller):
    assert routio.post(dict(routio_body, seller=seller)).status_code == 200


def test_another_sellers_code_is_401_and_recorded(routio, routio_body, make_routio):
    make_routio(code="OTHER123", name="Other")
    response = routio.post(dict(routio_body, seller="OTHER123"))
    assert response.status_code == 401
    assert response.json["error"] == "Invalid API Key"
    assert response.json["success"] is False
    post = Post.get(Post.source == routio.source.id)
    assert (post.status_code, post.errors) == (401, {"seller": ["Not the seller of this API key."]})


@pytest.mark.parametrize(
    "category", ["Auto Insurance", "auto insurance", " auto  INSURANCE ", "auto"]
)
def test_category_is_a_label_or_an_id(routio, routio_body, category):
    response = routio.post(dict(routio_body, category=category))
    assert response.json["status"] == "sold"


def test_unknown_category_is_no_matching_campaign(routio, routio_body):
    response = routio.post(dict(routio_body, category="Solar"))
    assert response.status_code == 400
    assert response.json["error"] == "No matching campaign"
    assert only_post().status_code == 400
    assert Lead.select().count() == 0


def test_a_category_without_a_plan_is_no_matching_campaign(make_routio, routio_body, auto_rules):
    rules = auto_rules + '\ncategory home "Home" {\n    field zip zip\n}\n'
    world = make_routio(rules)
    assert world.post(dict(routio_body, category="Home")).json["error"] == "No matching campaign"


def test_without_active_rules_no_category_matches(make_routio, routio_body):
    world = make_routio(rules=None)
    response = world.post(routio_body)
    assert (response.status_code, response.json["error"]) == (400, "No matching campaign")


def test_a_source_bound_to_a_category_takes_only_that_one(make_routio, routio_body, auto_rules):
    rules = auto_rules + (
        'category home "Home" {\n    field first_name text\n}\n'
        'lead_type any_home "Any" in home fallback\nplan home {\n    stage marketplace\n}\n'
    )
    world = make_routio(rules, category="auto")
    assert world.post(routio_body).json["status"] == "sold"
    refused = world.post(dict(routio_body, category="Home"))
    assert refused.json["error"] == "No matching campaign"


def test_camel_case_and_other_spellings_map_onto_fields(routio, routio_body):
    response = routio.post(
        {**routio_body, "address1": "1 Main St", "Vehicle Year": "2019", "insured": "yes"}
    )
    assert response.status_code == 200
    data = Lead.get().data
    assert (data["address_1"], data["vehicle_year"], data["insured"]) == ("1 Main St", 2019, True)
    assert Lead.get().lead_type == "insured"


def test_snake_case_names_work_too_but_not_two_different_values(routio, routio_body):
    body = {k: v for k, v in routio_body.items() if k != "firstName"}
    assert routio.post({**body, "first_name": "John"}).status_code == 200
    clash = routio.post({**routio_body, "first_name": "Jane", "phone": "555-123-4000"})
    assert clash.status_code == 400
    assert clash.json["errors"] == {
        "firstName": ["Sent twice, as firstName and first_name, differently."]
    }


def test_routios_query_parameter_example_is_read(routio):
    # POST /api/leads?seller=ACME1234&category=Solar&state=TX&firstName=John&phone=555-1234,
    # for our Auto Insurance category: a 7-digit phone is not a full US number.
    query = "?seller=ACME1234&category=Auto%20Insurance&state=TX&firstName=John&phone=555-1234"
    response = routio.client.post("/api/leads" + query, headers=routio.auth)
    assert response.status_code == 400
    assert response.json["errors"] == {
        "lastName": ["This field is required."],
        "phone": ["Must be a valid phone number."],
    }
    assert only_post().payload["seller"] == "ACME1234"


def test_body_fields_take_precedence_over_query_parameters(routio, routio_body):
    query = "?seller=ACME1234&category=Auto%20Insurance&firstName=Query&state=CA"
    form = {k: v for k, v in routio_body.items() if k not in ("seller", "category", "state")}
    form["firstName"] = "Body"
    response = routio.client.post("/api/leads" + query, data=form, headers=routio.auth)
    assert response.status_code == 200
    assert (Lead.get().data["first_name"], Lead.get().data["state"]) == ("Body", "CA")


def test_distribution_failure_is_routios_internal_error(routio, routio_body, db):
    from app.store.models import BidState

    table = BidState._meta.table_name
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        response = routio.post(routio_body)
    finally:
        db.execute_sql(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')
    assert response.status_code == 500
    body = response.json
    assert (body["success"], body["error"]) == (False, "Internal error")
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert Lead.get(Lead.public_id == body["lead_id"]).status == "distribution_error"
    assert only_post().status_code == 500


@pytest.mark.parametrize(
    ("data", "content_type", "status", "error"),
    [
        ('{"seller": ', "application/json", 400, "Invalid request"),
        ("seller=ACME1234", "text/plain", 415, "Unsupported media type"),
        ("x" * 2000, "application/json", 413, "Payload too large"),
    ],
    ids=["malformed", "media-type", "too-large"],
)
def test_unreadable_bodies_in_routios_shape(app, routio, data, content_type, status, error):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = routio.client.post(
        "/api/leads", data=data, headers={**routio.auth, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert (response.json["success"], response.json["error"]) == (False, error)
    assert only_post().status_code == status


# -- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer srk_unknown"}, {"Authorization": "Bearer "}],
    ids=["none", "unknown-key", "empty"],
)
def test_missing_or_wrong_key_is_routios_401(routio, routio_body, headers):
    response = routio.client.post("/api/leads", json=routio_body, headers=headers)
    assert response.status_code == 401
    assert response.json["success"] is False
    assert response.json["error"] == "Invalid API Key"
    assert Post.select().count() == 0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Send your API key: Authorization: Bearer <api key>."),
        ({"Authorization": "Bearer "}, "Send your API key: Authorization: Bearer <api key>."),
        ({"Authorization": "Bearer srk_unknown"}, "This API key is not valid"),
        ({"Authorization": "Token srk_unknown"}, "Send your API key as Authorization: Bearer"),
    ],
    ids=["none", "empty", "unknown-key", "other-scheme"],
)
def test_the_401_tells_a_missing_key_from_a_wrong_one(routio, routio_body, headers, message):
    response = routio.client.post("/api/leads", json=routio_body, headers=headers)
    assert response.status_code == 401
    assert response.json["message"].startswith(message)


@pytest.mark.parametrize(
    ("path", "body", "content_type", "style"),
    [
        ("/api/leads", '{"seller": "ACME1234"}', "application/json", "routio"),
        ("/api/leads", "seller=ACME1234", "application/x-www-form-urlencoded", "routio"),
        ("/api/leads?seller=ACME1234", "", "application/json", "routio"),
        ("/api/leads", '{"first_name": "Katy"}', "application/json", "native"),
        ("/api/leads", "[" * 100_000, "application/json", "native"),
        ("/api/leads", '{"seller": ', "application/json", "native"),
    ],
    ids=["json-seller", "form-seller", "query-seller", "no-seller", "deep", "broken"],
)
def test_without_credentials_the_answer_is_in_the_style_the_request_suggests(
    client, path, body, content_type, style
):
    response = client.post(path, data=body, headers={"Content-Type": content_type})
    assert response.status_code == 401
    if style == "routio":
        assert response.json["error"] == "Invalid API Key"
    else:
        assert response.json["error"] == "unauthorized"


def test_routio_keys_are_hashed_and_revocable(routio, routio_body):
    from app.store.models import SourceToken
    from app.store.sources import revoke_tokens

    assert routio.key.startswith("srk_")
    assert all(routio.key not in (t.token_hash, Source.get().api_key) for t in SourceToken.select())
    second = create_token(routio.source)[1]
    assert second.startswith("srk_")
    assert (
        routio.post(routio_body, headers={"Authorization": f"Bearer {second}"}).status_code == 200
    )
    revoke_tokens(routio.source)
    assert routio.post(routio_body).status_code == 401


def test_credentials_only_open_sources_of_their_own_style(routio, routio_body, world):
    native_token = create_token(world.source)[1]
    # A native token is native, whatever the body says: Routio's fields fail native checks.
    as_native = routio.client.post(
        "/api/leads", json=routio_body, headers={"Authorization": f"Bearer {native_token}"}
    )
    assert as_native.status_code == 422
    assert as_native.json["error"] == "validation_failed"
    # Basic with a Routio-style source's identifiers, or a key under another prefix: 401.
    routio_source = Source.get_by_id(routio.source.id)
    basic = base64.b64encode(f"{routio_source.api_key}:{routio.key}".encode()).decode()
    response = routio.client.post(
        "/api/leads", json=routio_body, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 401
    disguised = "sbt_" + routio.key.removeprefix("srk_")
    response = routio.post(routio_body, headers={"Authorization": f"Bearer {disguised}"})
    assert response.status_code == 401


def test_native_and_routio_sources_of_one_tenant_coexist(
    make_world, home_lead, home_rules, routio_body, auto_rules
):
    world = make_world(
        home_rules() + auto_rules,
        {"alpha": "100", "beta": "100", "gamma": "100", "lonestar": "100", "roadrunner": "100"},
    )
    _, key = create_source(world.tenant, "Routio feed", None, api_style="routio")
    seller = world.tenant.code
    response = world.client.post(
        "/api/leads",
        json=dict(routio_body, seller=seller),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.json["status"] == "sold"
    assert world.post(home_lead()).status_code == 201


# -- creating Routio-style sources and their API specification ---------------------------


def test_admin_api_creates_a_routio_source_and_its_spec_works(make_routio, client, routio_body):
    world = make_routio()
    created = client.post(
        "/api/admin/sources",
        json={"name": "Partner", "api_style": "routio", "rate_limit": 120},
        headers=world.admin,
    )
    assert created.status_code == 201
    source = created.json
    assert (source["api_style"], source["category"], source["rate_limit"]) == ("routio", "*", 120)
    assert source["api_key"].startswith("srk_") and "api_secret" not in source
    listed = client.get("/api/admin/sources", headers=world.admin).json
    assert {s["api_key"] for s in listed if s["id"] == source["id"]} == {None}
    spec = client.get(f"/api/admin/sources/{source['id']}/spec", headers=world.admin).json
    assert spec["api_style"] == "routio"
    assert spec["seller"] == {"code": "ACME1234", "slug": "acme"}
    assert spec["authentication"][0]["header"] == "Authorization: Bearer YOUR_API_KEY"
    assert spec["rate_limit"]["requests"] == 120
    (auto,) = spec["categories"]
    assert (auto["category"], auto["id"]) == ("Auto Insurance", "auto")
    names = {f["name"]: f["required"] for f in auto["fields"]}
    assert names["firstName"] and names["lastName"] and names["seller"] and names["category"]
    assert names["address1"] is False and names["zip"] is False
    command = auto["example_request"].replace("YOUR_API_KEY", source["api_key"])
    assert "YOUR_API_KEY" in auto["example_request"]
    response = curl_request(client, command)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "sold"


def test_native_sources_still_need_a_category(make_routio, client):
    world = make_routio()
    response = client.post("/api/admin/sources", json={"name": "Web"}, headers=world.admin)
    assert response.status_code == 422
    assert response.json["errors"] == {"category": ["Required for native sources."]}


def test_cli_creates_a_routio_source(make_routio, app, database_url, monkeypatch, routio_body):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    world = make_routio()
    runner = CliRunner()

    result = runner.invoke(
        main, ["source", "create", "ACME1234", "--name", "Feed", "--api-style", "routio", "--json"]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["api_key"].startswith("srk_") and "api_secret" not in created
    text = runner.invoke(
        main, ["source", "create", "acme", "--name", "Feed 2", "--api-style", "routio"]
    )
    assert "Authorization: Bearer" in text.output and "ACME1234" in text.output
    spec = json.loads(runner.invoke(main, ["source", "spec", created["id"], "--json"]).output)
    assert spec["categories"][0]["category"] == "Auto Insurance"
    response = world.post(routio_body, headers={"Authorization": f"Bearer {created['api_key']}"})
    assert response.status_code == 200


def test_a_routio_source_for_any_category_does_not_block_rule_pushes(routio, auto_rules):
    # The rule set may change categories freely: the source names one per request.
    from app.store.rules import push_rules

    other = auto_rules.replace('"Auto Insurance"', '"Car Insurance"')
    version, _ = push_rules(routio.tenant, {"rules.rules": other}, by="tests")
    assert version.number == 2


def test_timeline_starts_with_the_routio_source(routio, routio_body):
    routio.post(routio_body)
    first = LeadEvent.select().order_by(LeadEvent.id).first()
    assert first.message == "Received from source Partner feed."
