"""One HTTP attempt: sign with Standard Webhooks, send with httpx, classify the answer.

A worker sends many deliveries at once from threads: they share one `httpx.Client` (thread
safe, its connections reused per host), the module's own or one the caller owns.
"""

from __future__ import annotations

import email.utils
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from standardwebhooks import Webhook

from app.delivery.payload import BodyError, render_body
from app.domain.delivery import Attempt, Destination, Message, SuccessTest
from app.dsl.regex import RegexError, compile_regex

#: How much of an answer an attempt records.
ANSWER_LIMIT = 4096
#: How much of an answer is read to run a success test on it; the rest is not read.
READ_LIMIT = 256 * 1024
#: Connecting waits no longer than this, whatever the destination's timeout.
CONNECT_TIMEOUT = 5.0
USER_AGENT = "Sluice-Webhooks/1"
#: Headers a destination's own headers cannot set (compared case-insensitively).
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp"}
    | {"webhook-signature", "sluice-event", "transfer-encoding"}
)

Outcome = Literal["delivered", "retry", "failed"]

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def new_client(max_connections: int = 200) -> httpx.Client:
    """Return a client for many concurrent attempts: pooled, no redirects followed."""
    return httpx.Client(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=50),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def shared_client() -> httpx.Client:
    """Return the module's client, created on first use."""
    global _client
    with _client_lock:
        if _client is None:
            _client = new_client()
        return _client


def close_shared_client() -> None:
    """Close the module's client and its connections (a worker does it when it stops)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


def signature_headers(
    secrets: tuple[str, ...], message_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """Return the Standard Webhooks headers; one signature per secret, space-separated."""
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
    }
    if secrets:
        signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in secrets]
        headers["webhook-signature"] = " ".join(signatures)
    return headers


def send_http(
    destination: Destination,
    message: Message,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> Attempt:
    """Send a message to an HTTP destination once and say what came of it."""
    started = time.monotonic()
    if not destination.url:
        return _attempt("failed", started, error="the destination has no URL")
    try:
        body, content_type = render_body(destination, message)
    except BodyError as error:
        return _attempt("failed", started, error=str(error))
    signed_at = now or datetime.now(UTC)
    try:
        secrets_headers = signature_headers(
            destination.signing_secrets, message.id, signed_at, body
        )
    except Exception:  # never say why: the reason could quote the secret
        return _attempt("failed", started, error="a signing secret is not a valid whsec_ secret")
    headers = {
        **{
            name: value
            for name, value in destination.headers.items()
            if name.lower() not in RESERVED_HEADERS
        },
        "Content-Type": content_type,
        **secrets_headers,
        "Sluice-Event": message.event,
    }
    timeout = destination.timeout_seconds
    timeouts = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
    deadline = started + timeout
    try:
        with (client or shared_client()).stream(
            destination.method, destination.url, content=body, headers=headers, timeout=timeouts
        ) as response:
            answer = _read_answer(response, deadline)
    except httpx.TimeoutException as error:
        return _attempt("retry", started, error=f"timed out ({_timeout_phase(error)})")
    except _Deadline:
        return _attempt("retry", started, error=f"the answer took longer than {timeout:g} s")
    except httpx.UnsupportedProtocol:
        return _attempt("failed", started, error="the URL's scheme is not http or https")
    except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeError, ValueError):
        # The reason could quote a header's value (a secret): name the kind of error only.
        return _attempt("failed", started, error="the request is invalid (a header or the URL)")
    except httpx.TransportError as error:
        return _attempt("retry", started, error=f"{type(error).__name__}: {error}")
    return classify(response, answer, destination.success, started)


def classify(
    response: httpx.Response, answer: bytes, success: SuccessTest | None, started: float
) -> Attempt:
    """Return the attempt an answer makes: delivered, to retry, or failed."""
    status = response.status_code
    recorded = answer[:ANSWER_LIMIT].decode("utf-8", "replace")

    def attempt(outcome: Outcome, error: str | None = None, after: float | None = None) -> Attempt:
        return _attempt(outcome, started, status, recorded, error, after)

    if 200 <= status < 300:
        failure = success_failure(success, answer) if success else None
        if failure:
            return attempt("failed", f"the answer failed the success test: {failure}")
        return attempt("delivered")
    if status == 429 or status >= 500:
        after = None
        if status in (429, 503):
            after = parse_retry_after(response.headers.get("Retry-After"))
        return attempt("retry", f"HTTP {status}", after)
    return attempt("failed", f"HTTP {status}")


def success_failure(test: SuccessTest, answer: bytes) -> str | None:
    """Return why a 2xx answer fails a destination's success test, or None if it passes."""
    if test.json_field:
        try:
            value: Any = orjson.loads(answer)
        except orjson.JSONDecodeError:
            return "the answer is not JSON"
        for part in test.json_field.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return f"the answer has no {test.json_field}"
        if value != test.equals:
            return f"{test.json_field} is {_short(value)}, not {_short(test.equals)}"
    if test.pattern is not None:
        try:
            regex = compile_regex(test.pattern)
        except RegexError as error:
            return f"the pattern is invalid: {error}"
        if not regex.test(answer.decode("utf-8", "replace")):
            return f"the answer does not match /{test.pattern}/"
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return a Retry-After header's wait in seconds (delay-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Deadline(Exception):
    """The answer trickled in past the destination's timeout."""


def _read_answer(response: httpx.Response, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= READ_LIMIT:
            break
        if time.monotonic() > deadline:
            raise _Deadline
    return b"".join(chunks)[:READ_LIMIT]


def _timeout_phase(error: httpx.TimeoutException) -> str:
    if isinstance(error, httpx.ConnectTimeout):
        return "connecting"
    if isinstance(error, httpx.ReadTimeout):
        return "waiting for the answer"
    if isinstance(error, httpx.WriteTimeout):
        return "sending the body"
    return "waiting for a connection"


def _short(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _attempt(
    outcome: Outcome,
    started: float,
    status_code: int | None = None,
    answer: str = "",
    error: str | None = None,
    retry_after_seconds: float | None = None,
) -> Attempt:
    return Attempt(
        outcome=outcome,
        duration_ms=round((time.monotonic() - started) * 1000, 3),
        status_code=status_code,
        answer=answer,
        error=error,
        retry_after_seconds=retry_after_seconds,
    )
