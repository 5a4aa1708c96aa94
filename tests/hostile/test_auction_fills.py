"""Hostile input on POST /api/auctions/<id>/leads: the intake's own refusals, and a hostile
auction id. Each is a clean 4xx in the one error shape, its post recorded, the auction
untouched."""

from __future__ import annotations

import json

import pytest

from app.services import imports
from app.services.actor import operator_actor
from app.store.models import Auction, Lead, Post
from tests.hostile.conftest import assert_clean

LEAD = {"first_name": "Katy", "phone": "555-201-0001", "state": "FL", "zip": "33139"}


@pytest.fixture
def auction(home, db) -> str:
    data = b"first_name,phone,state,zip,kind\nKaty,555-201-0001,FL,33139,Solar\n"
    report = imports.import_leads(
        operator_actor(home.tenant.code), "gamma", "home", data, price="30"
    )
    db.close()
    return report.auctions[0].public_id


@pytest.fixture
def send_fill(home, auction):
    def post(data=b"", content_type="application/json", ref=None, query=""):
        return home.client.post(
            f"/api/auctions/{ref or auction}/leads" + (f"?{query}" if query else ""),
            data=data,
            headers=home.auth,
            content_type=content_type,
        )

    return post


def untouched(auction: str) -> None:
    stored = Auction.get(Auction.public_id == auction)
    assert (stored.status, stored.fills) == ("open", 0)


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
    ],
)
def test_malformed_json_is_a_clean_400(send_fill, auction, body):
    assert_clean(send_fill(body), {400})
    untouched(auction)


def test_other_content_types_are_a_clean_415(send_fill, auction):
    assert_clean(send_fill(json.dumps(LEAD).encode(), content_type="text/plain"), {415})
    untouched(auction)


def test_a_body_over_the_limit_is_a_clean_413(app, send_fill, auction):
    body = b'{"zip": "' + b"9" * app.config["MAX_BODY_BYTES"] + b'"}'
    post = assert_clean(send_fill(body), {413})
    assert "omitted" in post.payload
    untouched(auction)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "Solar", "first_name": {"a": ["b"]}},
        {"kind": "Solar", "zip": "3" * 100_000},
        {"kind": ["Solar"]},
        {"kind": "Solar", "state": "\u0000FL"},
        {"kind": "Solar", "bid_id": "b-1"},
    ],
)
def test_invalid_fields_are_a_clean_4xx_and_fill_nothing(send_fill, auction, fields):
    assert_clean(send_fill(json.dumps({**LEAD, **fields}).encode()), {400, 422})
    untouched(auction)
    assert Lead.select().count() == 0


@pytest.mark.parametrize(
    "ref",
    ["auc_%00", "x" * 5000, "auc_%F0%9F%92%A9", "'; DROP TABLE auction; --", "..%2F..%2Fleads"],
)
def test_a_hostile_auction_id_is_a_clean_404(send_fill, auction, ref):
    response = send_fill(json.dumps({**LEAD, "kind": "Solar"}).encode(), ref=ref)
    assert response.status_code in {404, 422}, response.get_data()[:300]
    assert set(response.json) >= {"error", "message", "request_id"}
    untouched(auction)
    assert Lead.select().count() == 0


def test_a_kept_lead_that_does_not_fill_is_recorded_as_accepted(send_fill, auction):
    response = send_fill(json.dumps({**LEAD, "kind": "Roof"}).encode())
    assert response.status_code == 422 and response.json["error"] == "auction_not_filled"
    post = Post.get(Post.request_id == response.headers["X-Request-Id"])
    assert (post.accepted, post.status_code) == (True, 422)
    untouched(auction)
