"""A buyer's HTTP endpoint on loopback, answering as scripted per path (the `buyer` fixture)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
