"""Malformed, truncated, oversized and deeply nested bodies, and wrong content types.

Each gets a clean 4xx in the one error shape, and its post is recorded.
"""

from __future__ import annotations

import io
import json

import pytest

from app.store.models import Lead, Post
from tests.hostile.conftest import assert_clean


def test_every_truncation_of_a_lead_is_a_clean_400(send, seed_lead):
    text = json.dumps(seed_lead).encode()
    cuts = sorted(set(range(1, len(text), 9)) | {1, 2, len(text) - 1})
    for cut in cuts:
        post = assert_clean(send(text[:cut]), {400})
        assert post.payload == text[:cut].decode("utf-8", "replace")
    assert Lead.select().count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{'zip': '33139'}",
        b'{"zip": "33139",}',
        b'{"zip": }',
        b'{"zip" "33139"}',
        b'{"zip": "33139"}{"zip": "33140"}',
        b'{"zip": "33139"} trailing',
        b'{"zip": "\\x41"}',
        b'{"zip": "\\ud800"',
        b"\xff\xfe{\x00}",
        b'{"first_name": "\xc3\x28"}',
        b'{"first_name": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
        b"\x00",
        b"{" * 10,
        b"]",
    ],
)
def test_malformed_json_is_a_clean_400(send, body):
    assert_clean(send(body), {400})


@pytest.mark.parametrize(
    "body",
    [
        b'{"zip": NaN}',
        b'{"zip": "33139", "monthly_bill": Infinity}',
        b'{"zip": "33139", "monthly_bill": -Infinity}',
        b'{"zip": "33139", "monthly_bill": 1e999}',
        b'{"zip": "33139", "x": [1, 2, NaN]}',
    ],
    ids=["nan", "infinity", "minus-infinity", "overflow", "nested-nan"],
)
def test_non_finite_numbers_are_not_json(send, body):
    # JSON has no NaN or Infinity (RFC 8259): Python's parser takes them, the database not.
    assert_clean(send(body), {400})


@pytest.mark.parametrize("body", [b"[1, 2]", b'"33139"', b"null", b"42", b"true"])
def test_json_that_is_not_an_object_is_a_clean_400(send, body):
    assert_clean(send(body), {400})


def test_huge_integers_are_refused_cleanly(send, seed_lead):
    body = json.dumps(seed_lead)[:-1] + ', "monthly_bill": ' + "9" * 5000 + "}"
    assert_clean(send(body.encode()), {400, 422})


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "text/html; charset=utf-8",
        "application/octet-stream",
        "image/png",
        "application/javascript",
        "application/jsonx",
        "json",
    ],
)
def test_other_content_types_are_a_clean_415(send, seed_lead, content_type):
    post = assert_clean(send(json.dumps(seed_lead).encode(), content_type=content_type), {415})
    assert "zip" in post.payload  # what was sent is kept, as text


def test_a_body_without_content_type_is_a_clean_415(world, seed_lead):
    response = world.client.post(
        "/api/leads", data=json.dumps(seed_lead).encode(), headers=world.auth
    )
    assert_clean(response, {415})


def test_json_with_a_charset_parameter_is_json(send, seed_lead):
    response = send(json.dumps(seed_lead).encode(), content_type="application/json; charset=utf-8")
    assert_clean(response, {201})


def test_a_body_over_the_limit_is_a_clean_413(app, send):
    limit = app.config["MAX_BODY_BYTES"]
    body = b'{"zip": "' + b"9" * limit + b'"}'
    post = assert_clean(send(body), {413})
    assert "omitted" in post.payload
    assert len(json.dumps(post.payload)) < 1000  # the huge body itself is not kept


def test_a_streamed_body_over_the_limit_is_a_clean_413(app, world):
    # No Content-Length: the limit must hold while reading, not only from the header.
    limit = app.config["MAX_BODY_BYTES"]
    stream = io.BytesIO(b'{"zip": "' + b"9" * (limit + 10) + b'"}')
    response = world.client.post(
        "/api/leads",
        input_stream=stream,
        headers={**world.auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets for chunked
    )
    assert_clean(response, {400, 413})


def test_a_body_just_under_the_limit_is_read(app, send, seed_lead):
    limit = app.config["MAX_BODY_BYTES"]
    lead = dict(seed_lead, notes="")
    padding = limit - len(json.dumps(lead).encode()) - 10
    lead["notes"] = "x" * padding
    post = assert_clean(send(json.dumps(lead).encode()), {201})
    assert len(post.payload["notes"]) == padding


@pytest.mark.parametrize("depth", [64, 500, 900, 990, 1100, 100_000])
def test_deeply_nested_json_is_refused_or_kept_never_a_crash(send, seed_lead, depth):
    nested = "[" * depth + "]" * depth
    body = json.dumps(seed_lead)[:-1] + f', "extra": {nested}' + "}"
    response = send(body.encode())
    assert_clean(response, {201, 400})
    if response.status_code == 201:
        assert Post.get().payload["extra"] is not None


def test_deeply_nested_value_in_a_declared_field_is_a_clean_4xx(send, seed_lead):
    body = json.dumps(dict(seed_lead, first_name={"a": {"b": {"c": ["d"]}}}))
    post = assert_clean(send(body.encode()), {400, 422})
    if post.status_code == 422:
        assert "first_name" in post.errors


def test_huge_strings_are_refused_in_fields_and_kept_in_the_post(send, seed_lead):
    huge = "é" * 300_000  # 600 kB of UTF-8, under the 1 MiB limit

    def body(**fields):
        return json.dumps(dict(seed_lead, **fields), ensure_ascii=False).encode()

    post = assert_clean(send(body(first_name=huge)), {422})
    assert "first_name" in post.errors
    assert post.payload["first_name"] == huge
    unknown = assert_clean(send(body(comment=huge)), {201})
    assert unknown.payload["comment"] == huge


def test_huge_and_many_keys(send, seed_lead):
    lead = dict(seed_lead, **{"k" * 100_000: 1})
    lead.update({f"field_{n}": n for n in range(5_000)})
    assert_clean(send(json.dumps(lead).encode()), {201})


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"zip=%ZZ&first_name=%"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=\xff"),
        ("application/x-www-form-urlencoded", b"&&&==&="),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
        ("multipart/form-data", b"no boundary at all"),
    ],
)
def test_malformed_forms_are_clean(send, content_type, body):
    assert_clean(send(body, content_type=content_type), {400, 415, 422})


def test_malformed_query_strings_are_clean(send):
    for query in ("zip=%ZZ", "zip=%", "%00=%00", "zip=1&zip=2&zip=3", "a=" + "%ff" * 100):
        assert_clean(send(b"", query=query), {400, 422})
