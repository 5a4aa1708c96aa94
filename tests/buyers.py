"""A buyer's HTTP endpoint on loopback, answering as scripted per path (the `buyer` fixture)."""

from __future__ import annotations

import threading
import time
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
    received_at: float = 0.0  # time.time() when the request was read
    answered_at: float = 0.0  # when the answer was written (or its writing failed)
    status: int = 0  # the status answered


@dataclass
class Buyer:
    """A buyer's HTTP endpoint: each path answers its own way; every request is kept."""

    url: str
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    calls: dict[str, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # the webhook-ids received
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, webhook_id: str = "") -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            count = self.calls[path] = self.calls.get(path, 0) + 1
            first = webhook_id not in self.seen
            self.seen.add(webhook_id)
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
            case "/slow":  # a buyer taking its time: attempts stay in flight a while
                time.sleep(0.2)
                return 200, {}, b"ok"
            case "/first-fails":  # each delivery's first attempt fails, its retry passes
                return (500, {}, b"not yet") if first else (200, {}, b"ok")
            case "/hang-once":  # each delivery's first attempt hangs, its retry passes
                if first:
                    self.release.wait(10)
                return 200, {}, b"ok"
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
            received = Received(
                self.command,
                self.path,
                dict(self.headers.items()),
                body,
                list(self.headers.items()),
                received_at=time.time(),
            )
            buyer.received.append(received)
            try:
                status, headers, answer = buyer.answer(
                    self.path, self.headers.get("webhook-id", "")
                )
                received.status = status
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender is gone (a worker killed in the middle of its attempt)
            finally:
                received.answered_at = time.time()

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
