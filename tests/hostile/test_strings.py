"""Every unicode plane, NUL, lone surrogates, SQL and template injection, in every field.

Characters any database stores are taken and kept verbatim; NUL and unpaired surrogates,
which PostgreSQL cannot store, are a clean 400 whose post is still recorded.
"""

from __future__ import annotations

import json

import pytest

from app.store.models import Customer, Lead, Post, Source, Tenant
from app.store.storable import unstorable
from tests.hostile.conftest import assert_clean

# One character from every plane (0-16), and the awkward ones of the BMP.
PLANES = [chr(plane * 0x10000 + offset) for plane in range(17) for offset in (0x41, 0xFFFD)]
AWKWARD = [
    "\u00e9\u0301",  # combining accent
    "\u200b\u200d\ufeff",  # zero-width characters, BOM
    "\u202e",  # right-to-left override
    "\ufffe\uffff",  # noncharacters
    "\U0001f600\U0001f469\u200d\U0001f4bb",  # emoji, ZWJ sequence
    "\ue000\U000f0000\U0010fffd",  # private use
    "\x01\x1f\x7f\x80\x9f",  # control characters
    "\u2028\u2029",  # line and paragraph separators
    "A" * 1999 + "\U0001f600",  # at the text limit, astral last
]
INJECTIONS = [
    "'; DROP TABLE lead; --",
    '" OR 1=1 --',
    "1' OR '1'='1",
    "'||pg_sleep(5)||'",
    "1; SELECT pg_sleep(5)",
    "$$; DROP TABLE post; $$",
    "E'\\x27'",
    "%s%s%s%n",
    "%(zip)s",
    "{0.__class__}",
    "{{7*7}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "{% raw %}{{ config }}{% endraw %}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    '{"$where": "1"}',
    "\r\nX-Injected: 1",
    "\\",
    "@source",
]
# The example rules' fields, with a value that is valid for each.
VALID = {
    "first_name": "Katy",
    "last_name": "Berry",
    "email": "katy.berry@example.com",
    "phone": "555-123-4567",
    "address_1": "742 Orchard Lane",
    "city": "Paradise Bay",
    "state": "FL",
    "zip": "33139",
    "homeowner": "yes",
    "monthly_bill": "180",
    "roof_type": "tile",
    "credit_score": "700",
    "dob": "1980-01-01",
}
TEXT_FIELDS = ("first_name", "last_name", "address_1", "city")


def lead(n: int, **fields) -> dict:
    """Return a valid lead with a phone and email of its own; keywords override."""
    body = dict(VALID, phone=f"555-3{n // 10000 % 10}{n // 1000 % 10}-{n % 10000:04d}")
    body["email"] = f"lead{n}@example.com"
    body.update(fields)
    return body


@pytest.mark.parametrize("text", PLANES + AWKWARD, ids=lambda t: f"U+{ord(t[-1]):04X}-{len(t)}")
def test_any_storable_character_is_kept_verbatim(send, text):
    name = f"x{text}x"[-2000:]  # text fields hold at most 2,000 characters
    body = lead(1, first_name=name, city=text, comment=text, **{f"key{text}": text})
    response = send(json.dumps(body).encode())
    post = assert_clean(response, {201})
    assert post.payload["comment"] == text and post.payload[f"key{text}"] == text
    stored = Lead.get(Lead.public_id == response.json["lead_public_id"]).data
    assert stored["first_name"] == name
    assert stored.get("city") == (text.strip() or None)  # blank counts as not sent


