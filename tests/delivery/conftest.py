"""Delivery tests' fixtures: a lead's payload and message, and an SMTP server on loopback
(the HTTP buyer is tests/buyers.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.delivery.http import new_client
from app.delivery.payload import lead_payload
from app.domain.delivery import Message
from app.dsl import compile_rules

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

LEAD = {
    "first_name": "Katy",
    "last_name": "Berry <b>&",
    "email": "katy.berry@example.com",
    "phone": "+15551234567",
    "state": "FL",
    "zip": "33139",
    "homeowner": True,  # not deliverable
    "monthly_bill": 180,  # not deliverable
    "credit_score": 712,  # not deliverable
    "dob": "1980-02-03",  # not deliverable
}
DELIVERABLE = {"first_name", "last_name", "email", "phone", "state", "zip"}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with new_client() as client:
        yield client


@pytest.fixture(scope="session")
def ruleset():
    return compile_rules({"solar.rules": (ROOT / "examples/solar/solar.rules").read_text()})


@pytest.fixture
def payload(ruleset) -> dict:
    return lead_payload(
        ruleset,
        "solar",
        LEAD,
        public_id="ld_01JTEST",
        lead_type="premium",
        price_cents=4550,
        received_at=datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC),
    )


@pytest.fixture
def message(payload) -> Message:
    return Message(
        id="msg_01JTESTDELIVERY",
        event="lead.sold",
        payload=payload,
        created_at=datetime(2026, 12, 7, 1, 2, 4, tzinfo=UTC),
    )


@dataclass
class Inbox:
    """What an SMTP server on loopback accepted, and the URL to reach it."""

    url: str
    envelopes: list = field(default_factory=list)


class _Recorder:
    """An aiosmtpd handler: keeps every message; refuses some recipients."""

    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.inbox.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    from tests.servers import free_port

    port = free_port()
    inbox = Inbox(url=f"smtp://127.0.0.1:{port}?from=leads@sluice.test")
    controller = Controller(_Recorder(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox
    controller.stop()
