"""Partners' and providers' HTTP APIs on loopback, answering as scripted per path (the
`partner_api` fixture): offers, rejections, slow and hanging partners, malformed answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

JSON = {"Content-Type": "application/json"}


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class PartnerAPI:
    """Each path answers its own way; every request is kept."""

    url: str
    calls: list[Call] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict, bytes]:
        match path.split("/")[1:]:
            case ["offer", price]:  # a JSON offer, with the partner's ping id
                body = {"status": "accepted", "bid": {"price": price}, "ping_id": "pg_" + price}
                return 200, JSON, json.dumps(body).encode()
            case ["decline"]:
                body = {"status": "rejected", "message": "no coverage in this zip"}
                return 200, JSON, json.dumps(body).encode()
            case ["slow", ms, price]:  # an offer after `ms` milliseconds
                time.sleep(int(ms) / 1000)
                body = {"status": "accepted", "bid": {"price": price}, "ping_id": f"pg_{ms}"}
                return 200, JSON, json.dumps(body).encode()
            case ["hang"]:
                self.release.wait(10)
                return 200, JSON, b'{"status": "accepted", "bid": {"price": "99.00"}}'
            case ["malformed"]:
                return 200, JSON, b'{"status": "accepted", "bid": {"price": '
            case ["error"]:
                return 500, {}, b"internal error"
            case ["form-offer"]:  # a form-encoded answer, read by patterns
                return 200, {"Content-Type": "text/plain"}, b"result=OK&amount=7.25&id=F-77"
            case ["post-accept"]:
                body = {"status": "sold", "redirect": "https://partner.example/thanks/1"}
                return 200, JSON, json.dumps(body).encode()
            case ["post-reject"]:  # a post refused after a winning ping
                body = {"status": "rejected", "message": "duplicate lead"}
                return 200, JSON, json.dumps(body).encode()
            case ["property"]:  # an enrichment provider: property and owner data
                body = {
                    "status": "found",
                    "property": {"year_built": 1987, "owner": {"name": "Pat Owner"}},
                    "query": {k: v[0] for k, v in query.items()},
                }
                return 200, JSON, json.dumps(body).encode()
            case _:
                return 404, {}, b"no such path"


def _handler(api: PartnerAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            api.calls.append(Call(self.command, self.path, dict(self.headers.items()), body))
            if parts.path == "/trickle":  # an answer sent a byte every 50 ms
                self._trickle()
                return
            status, headers, answer = api.answer(parts.path, parse_qs(parts.query))
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller gave up at its deadline

        def _trickle(self) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    if api.release.wait(0.05):
                        return
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_POST = do_PUT = do_GET = handle_one

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # a fan-out connects to many partners at once
    daemon_threads = True


@pytest.fixture
def partner_api() -> Iterator[PartnerAPI]:
    api = PartnerAPI(url="")
    server = _Server(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield api
    api.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)
