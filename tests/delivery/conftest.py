"""Real buyers on loopback: an HTTP server answering as scripted, and an SMTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    header_lines: list[tuple[str, str]]  # every header as sent, repeats included


@dataclass
class Buyer:
    """A buyer's HTTP endpoint: each path answers its own way; every request is kept."""

    url: str
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    calls: dict[str, int] = field(default_factory=dict)

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        count = self.calls[path] = self.calls.get(path, 0) + 1
        match path:
            case "/ok":
                return 200, {"Content-Type": "application/json"}, b'{"status": "accepted"}'
            case "/rejected":
                return 200, {"Content-Type": "application/json"}, b'{"status": "rejected"}'
            case "/error":
                return 500, {}, b"internal error"
            case "/flaky":
                return (500, {}, b"not yet") if count <= 2 else (200, {}, b"ok")
            case "/busy":
                return 429, {"Retry-After": "120"}, b"slow down"
            case "/unavailable":
                when = "Wed, 21 Oct 2099 07:28:00 GMT"
                return 503, {"Retry-After": when}, b"maintenance"
            case "/gone":
                return 410, {}, b"gone"
            case "/hang":
                self.release.wait(10)
                return 200, {}, b"too late"
            case "/big":
                return 200, {}, b"x" * 100_000
            case _:
                return 404, {}, b"no such path"


def _handler(buyer: Buyer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            buyer.received.append(
                Received(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    list(self.headers.items()),
                )
            )
            status, headers, answer = buyer.answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_PUT = handle_one

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def buyer() -> Iterator[Buyer]:
    buyer = Buyer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(buyer))
    buyer.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield buyer
    buyer.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


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
