"""Reading and validating submissions: every error at once, nothing created on rejection."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.dsl import compile_rules
from app.store.models import Lead, Post

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def only_post() -> Post:
    (post,) = Post.select()
    return post


def test_every_error_is_reported_at_once(world):
    response = world.post(
        {
            "first_name": "   ",
            "email": "not-an-email",
            "phone": "12",
            "state": "ZZ",
            "zip": "3313",
            "roof_type": "straw",
            "monthly_bill": "lots",
            "credit_score": 700.5,
            "dob": "31/31/2000",
        }
    )
    assert response.status_code == 422
    body = response.json
    assert body["error"] == "validation_failed"
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert body["errors"] == {
        "credit_score": ["Must be a whole number."],
        "dob": ["Must be a valid calendar date."],
        "email": ["Must be a valid email address."],
        "first_name": ["This field is required."],
        "last_name": ["This field is required."],
        "monthly_bill": ["Must be a number."],
        "phone": ["Must be a valid phone number."],
        "roof_type": ["Must be one of: shingle, tile, metal, flat."],
        "state": ["Must be a two-letter US state code."],
        "zip": ["Must be a US ZIP code (12345 or 12345-6789)."],
    }
    post = only_post()
    assert (post.accepted, post.status_code) == (False, 422)
    assert post.errors == body["errors"]
    assert post.payload["roof_type"] == "straw"
    assert Lead.select().count() == 0


def test_zip_is_always_required(make_world):
    rules = 'category x "X" { field name text }\nlead_type a "A" in x fallback\nplan x { }\n'
    world = make_world(rules, customers={})
    response = world.post({"name": "Katy"})
    assert response.status_code == 422
    assert response.json["errors"] == {"zip": ["This field is required."]}
    assert world.post({"name": "Katy", "zip": 33139}).json["status"] == "unassigned"


def test_values_are_normalized_before_the_rules_see_them(world, seed_lead):
    lead = dict(seed_lead, first_name="  Katy ", email=" Katy.Berry@Example.COM ", state="florida")
    lead.update(roof_type="TILE", homeowner="yes", monthly_bill="$1,200", credit_score="700")
    sunco = compile_rules(EXAMPLES / "solar").bids["sunco_premium"]
    open_before = sunco.schedule.is_open(datetime.now(UTC))
    response = world.post(lead)
    open_after = sunco.schedule.is_open(datetime.now(UTC))
    assert response.status_code == 201
    data = Lead.get(Lead.public_id == response.json["lead_public_id"]).data
    assert data["first_name"] == "Katy"
    assert data["email"] == "katy.berry@example.com"
    assert data["phone"] == "+15551234567"
    assert data["state"] == "FL"
    assert data["roof_type"] == "tile"
    assert data["homeowner"] is True
    assert data["monthly_bill"] == 1200
    assert data["credit_score"] == 700
    # A premium lead: sunco (45.00) in its New York office hours, else brightside (30.00).
    assert response.json["status"] == "assigned"
    if open_before == open_after:
        assert response.json["price"] == (45.0 if open_before else 30.0)


def test_unknown_fields_are_kept_in_the_post_not_in_the_lead(world, seed_lead):
    response = world.post(dict(seed_lead, utm_source="google"))
    assert response.status_code == 201
    assert "utm_source" not in Lead.get().data
    assert only_post().payload["utm_source"] == "google"


def test_form_encoded_body_with_query_string_merged_body_wins(world, seed_lead):
    form = dict(seed_lead, first_name="Body")
    del form["city"]
    response = world.client.post(
        "/api/leads?first_name=Query&city=Miami", data=form, headers=world.auth
    )
    assert response.status_code == 201
    data = Lead.get().data
    assert data["first_name"] == "Body"
    assert data["city"] == "Miami"


def test_query_string_alone_is_a_submission(world, seed_lead):
    query = "&".join(f"{k}={v}" for k, v in seed_lead.items() if k != "address_1")
    response = world.client.post(f"/api/leads?{query}", headers=world.auth)
    assert response.status_code == 201


def test_malformed_json_is_400_and_recorded(world):
    response = world.client.post(
        "/api/leads",
        data='{"zip": ',
        headers={**world.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"
    post = only_post()
    assert (post.accepted, post.status_code, post.payload) == (False, 400, '{"zip": ')


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "[" * 100_000])
def test_json_that_is_not_an_object_is_400(world, body):
    headers = {**world.auth, "Content-Type": "application/json"}
    response = world.client.post("/api/leads", data=body, headers=headers)
    assert response.status_code == 400


def test_oversized_body_is_413(world, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = world.post({"zip": "33139", "first_name": "x" * 2000})
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"
    assert only_post().status_code == 413


def test_other_content_types_are_415(world):
    headers = {**world.auth, "Content-Type": "text/plain"}
    response = world.client.post("/api/leads", data="zip=33139", headers=headers)
    assert response.status_code == 415


@pytest.mark.parametrize("field", ["ping_id", "bid_id"])
def test_ping_post_references_are_refused_until_ping_post_exists(world, seed_lead, field):
    response = world.post(dict(seed_lead, **{field: "f47ac10b-58cc-4372-a567-0e02b2c3d479"}))
    assert response.status_code == 422
    assert list(response.json["errors"]) == [field]
    assert Lead.select().count() == 0


def test_partner_id_is_recorded(world, seed_lead):
    partner = "partner_01arz3ndektsv4rrffq69g5fav"
    response = world.post(seed_lead, headers={"X-Partner-Id": partner})
    assert response.status_code == 201
    assert Lead.get().partner_id == partner


def test_overlong_partner_id_is_422(world, seed_lead):
    response = world.post(seed_lead, headers={"X-Partner-Id": "p" * 101})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["X-Partner-Id"]


def test_is_test_is_ignored_unless_the_source_is_in_test_mode(world, seed_lead):
    response = world.post(dict(seed_lead, is_test=True))
    assert response.json["status"] == "assigned"
    lead = Lead.get()
    assert lead.is_test is False
    assert "is_test" not in lead.data


def test_no_active_rules_for_the_category_is_503(make_world, client, seed_lead):
    world = make_world(category="roofing")
    response = world.post(seed_lead)
    assert response.status_code == 503
    assert only_post().status_code == 503


def test_post_records_headers_without_credentials(world, seed_lead):
    world.post(seed_lead, headers={"Cookie": "session=secret", "X-Trace": "abc"})
    headers = {k.lower(): v for k, v in only_post().headers.items()}
    assert headers["x-trace"] == "abc"
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert world.secret not in json.dumps(only_post().headers)
