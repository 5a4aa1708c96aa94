"""Inbound ping-post over HTTP: a source pings a lead without the person's identity, gets
the bids that would buy it, then posts the full lead against the ping (docs/ping-post.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.store.models import BidCounter, Customer, Lead, Ping, Post, Source, WalletEntry
from app.store.sources import create_source
from tests.conftest import basic_auth

RULES = """
category home "Home services" {
    field first_name text required(post) example "Katy"
    field phone phone required(post) example "555-123-4567"
    field email email
    field state us_state required(ping, post)
    field zip zip required(ping, post)
    field kind one of ["Roof", "Solar"] required(ping, post)
    field score integer
}

lead_type roof "Roofing" in home priority 20 when kind == "Roof"
lead_type solar "Solar" in home priority 10 when kind == "Solar"

audit "Low score" in home when score < 0

dedupe "Same phone" in home on phone within 30 days
dedupe "Same zip and score" in home on zip, score within 1 days

bid alpha_roof for customer alpha on roof price 40.00 cap 1 per day
bid beta_roof for customer beta on roof price 30.00
bid gamma_roof for customer gamma on roof price 20.00 when score > 50
bid solar_any for customer alpha on solar price 25.00

plan home {
    stage bidding highest_price
    stage marketplace
}
"""


@pytest.fixture
def pw(make_world):
    """A tenant on the ping rules; alpha, beta and gamma have 100.00 each."""
    return make_world(RULES, {"alpha": "100", "beta": "100", "gamma": "100"})


def ping(world, body, headers=None, auth=None):
    return world.client.post(
        "/api/pings", json=body, headers={**(auth or world.auth), **(headers or {})}
    )


PING = {"state": "FL", "zip": "33139", "kind": "Roof"}


def full(n: int = 1, **fields) -> dict:
    lead = {"first_name": "Katy", "phone": f"555-201-{n:04d}", **PING}
    lead.update(fields)
    return {k: v for k, v in lead.items() if v is not None}


def balance(slug: str) -> int:
    return Customer.get(Customer.slug == slug).balance_cents


def test_a_ping_answers_its_best_bid_and_writes_only_its_record(pw):
    posts, leads, counters = Post.select().count(), Lead.select().count(), BidCounter.select()
    response = ping(pw, PING)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["ping_id"].startswith("png_") and body["status"] == "accepted"
    assert [(b["bid_id"], b["price"]) for b in body["bids"]] == [("alpha_roof", 40.0)]
    assert body["bids"][0]["expires_at"] == body["expires_at"]
    assert (Post.select().count(), Lead.select().count()) == (posts, leads)
    assert counters.count() == 0 and balance("alpha") == 10000
    row = Ping.get(Ping.public_id == body["ping_id"])
    assert (row.status, row.lead_type, row.bids) == (
        "accepted",
        "roof",
        [{"bid_id": "alpha_roof", "price_cents": 4000}],
    )
    assert row.expires_at - row.received_at == timedelta(seconds=300)


def test_bids_shown_is_a_source_setting(pw):
    response = pw.client.patch(
        f"/api/admin/sources/{pw.source.public_id}",
        json={"ping_bids_shown": 3, "ping_ttl_seconds": 60},
        headers=pw.admin,
    )
    assert response.status_code == 200
    assert (response.json["ping_bids_shown"], response.json["ping_ttl_seconds"]) == (3, 60)
    body = ping(pw, {**PING, "score": 80}).json
    assert [(b["bid_id"], b["price"]) for b in body["bids"]] == [
        ("alpha_roof", 40.0),
        ("beta_roof", 30.0),
        ("gamma_roof", 20.0),
    ]


@pytest.mark.parametrize("value", [0, 21, "x"])
def test_a_bad_ping_setting_is_a_422(pw, value):
    response = pw.client.patch(
        f"/api/admin/sources/{pw.source.public_id}",
        json={"ping_bids_shown": value},
        headers=pw.admin,
    )
    assert response.status_code == 422 and "ping_bids_shown" in str(response.json)


def test_a_ping_without_its_required_fields_is_a_422_naming_them(pw):
    response = ping(pw, {"state": "FL"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"zip", "kind"}
    row = Ping.select().order_by(Ping.id.desc()).first()
    assert (row.status, row.status_code, set(row.errors)) == ("rejected", 422, {"zip", "kind"})


def test_a_ping_carrying_identity_is_refused_by_field_and_never_stored(pw):
    response = ping(pw, {**PING, "phone": "555-201-0001", "email": "katy@example.com"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"phone", "email"}
    assert "identity" in response.json["errors"]["phone"][0]
    row = Ping.select().order_by(Ping.id.desc()).first()
    assert "phone" not in row.payload and "email" not in row.payload
    assert row.payload["zip"] == "33139"


def test_a_blank_identity_field_is_not_identity(pw):
    assert ping(pw, {**PING, "phone": ""}).json["status"] == "accepted"


@pytest.mark.parametrize(
    "body, reason",
    [
        ({**PING, "score": -1}, "audit"),
        ({**PING, "kind": "Solar", "state": "TX"}, None),  # sells: control
    ],
)
def test_a_ping_the_plan_would_not_sell_is_rejected_with_a_reason(pw, body, reason):
    answer = ping(pw, body).json
    if reason is None:
        assert answer["status"] == "accepted"
        return
    assert (answer["status"], answer["bids"]) == ("rejected", [])
    assert reason in answer["reason"]


def test_a_ping_is_deduped_on_the_keys_it_carries_and_records_none(pw):
    assert pw.post(full(1, score=7)).status_code == 201
    answer = ping(pw, {**PING, "score": 7}).json
    assert answer["status"] == "rejected" and "dedupe" in answer["reason"]
    # the phone check cannot run on a ping (no phone): another score passes
    assert ping(pw, {**PING, "score": 8}).json["status"] == "accepted"
    assert ping(pw, {**PING, "score": 8}).json["status"] == "accepted"  # nothing recorded


def test_a_post_against_a_ping_is_sold_at_the_pings_price_and_linked(pw):
    answer = ping(pw, PING).json
    response = pw.post({**full(), "ping_id": answer["ping_id"]})
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["status"], body["price"]) == ("assigned", 40.0)
    assert body["ping"] == {"ping_id": answer["ping_id"], "bid_id": "alpha_roof", "bid_lost": False}
    lead = Lead.get(Lead.public_id == body["lead_public_id"])
    assert (lead.bid_id, lead.price_cents, lead.ping.public_id) == (
        "alpha_roof",
        4000,
        answer["ping_id"],
    )
    assert balance("alpha") == 6000
    shown = pw.client.get(f"/api/admin/leads/{lead.public_id}", headers=pw.admin).json
    assert shown["ping"] == answer["ping_id"] and shown["post"].startswith("post_")
    pw.post(full(9, kind="Solar"))  # a lead without a ping, listed first
    listed = pw.client.get("/api/admin/leads", headers=pw.admin).json
    assert [row["ping"] for row in listed] == [None, answer["ping_id"]]
    assert any(step["kind"] == "ping_bid" for step in shown["timeline"])
    logged = pw.client.get(f"/api/admin/pings/{answer['ping_id']}", headers=pw.admin).json
    assert logged["lead_public_id"] == lead.public_id and logged["used_at"] is not None
    assert "phone" not in logged["payload"]


def test_the_pings_price_is_honoured_though_the_rules_changed(pw):
    answer = ping(pw, PING).json
    from app.store.rules import push_rules

    push_rules(pw.tenant, {"test.rules": RULES.replace("price 40.00", "price 45.00")}, by="tests")
    body = pw.post({**full(), "ping_id": answer["ping_id"]}).json
    assert (body["status"], body["price"], body["ping"]["bid_lost"]) == ("assigned", 40.0, False)


def test_a_named_bid_of_the_ping_is_tried_first(pw):
    pw.client.patch(
        f"/api/admin/sources/{pw.source.public_id}", json={"ping_bids_shown": 2}, headers=pw.admin
    )
    answer = ping(pw, PING).json
    body = pw.post({**full(), "ping_id": answer["ping_id"], "bid_id": "beta_roof"}).json
    assert (body["status"], body["price"], body["ping"]["bid_id"]) == (
        "assigned",
        30.0,
        "beta_roof",
    )
    assert balance("beta") == 7000 and balance("alpha") == 10000


def test_a_lost_bid_says_why_and_the_plan_goes_on(pw):
    answer = ping(pw, PING).json
    assert pw.post(full(2)).json["price"] == 40.0  # alpha_roof's cap: 1 a day, now used
    body = pw.post({**full(3), "ping_id": answer["ping_id"]}).json
    assert (body["status"], body["price"]) == ("assigned", 30.0)  # beta_roof, by the plan
    assert body["ping"]["bid_lost"] is True and "cap reached" in body["ping"]["reason"]
    assert Ping.get(Ping.public_id == answer["ping_id"]).used_by == body["lead_public_id"]


def test_a_wallet_short_bid_is_lost(pw):
    answer = ping(pw, PING).json
    Customer.update(balance_cents=100).where(Customer.slug == "alpha").execute()
    body = pw.post({**full(), "ping_id": answer["ping_id"]}).json
    assert body["ping"]["bid_lost"] and "insufficient funds" in body["ping"]["reason"]
    assert body["price"] == 30.0


def test_a_duplicate_post_loses_its_bid(pw):
    assert pw.post(full(1, kind="Solar")).status_code == 201
    answer = ping(pw, PING).json
    body = pw.post({**full(1), "ping_id": answer["ping_id"]}).json
    assert body["status"] == "duplicate" and body["ping"]["bid_lost"] is True
    assert "duplicate" in body["ping"]["reason"]


def _post_error(pw, body) -> dict:
    response = pw.post(body)
    assert response.status_code == 422, response.json
    return response.json["errors"]


def test_an_unknown_ping_is_a_422_on_ping_id(pw):
    assert "ping_id" in _post_error(pw, {**full(), "ping_id": "png_nope"})
    assert "ping_id" in _post_error(pw, {**full(), "ping_id": 12})


def test_another_sources_ping_is_unknown(pw):
    other, secret = create_source(pw.tenant, "Other", "home", False)
    answer = ping(pw, PING, auth=basic_auth(other.api_key, secret)).json
    assert answer["status"] == "accepted"
    errors = _post_error(pw, {**full(), "ping_id": answer["ping_id"]})
    assert "No ping" in errors["ping_id"][0]


def test_an_expired_ping_is_a_422(pw):
    answer = ping(pw, PING).json
    Ping.update(expires_at=utcnow() - timedelta(seconds=1)).where(
        Ping.public_id == answer["ping_id"]
    ).execute()
    errors = _post_error(pw, {**full(), "ping_id": answer["ping_id"]})
    assert "expired" in errors["ping_id"][0]
    assert Lead.select().count() == 0


def test_a_used_ping_is_a_422(pw):
    answer = ping(pw, PING).json
    first = pw.post({**full(1), "ping_id": answer["ping_id"]}).json
    errors = _post_error(pw, {**full(2), "ping_id": answer["ping_id"]})
    assert (
        "already used" in errors["ping_id"][0] and first["lead_public_id"] in errors["ping_id"][0]
    )
    assert Lead.select().count() == 1


def test_a_rejected_ping_cannot_be_posted(pw):
    answer = ping(pw, {**PING, "score": -1}).json
    errors = _post_error(pw, {**full(), "ping_id": answer["ping_id"]})
    assert "rejected" in errors["ping_id"][0]


@pytest.mark.parametrize(
    "change, field",
    [({"zip": "33140"}, "zip"), ({"kind": "Solar"}, "kind"), ({"state": None}, "state")],
)
def test_a_changed_ping_field_is_a_422_naming_it(pw, change, field):
    answer = ping(pw, PING).json
    errors = _post_error(pw, {**full(**change), "ping_id": answer["ping_id"]})
    assert set(errors) == {field} or (field == "state" and "state" in errors)
    assert Ping.get(Ping.public_id == answer["ping_id"]).used_at is None


def test_a_bid_not_offered_is_a_422(pw):
    answer = ping(pw, PING).json
    errors = _post_error(pw, {**full(), "ping_id": answer["ping_id"], "bid_id": "beta_roof"})
    assert "not offered" in errors["bid_id"][0]


def test_bid_id_alone_is_refused_for_an_external_source(pw):
    errors = _post_error(pw, {**full(), "bid_id": "beta_roof"})
    assert "internal" in errors["bid_id"][0]


def test_bid_id_alone_is_taken_from_an_internal_source(pw):
    Source.update(internal=True).where(Source.id == pw.source.id).execute()
    body = pw.post({**full(), "bid_id": "beta_roof"}).json
    assert (body["status"], body["price"]) == ("assigned", 30.0)
    assert body["ping"] == {"ping_id": None, "bid_id": "beta_roof", "bid_lost": False}
    assert "bid_id" in _post_error(pw, {**full(2), "bid_id": "no_such_bid"})


def test_a_post_without_ping_answers_as_before(pw):
    body = pw.post(full()).json
    assert set(body) == {"lead_uuid", "lead_public_id", "status", "price"}


def test_a_routio_source_cannot_ping(make_routio):
    world = make_routio()
    response = world.client.post("/api/pings", json=PING, headers=world.auth)
    assert response.status_code == 403


def test_the_ping_log_lists_every_ping(pw):
    accepted = ping(pw, PING).json["ping_id"]
    ping(pw, {"state": "FL"})
    listed = pw.client.get("/api/admin/pings", headers=pw.admin).json
    assert [(p["status"], p["status_code"]) for p in listed] == [
        ("rejected", 422),
        ("accepted", 200),
    ]
    assert listed[1]["id"] == accepted and listed[1]["bids"] == [
        {"bid_id": "alpha_roof", "price": 40.0}
    ]
    only = pw.client.get("/api/admin/pings?status=accepted", headers=pw.admin).json
    assert [p["id"] for p in only] == [accepted]
    assert pw.client.get("/api/admin/pings/png_nope", headers=pw.admin).status_code == 404


def test_a_ping_replays_its_idempotency_key(pw):
    first = ping(pw, PING, headers={"Idempotency-Key": "k1"})
    again = ping(pw, PING, headers={"Idempotency-Key": "k1"})
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert Ping.select().count() == 1


def test_wallet_entries_are_untouched_by_pings(pw):
    before = WalletEntry.select().count()
    ping(pw, PING)
    assert WalletEntry.select().count() == before


def test_a_test_source_pings_and_posts_by_the_test_zips(make_world):
    world = make_world(RULES, {"alpha": "100", "beta": "1", "gamma": "1"}, test_mode=True)
    answer = ping(world, {**PING, "zip": "00001"}).json
    assert (answer["status"], answer["bids"][0]["bid_id"]) == ("accepted", "test")
    body = world.post({**full(zip="00001"), "ping_id": answer["ping_id"]}).json
    assert (body["status"], body["ping"]["bid_lost"]) == ("assigned", False)
    assert Lead.get().is_test and balance("alpha") == 10000
    rejected = ping(world, {**PING, "zip": "00005"}).json
    assert (rejected["status"], rejected["bids"]) == ("rejected", [])
