"""HTTP attempts against a real buyer on loopback: what it received, and how answers count."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.delivery import check_template, send
from app.delivery.http import close_shared_client, parse_retry_after, send_http, shared_client
from app.domain.delivery import Destination, Message, SuccessTest
from tests.servers import free_port

from .conftest import DELIVERABLE, LEAD, OLD_SECRET, SECRET


def http(buyer, path: str = "/ok", **options) -> Destination:
    options.setdefault("signing_secrets", (SECRET,))
    return Destination(kind="http", name="buyer", url=buyer.url + path, **options)


def test_the_buyer_receives_exactly_the_deliverable_fields_signed(buyer, client, message):
    attempt = send_http(http(buyer), message, client=client)

    assert attempt.outcome == "delivered" and attempt.status_code == 200
    assert attempt.answer == '{"status": "accepted"}' and attempt.error is None
    [request] = buyer.received
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    body = Webhook(SECRET).verify(request.body, request.headers)
    assert set(body["fields"]) == DELIVERABLE
    assert body["fields"] == {name: LEAD[name] for name in DELIVERABLE}
    assert {key: body[key] for key in ("id", "category", "lead_type", "price", "received_at")} == {
        "id": "ld_01JTEST",
        "category": "solar",
        "lead_type": "premium",
        "price": 45.5,
        "received_at": "2026-12-07T01:02:03Z",
    }
    for secret_field in ("homeowner", "monthly_bill", "credit_score", "dob"):
        assert secret_field.encode() not in request.body
    assert request.headers["webhook-id"] == message.id
    assert request.headers["Sluice-Event"] == "lead.sold"


def test_the_same_message_keeps_its_webhook_id_on_every_attempt(buyer, client, message):
    for _ in range(2):
        send_http(http(buyer, "/error"), message, client=client)
    ids = [request.headers["webhook-id"] for request in buyer.received]
    assert ids == [message.id, message.id]


def test_during_a_rotation_both_secrets_verify(buyer, client, message):
    destination = http(buyer, signing_secrets=(SECRET, OLD_SECRET))
    assert send_http(destination, message, client=client).outcome == "delivered"
    [request] = buyer.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        assert Webhook(secret).verify(request.body, request.headers)["id"] == "ld_01JTEST"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


def test_extra_headers_are_sent_but_cannot_replace_the_signature(buyer, client, message):
    destination = http(
        buyer,
        headers={
            "X-Api-Key": "buyer-key-123",
            "Webhook-Signature": "v1,forged",
            "content-type": "text/plain",
        },
    )
    send_http(destination, message, client=client)
    [request] = buyer.received
    assert request.headers["X-Api-Key"] == "buyer-key-123"
    sent = [(name.lower(), value) for name, value in request.header_lines]
    assert [value for name, value in sent if name == "content-type"] == ["application/json"]
    assert len([value for name, value in sent if name == "webhook-signature"]) == 1
    assert "forged" not in request.headers["webhook-signature"]
    assert Webhook(SECRET).verify(request.body, request.headers)


def test_put_and_form_bodies_carry_the_same_fields(buyer, client, message):
    destination = http(buyer, method="PUT", body_format="form")
    assert send_http(destination, message, client=client).outcome == "delivered"
    [request] = buyer.received
    assert request.method == "PUT"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(request.body.decode()))
    assert {key.removeprefix("fields.") for key in form if key.startswith("fields.")} == (
        DELIVERABLE
    )
    assert form["fields.last_name"] == "Berry <b>&" and form["price"] == "45.5"
    Webhook(SECRET).verify(request.body, request.headers, json_parse=False)


def test_a_template_shapes_the_body_the_buyer_receives(buyer, client, message):
    template = (
        '{"FirstName": {{ lead.fields.first_name|tojson }}, "Zip": "{{ lead.fields.zip }}",'
        ' "Event": "{{ event }}", "Missing": "{{ lead.fields.nothing }}"}'
    )
    assert send_http(http(buyer, template=template), message, client=client).outcome == (
        "delivered"
    )
    [request] = buyer.received
    assert orjson.loads(request.body) == {
        "FirstName": "Katy",
        "Zip": "33139",
        "Event": "lead.sold",
        "Missing": "",
    }
    assert Webhook(SECRET).verify(request.body, request.headers)


def test_a_webhooks_template_reads_the_event_body_as_body(buyer, client, message):
    body = {"type": "lead.unsold", "data": {"lead": {"fields": {"zip": "33139"}}}}
    event = dataclasses.replace(message, event="lead.unsold", payload=body)
    template = '{"kind": {{ body.type|tojson }}, "zip": {{ body.data.lead.fields.zip|tojson }}}'
    assert send_http(http(buyer, template=template), event, client=client).outcome == "delivered"
    [request] = buyer.received
    assert orjson.loads(request.body) == {"kind": "lead.unsold", "zip": "33139"}
    assert request.headers["Sluice-Event"] == "lead.unsold"


@pytest.mark.parametrize(
    "template, reason",
    [
        ("{{ lead.__class__.__mro__ }}", "the body template failed"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% for x in %}", "line 1"),
    ],
)
def test_a_template_that_fails_is_a_failed_attempt_and_sends_nothing(
    buyer, client, message, template, reason
):
    attempt = send_http(http(buyer, template=template), message, client=client)
    assert attempt.outcome == "failed" and reason in attempt.error
    assert buyer.received == []


@pytest.mark.parametrize(
    "success, outcome",
    [
        (SuccessTest(json_field="status", equals="accepted"), "failed"),
        (SuccessTest(json_field="status", equals="rejected"), "delivered"),
        (SuccessTest(json_field="result.status", equals="accepted"), "failed"),
        (SuccessTest(pattern="accepted"), "failed"),
        (SuccessTest(pattern='"status": "rej'), "delivered"),
    ],
)
def test_a_200_that_rejects_fails_the_success_test(buyer, client, message, success, outcome):
    attempt = send_http(http(buyer, "/rejected", success=success), message, client=client)
    assert (attempt.outcome, attempt.status_code) == (outcome, 200)
    if outcome == "failed":
        assert "success test" in attempt.error


def test_a_200_without_a_success_test_is_delivered_whatever_it_says(buyer, client, message):
    assert send_http(http(buyer, "/rejected"), message, client=client).outcome == "delivered"


def test_a_500_is_retried_until_the_buyer_answers_200(buyer, client, message):
    outcomes = [send_http(http(buyer, "/flaky"), message, client=client) for _ in range(3)]
    assert [(a.outcome, a.status_code) for a in outcomes] == [
        ("retry", 500),
        ("retry", 500),
        ("delivered", 200),
    ]
    assert outcomes[0].answer == "not yet" and outcomes[0].error == "HTTP 500"
    assert {request.headers["webhook-id"] for request in buyer.received} == {message.id}


def test_a_429_is_retried_after_its_retry_after(buyer, client, message):
    attempt = send_http(http(buyer, "/busy"), message, client=client)
    assert (attempt.outcome, attempt.status_code, attempt.retry_after_seconds) == (
        "retry",
        429,
        120.0,
    )


def test_a_503_retry_after_date_is_read_as_seconds(buyer, client, message):
    attempt = send_http(http(buyer, "/unavailable"), message, client=client)
    assert attempt.outcome == "retry" and attempt.retry_after_seconds > 365 * 86400


def test_a_410_fails_at_once(buyer, client, message):
    attempt = send_http(http(buyer, "/gone"), message, client=client)
    assert (attempt.outcome, attempt.status_code, attempt.answer) == ("failed", 410, "gone")


def test_a_buyer_that_hangs_past_the_timeout_is_retried(buyer, client, message):
    attempt = send_http(http(buyer, "/hang", timeout_seconds=0.3), message, client=client)
    assert attempt.outcome == "retry" and attempt.status_code is None
    assert "timed out" in attempt.error
    assert 250 <= attempt.duration_ms < 5000


def test_a_closed_port_is_retried(client, message):
    destination = Destination(kind="http", name="x", url=f"http://127.0.0.1:{free_port()}/")
    attempt = send_http(destination, message, client=client)
    assert attempt.outcome == "retry" and attempt.status_code is None
    assert "ConnectError" in attempt.error


def test_only_the_first_4_kb_of_the_answer_is_recorded(buyer, client, message):
    attempt = send_http(http(buyer, "/big"), message, client=client)
    assert attempt.outcome == "delivered" and attempt.answer == "x" * 4096


def test_the_shared_client_sends_when_the_caller_owns_none(buyer, message):
    try:
        assert send(http(buyer), message).outcome == "delivered"
        assert send(http(buyer), message).outcome == "delivered"
        assert shared_client() is shared_client()
    finally:
        close_shared_client()
    assert len(buyer.received) == 2


@pytest.mark.parametrize(
    "change, error",
    [
        ({"url": None}, "no URL"),
        ({"url": "ftp://127.0.0.1/x"}, "not http or https"),
        ({"signing_secrets": ("whsec_!!not base64!!",)}, "not a valid whsec_ secret"),
        ({"headers": {"X-Key": "secret\r\nInjected: 1"}}, "the request is invalid"),
    ],
)
def test_a_destination_that_cannot_be_sent_to_fails_without_quoting_secrets(
    buyer, client, message, change, error
):
    destination = dataclasses.replace(http(buyer), **change)
    attempt = send_http(destination, message, client=client)
    assert attempt.outcome == "failed" and error in attempt.error
    assert "not base64" not in attempt.error and "Injected" not in attempt.error
    assert buyer.received == []


@pytest.mark.parametrize(
    "header, seconds",
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 07 Dec 2026 01:01:00 GMT", 60.0),
        ("Mon, 07 Dec 2026 00:59:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_is_read_in_seconds_or_as_a_date(header, seconds):
    now = datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == seconds


def test_threads_share_one_client_and_every_delivery_arrives_once(buyer, client, payload):
    messages = [dataclasses.replace(message_of(payload), id=f"msg_{n:03}") for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(lambda m: send_http(http(buyer), m, client=client), messages))
    assert {attempt.outcome for attempt in attempts} == {"delivered"}
    received = sorted(request.headers["webhook-id"] for request in buyer.received)
    assert received == [message.id for message in messages]
    for request in buyer.received:
        assert Webhook(SECRET).verify(request.body, request.headers)["id"] == "ld_01JTEST"


def message_of(payload):
    return Message(id="m", event="lead.sold", payload=payload, created_at=datetime.now(UTC))


@pytest.mark.parametrize(
    "template, error",
    [
        ('{"name": "{{ lead.fields.first_name }}"}', None),
        ("line one\n{{ lead.fields.first_name", "line 2: unexpected end of template"),
        ("{% if %}", "line 1: Expected an expression"),
    ],
)
def test_check_template_says_where_a_template_is_wrong(template, error):
    found = check_template(template)
    if error is None:
        assert found is None
    else:
        assert found is not None and found.startswith(error)


def test_a_delivery_signed_more_than_five_minutes_ago_does_not_verify(buyer, client, message):
    stale = datetime.now(UTC) - timedelta(minutes=6)
    send_http(http(buyer), message, client=client, now=stale)
    [request] = buyer.received
    assert request.headers["webhook-timestamp"] == str(int(stale.timestamp()))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(request.body, request.headers)