@pytest.mark.parametrize(
    "where",
    ["declared-field", "unknown-field", "key", "query", "form"],
)
@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\ud800", "\udfff", "x\udbff"])
def test_nul_and_lone_surrogates_are_a_clean_400_and_recorded(send, where, bad):
    if where == "query":
        response = send(json.dumps(lead(2)).encode(), query="comment=" + _percent(bad))
    elif where == "form":
        form = "&".join(f"{k}={v}" for k, v in lead(2).items()) + "&comment=" + _percent(bad)
        response = send(form.encode(), content_type="application/x-www-form-urlencoded")
    else:
        body = {
            "declared-field": lead(2, first_name=bad),
            "unknown-field": lead(2, comment=bad),
            "key": lead(2, **{bad: "x"}),
        }[where]
        response = send(json.dumps(body).encode())  # ensure_ascii: \u0000, \ud800 escapes
    if where in ("query", "form") and "\x00" not in bad:
        # A surrogate's UTF-8 bytes are no UTF-8: URL decoding never makes a surrogate of
        # them (U+FFFD, or the %-escapes kept as they came).
        post = assert_clean(response, {201})
        assert post.payload["comment"] and unstorable(post.payload) is None
        return
    post = assert_clean(response, {400})
    assert "cannot be stored" in response.json["message"]
    assert Lead.select().count() == 0
    assert post.payload is not None


def _percent(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_every_field_are_data(send, world, text):
    # Every field at once, plus an unknown field, a key and the partner header.
    body = {name: text for name in VALID}
    body[text] = text
    partner = "p" + text[:60].replace("\r", "").replace("\n", "")  # headers hold no newline
    response = send(json.dumps(body).encode(), headers={"X-Partner-Id": partner})
    post = assert_clean(response, {201, 400, 422})
    assert post.payload[text] == text
    # In text fields alone the lead is valid: taken, and stored as sent.
    body = lead(3, **{name: text for name in TEXT_FIELDS}, comment=text)
    response = send(json.dumps(body).encode(), query="utm=" + _percent(text))
    post = assert_clean(response, {201})
    stored = Lead.get(Lead.public_id == response.json["lead_public_id"]).data
    for name in TEXT_FIELDS:
        assert stored[name] == text.strip()
    assert post.payload["utm"] == text
    # Nothing ran: the tables are all there and hold what they should.
    assert Tenant.select().count() == 1 and Source.select().count() == 1
    assert Customer.select().count() == 3
    assert Post.select().count() == 2 and Lead.select().count() == 1


def test_injection_through_admin_filters_is_data(client, world):
    for text in INJECTIONS:
        for url in (
            "/api/admin/leads?status=assigned&category=",
            "/api/admin/leads?lead_type=",
            "/api/admin/leads?source=",
            "/api/admin/posts?source=",
            "/api/admin/customers/",
            "/api/admin/leads/",
            "/api/admin/posts/",
        ):
            response = client.get(url + _percent(text), headers=world.admin)
            assert response.status_code in (200, 404, 422), (url, text, response.status_code)
            if response.status_code == 200 and url.endswith("="):
                assert response.json == []
    assert Customer.select().count() == 3


@pytest.mark.parametrize(
    "value",
    ["\x00", "ok\x00", "x" * 101, "\u00e9" * 100],
    ids=["nul", "trailing-nul", "too-long", "latin-1"],
)
def test_hostile_partner_header_is_clean(send, value):
    raw = value.encode("utf-8").decode("latin-1")  # what a WSGI server hands over
    response = send(json.dumps(lead(4)).encode(), headers={"X-Partner-Id": raw})
    assert_clean(response, {201, 400, 422})


def test_hostile_request_ids_are_replaced(send):
    for value in ("a" * 65, "a b", "<script>", "x\x00y", "ünïcode"):
        response = send(json.dumps(lead(5)).encode(), headers={"X-Request-Id": value})
        assert response.headers["X-Request-Id"] != value
        assert_clean(response, {201, 400})


@pytest.mark.parametrize(
    "path",
    [
        "/api/admin/leads?source=%00",
        "/api/admin/leads?status=a%00b",
        "/api/admin/deliveries?lead=%00",
        "/api/admin/customers/a%00b/destinations",
        "/api/admin/leads/lead_%00",
    ],
)
def test_a_nul_in_an_admin_query_or_path_is_a_422_naming_it(client, world, path):
    answer = client.get(path, headers=world.admin)
    assert answer.status_code == 422, answer.text
    assert "NUL" in json.dumps(answer.json["errors"])
