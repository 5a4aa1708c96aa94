"""One email attempt: the lead's fields as plain text and HTML, over SMTP (smtplib)."""

from __future__ import annotations

import html
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from app.delivery.payload import flatten_payload
from app.domain.delivery import Attempt, Destination, Message

DEFAULT_SENDER = "sluice@localhost"
SMTP_TIMEOUT = 30.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SmtpUrlError(ValueError):
    """A SLUICE_SMTP_URL that cannot be used (the message never quotes the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send email, from SLUICE_SMTP_URL."""

    host: str
    port: int
    implicit_tls: bool  # smtps://
    starttls: bool
    username: str | None = None
    password: str | None = None
    sender: str = DEFAULT_SENDER

    def __repr__(self) -> str:  # never show the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.username!r})"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read `smtp://user:pass@host:587?starttls=1&from=...` or `smtps://...` (implicit TLS)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise SmtpUrlError("SLUICE_SMTP_URL is not a valid URL (check the port)") from error
    if parts.scheme not in ("smtp", "smtps"):
        raise SmtpUrlError("SLUICE_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise SmtpUrlError("SLUICE_SMTP_URL names no host")
    query = {key: values[-1] for key, values in parse_qs(parts.query, True).items()}
    unknown = sorted(set(query) - {"starttls", "from"})
    if unknown:
        raise SmtpUrlError(f"SLUICE_SMTP_URL has unknown parameters: {', '.join(unknown)}")
    starttls_text = query.get("starttls", "0").lower()
    if starttls_text not in _TRUE | _FALSE:
        raise SmtpUrlError("SLUICE_SMTP_URL's starttls must be 1 or 0")
    implicit_tls = parts.scheme == "smtps"
    starttls = starttls_text in _TRUE
    if implicit_tls and starttls:
        raise SmtpUrlError("smtps:// is TLS already: drop starttls=1 (or use smtp://)")
    if (parts.username is None) != (parts.password is None):
        raise SmtpUrlError("SLUICE_SMTP_URL needs both a user and a password, or neither")
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        sender=query.get("from") or DEFAULT_SENDER,
    )


def compose_email(destination: Destination, message: Message, sender: str) -> EmailMessage:
    """Return the email of a message: a subject, a plain-text part and an HTML part."""
    payload = message.payload
    rows = flatten_payload(payload)
    if message.event == "lead.sold" and "id" in payload:
        subject = f"Lead {payload['id']} ({payload.get('category')}, {payload.get('lead_type')})"
        title = f"New {payload.get('category')} lead {payload['id']}"
    else:
        subject = f"Sluice: {message.event}"
        title = f"Sluice event {message.event}"
    text = "\n".join([title, "", *(f"{name}: {value}" for name, value in rows), ""])
    cells = "".join(
        f"<tr><th align='left'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    page = (
        f"<!doctype html><html><body><h1>{html.escape(title)}</h1>"
        f"<table>{cells}</table></body></html>"
    )
    email = EmailMessage()
    email["Subject"] = _one_line(subject)
    email["From"] = sender
    email["To"] = ", ".join(destination.addresses)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    email["Sluice-Event"] = message.event
    email["Sluice-Delivery-Id"] = message.id
    email.set_content(text)
    email.add_alternative(page, subtype="html")
    return email


def send_email(
    destination: Destination,
    message: Message,
    *,
    smtp_url: str | None = None,
    timeout: float = SMTP_TIMEOUT,
) -> Attempt:
    """Send a message to an email destination once and say what came of it."""
    started = time.monotonic()
    url = smtp_url if smtp_url is not None else os.environ.get("SLUICE_SMTP_URL", "")
    if not url:
        return _attempt("failed", started, "SLUICE_SMTP_URL is not set: no email can be sent")
    if not destination.addresses:
        return _attempt("failed", started, "the destination has no address")
    try:
        settings = parse_smtp_url(url)
    except SmtpUrlError as error:
        return _attempt("failed", started, str(error))
    try:
        email = compose_email(destination, message, settings.sender)
    except ValueError as error:  # an address or a sender a header cannot hold
        return _attempt("failed", started, f"the email cannot be composed: {error}")
    try:
        refused = _deliver(settings, email, destination.addresses, timeout)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        outcome: Literal["retry", "failed"] = "failed" if all(c >= 500 for c in codes) else "retry"
        return _attempt(outcome, started, f"every recipient was refused ({_codes(codes)})")
    except smtplib.SMTPNotSupportedError as error:
        return _attempt("failed", started, f"the SMTP server does not support it: {error}")
    except smtplib.SMTPResponseException as error:
        code = error.smtp_code
        outcome = "failed" if 500 <= code < 600 else "retry"
        reason = (
            error.smtp_error.decode("utf-8", "replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        return _attempt(outcome, started, f"SMTP {code}: {reason}", code)
    except (smtplib.SMTPException, OSError) as error:  # disconnected, refused, timed out, TLS
        return _attempt("retry", started, f"{type(error).__name__}: {error}")
    if refused:
        return _attempt(
            "delivered", started, f"some recipients were refused ({_codes(refused)})", 250
        )
    return _attempt("delivered", started, None, 250)


def _deliver(
    settings: SmtpSettings, email: EmailMessage, addresses: tuple[str, ...], timeout: float
) -> list[int]:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.implicit_tls:
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    with smtp:
        if settings.starttls:
            smtp.starttls(context=context)
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username, settings.password)
        refused = smtp.send_message(email, to_addrs=list(addresses))
    return [code for code, _ in refused.values()]


def _codes(codes: list[int]) -> str:
    return ", ".join(f"SMTP {code}" for code in sorted(set(codes)))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _attempt(
    outcome: Literal["delivered", "retry", "failed"],
    started: float,
    error: str | None,
    status_code: int | None = None,
) -> Attempt:
    return Attempt(
        outcome=outcome,
        duration_ms=round((time.monotonic() - started) * 1000, 3),
        status_code=status_code,
        error=error,
    )
