"""Hostile input on POST /api/pings and on posts naming a ping: each is a clean 4xx in the
one error shape, a refused ping is in the ping log with its answer's status, nothing is
sold and no lead is made of a refused post."""

from __future__ import annotations

import json

import pytest

from app.store.models import Lead, Ping
from tests.hostile.conftest import assert_clean

PING = {"state": "FL", "zip": "33139", "homeowner": "yes", "monthly_bill": "180"}


@pytest.fixture
def send_ping(world):
    def post(data=b"", content_type="application/json", query=""):
        return world.client.post(
            "/api/pings" + (f"?{query}" if query else ""),
            data=data,
            headers=world.auth,
            content_type=content_type,
        )

    return post


def logged(response, statuses) -> Ping:
    """Assert a clean refusal in the one error shape, logged once in the ping log."""
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    body = response.json
    assert set(body) >= {"error", "message", "request_id"}, body
    pings = list(Ping.select().where(Ping.request_id == response.headers["X-Request-Id"]))
    assert len(pings) == 1
    assert (pings[0].status, pings[0].status_code) == ("rejected", response.status_code)
    assert pings[0].bids == []
    return pings[0]


@pytest.mark.parametrize(
    "body",
    [
        b"{'zip': '33139'}",
        b'{"zip": "33139",}',
        b'{"zip": "\\ud800"',
        b"\xff\xfe{\x00}",
        b'{"first_name": "\xed\xa0\x80"}',
        b"\x00",
        b"[1, 2]",
        b'{"zip": NaN}',
        b"{" * 10,
        b"[" * 100_000,
    ],
)
def test_malformed_json_is_a_clean_400(send_ping, body):
    logged(send_ping(body), {400})


def test_other_content_types_are_a_clean_415(send_ping):
    logged(send_ping(json.dumps(PING).encode(), content_type="text/plain"), {415})


def test_a_body_over_the_limit_is_a_clean_413(app, send_ping):
    body = b'{"zip": "' + b"9" * app.config["MAX_BODY_BYTES"] + b'"}'
    ping = logged(send_ping(body), {413})
    assert "omitted" in ping.payload


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"zip": {"a": ["b"]}}, "zip"),
        ({"zip": "3" * 100_000}, "zip"),
        ({"state": ["FL"]}, "state"),
        ({"monthly_bill": "1e400"}, "monthly_bill"),
        ({"homeowner": "\u0000"}, None),
        ({"ping_id": "png_x"}, "ping_id"),
        ({"bid_id": "b-1"}, "bid_id"),
        ({"email": "a@b.example"}, "email"),
        ({"phone": {"$ne": None}}, "phone"),
        ({"first_name": "Robert'); DROP TABLE ping; --"}, "first_name"),
    ],
)
def test_invalid_fields_are_a_clean_4xx_naming_the_field(send_ping, fields, field):
    response = send_ping(json.dumps({**PING, **fields}).encode())
    ping = logged(response, {400, 422})
    if field is not None:
        assert field in response.json["errors"]
        assert field in ping.errors
    assert "email" not in json.dumps(ping.payload) or field != "email"
    for name in ("email", "phone", "first_name"):
        assert name not in ping.payload


@pytest.mark.parametrize(
    "ref",
    [
        "png_\u0000",
        "x" * 5000,
        "png_\U0001f4a9",
        "'; DROP TABLE ping; --",
        "../../leads",
        12,
        ["png_x"],
        {"$gt": ""},
        True,
    ],
)
def test_a_hostile_ping_id_is_a_clean_4xx_and_makes_no_lead(world, seed_lead, ref):
    response = world.post({**seed_lead, "ping_id": ref})
    assert_clean(response, {400, 422})
    if response.status_code == 422:
        assert "ping_id" in response.json["errors"]
    assert Lead.select().count() == 0


@pytest.mark.parametrize("ref", ["x" * 5000, ["b"], {"a": 1}, 7, "\u0000"])
def test_a_hostile_bid_id_is_a_clean_4xx(world, seed_lead, ref):
    response = world.post({**seed_lead, "bid_id": ref})
    assert_clean(response, {400, 422})
    assert Lead.select().count() == 0
