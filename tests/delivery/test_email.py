"""Email attempts against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import email.policy

import pytest

from app.delivery.email import SmtpUrlError, parse_smtp_url, send_email
from app.domain.delivery import Destination
from tests.servers import free_port

from .conftest import DELIVERABLE, LEAD


def mailbox(*addresses: str) -> Destination:
    return Destination(kind="email", name="inbox", addresses=addresses)


def parts(envelope) -> tuple[email.message.EmailMessage, str, str]:
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()
    page = parsed.get_body(("html",)).get_content()
    return parsed, text, page


def test_the_buyer_receives_the_deliverable_fields_as_text_and_html(inbox, message):
    attempt = send_email(mailbox("buyer@example.com"), message, smtp_url=inbox.url)

    assert (attempt.outcome, attempt.status_code, attempt.error) == ("delivered", 250, None)
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "leads@sluice.test"
    assert envelope.rcpt_tos == ["buyer@example.com"]
    parsed, text, page = parts(envelope)
    assert parsed["Subject"] == "Lead ld_01JTEST (solar, premium)"
    assert parsed["Sluice-Delivery-Id"] == message.id
    for name in DELIVERABLE:
        assert f"fields.{name}: {LEAD[name]}" in text
        assert f"<th align='left'>fields.{name}</th>" in page
    assert "<td>Berry &lt;b&gt;&amp;</td>" in page and "Berry <b>&" not in page
    for hidden in ("homeowner", "monthly_bill", "credit_score", "dob", "1980-02-03"):
        assert hidden not in text and hidden not in page


def test_one_refused_recipient_among_several_is_still_delivered(inbox, message):
    destination = mailbox("buyer@example.com", "nobody@example.com")
    attempt = send_email(destination, message, smtp_url=inbox.url)
    assert attempt.outcome == "delivered" and "SMTP 550" in attempt.error
    assert inbox.envelopes[0].rcpt_tos == ["buyer@example.com"]


@pytest.mark.parametrize(
    "address, outcome, code",
    [("nobody@example.com", "failed", "SMTP 550"), ("busy@example.com", "retry", "SMTP 450")],
)
def test_refused_recipients_fail_on_5xx_and_retry_on_4xx(inbox, message, address, outcome, code):
    attempt = send_email(mailbox(address), message, smtp_url=inbox.url)
    assert attempt.outcome == outcome and code in attempt.error
    assert inbox.envelopes == []


def test_a_closed_smtp_port_is_retried(message):
    url = f"smtp://127.0.0.1:{free_port()}"
    attempt = send_email(mailbox("buyer@example.com"), message, smtp_url=url, timeout=2)
    assert attempt.outcome == "retry" and "ConnectionRefusedError" in attempt.error


def test_starttls_on_a_server_without_it_fails(inbox, message):
    attempt = send_email(mailbox("a@example.com"), message, smtp_url=inbox.url + "&starttls=1")
    assert attempt.outcome == "failed" and "does not support" in attempt.error


def test_without_smtp_url_nothing_is_sent(message, monkeypatch):
    monkeypatch.delenv("SLUICE_SMTP_URL", raising=False)
    attempt = send_email(mailbox("a@example.com"), message)
    assert attempt.outcome == "failed" and "SLUICE_SMTP_URL is not set" in attempt.error


def test_smtp_url_is_read_from_the_environment(inbox, message, monkeypatch):
    monkeypatch.setenv("SLUICE_SMTP_URL", inbox.url)
    assert send_email(mailbox("a@example.com"), message).outcome == "delivered"


def test_parse_smtp_url_reads_every_part():
    settings = parse_smtp_url("smtp://us%40er:p%3Ass@mail.example.com:587?starttls=1&from=a@b.c")
    assert (settings.host, settings.port, settings.starttls, settings.implicit_tls) == (
        "mail.example.com",
        587,
        True,
        False,
    )
    assert (settings.username, settings.password, settings.sender) == ("us@er", "p:ss", "a@b.c")
    assert "p:ss" not in repr(settings)
    implicit = parse_smtp_url("smtps://mail.example.com")
    assert (implicit.port, implicit.implicit_tls, implicit.username) == (465, True, None)
    assert parse_smtp_url("smtp://localhost").port == 25


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.com:notaport", "not a valid URL"),
        ("smtp://mail.example.com?starttls=maybe", "starttls must be 1 or 0"),
        ("smtp://mail.example.com?tls=1", "unknown parameters: tls"),
        ("smtps://mail.example.com?starttls=1", "TLS already"),
        ("smtp://user@mail.example.com", "both a user and a password"),
    ],
)
def test_parse_smtp_url_says_what_is_wrong(url, reason):
    with pytest.raises(SmtpUrlError, match=reason):
        parse_smtp_url(url)


def test_a_bad_smtp_url_fails_the_attempt_without_quoting_the_password(message):
    attempt = send_email(mailbox("a@example.com"), message, smtp_url="smtp://u:hunter2@h:99999")
    assert attempt.outcome == "failed" and "hunter2" not in attempt.error


@pytest.mark.parametrize(
    "addresses, url_tail",
    [(("buyer@example.com\r\nBcc: spy@example.com",), ""), (("a@example.com",), "&from=a%0d%0ab")],
)
def test_a_header_injection_fails_the_attempt_and_sends_nothing(
    inbox, message, addresses, url_tail
):
    attempt = send_email(mailbox(*addresses), message, smtp_url=inbox.url + url_tail)
    assert attempt.outcome == "failed" and "cannot be composed" in attempt.error
    assert inbox.envelopes == []
