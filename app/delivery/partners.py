"""Calling partners and enrichment providers: build the request, read the answer, call many
at once within a hard deadline, and record each call for the lead's timeline.

`build_request` and `read_answer` are pure; `call_partner` makes one call; `call_all`
calls several in parallel and returns every record by the deadline at the latest.

Why asyncio (httpx.AsyncClient) and not threads: at the deadline every call still waiting
is *cancelled* — its task ends and its connection is closed — so a partner that hangs holds
neither the caller (a gunicorn worker inside a ping_post stage) nor a socket or a thread
beyond the stage's timeout. A thread cannot be stopped: an abandoned one would keep its
connection open until its own timeout, and a pool of them would fill under slow partners.
The price: a client (and its connection pool) per `call_all`, so no keep-alive across leads;
the TLS settings are built once per process, which is what made a new client costly.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import jmespath
import orjson
import re2
from jinja2 import TemplateError
from jmespath.exceptions import JMESPathError

from app.delivery.payload import CONTENT_TYPES, BodyError, compile_template, flatten_payload
from app.domain.partners import (
    EXCERPT_LIMIT,
    REFERENCE_SOURCE,
    Answer,
    AnswerRule,
    CallRecord,
    Partner,
    Phase,
)

#: How much of an answer is read; the rest is not.
READ_LIMIT = 256 * 1024
USER_AGENT = "Sluice-Partners/1"
#: Headers the request sets itself (compared case-insensitively).
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection"}
)
#: The longest reference, reason or redirect URL kept from an answer.
TEXT_LIMIT = 2000
CENT = Decimal("0.01")


class RequestError(ValueError):
    """A request that cannot be made: no URL for the phase, a template that fails, or (a
    skip) the lead lacks fields the provider needs."""

    def __init__(self, message: str, skip: bool = False):
        super().__init__(message)
        self.skip = skip


@dataclass(frozen=True)
class PreparedRequest:
    """What to send: a GET carries its fields as query parameters, the others a body."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    params: list[tuple[str, str | int | float | bool | None]] | None = None


def missing_fields(partner: Partner, fields: dict[str, Any]) -> list[str]:
    """Return the fields a provider needs that the lead lacks (empty for a partner)."""
    if partner.kind != "enrichment":
        return []
    return [name for name in partner.required_fields if fields.get(name) in (None, "")]


def build_request(
    partner: Partner, phase: Phase, fields: dict[str, Any], reference: str | None = None
) -> PreparedRequest:
    """Return the request a phase sends: the fields given (a ping's are the lead without
    the person's contact details), shaped by the partner's template or field map."""
    url = partner.url_for(phase)
    if url is None:
        raise RequestError(f"{partner.name} takes no {phase}")
    missing = missing_fields(partner, fields)
    if missing:
        raise RequestError(f"the lead lacks {', '.join(missing)}", skip=True)
    headers = {
        **{k: v for k, v in partner.headers.items() if k.lower() not in RESERVED_HEADERS},
        "User-Agent": USER_AGENT,
    }
    if partner.template is not None:
        template = _template(partner.template)
        try:
            text = template.render(lead=fields, fields=fields, phase=phase, reference=reference)
        except TemplateError as error:
            raise RequestError(f"the body template failed: {error.message}") from error
        except Exception as error:  # a template's own arithmetic or type errors
            raise RequestError(
                f"the body template failed: {type(error).__name__}: {error}"
            ) from error
        headers["Content-Type"] = CONTENT_TYPES[partner.body_format]
        return PreparedRequest(partner.method, url, headers, text.encode("utf-8"))
    body = _mapped(partner.field_map, fields, reference)
    if partner.method == "GET":
        return PreparedRequest("GET", url, headers, params=list(flatten_payload(body)))
    headers["Content-Type"] = CONTENT_TYPES[partner.body_format]
    if partner.body_format == "form":
        content = urlencode(flatten_payload(body)).encode("ascii")
    else:
        content = orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)
    return PreparedRequest(partner.method, url, headers, content)


def read_answer(
    partner: Partner, phase: Phase, status_code: int, headers: Any, body: bytes
) -> Answer:
    """Return what an answer says by the partner's answer rules; a malformed answer is a
    rejection saying why ("malformed answer: ..."), never an exception."""
    excerpt = body[:EXCERPT_LIMIT].decode("utf-8", "replace")
    text = body.decode("utf-8", "replace")
    document: Any = None
    needs_json = phase == "enrich" or any(rule.path for rule in partner.rules.values())
    if needs_json and body.strip():
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = _NOT_JSON
    if not 200 <= status_code < 300:
        status = f"HTTP {status_code}"
        try:
            said = _text(_read(partner.rules.get("reason"), document, text), "reason")
        except _Malformed:
            said = None
        return Answer(False, reason=f"{status}: {said}" if said else status, excerpt=excerpt)
    if needs_json and (document is None or document is _NOT_JSON):
        return _malformed("the answer is not JSON", excerpt)
    if needs_json and not isinstance(document, dict | list):
        return _malformed(f"the answer is {_short(document)}, not a JSON object", excerpt)
    try:
        accepted = _accepted(partner.rules.get("accepted"), document, text)
        reason = _text(_read(partner.rules.get("reason"), document, text), "reason")
        if not accepted:
            return Answer(False, reason=reason, excerpt=excerpt)
        price_rule = partner.rules.get("price")
        price = _price(_read(price_rule, document, text))
        if price is None and price_rule is not None and phase == "ping":
            raise _Malformed("an offer without a price")
        reference = _text(_read(partner.rules.get("reference"), document, text), "reference")
        redirect = _redirect(_read(partner.rules.get("redirect"), document, text))
        data = _data(partner, document) if phase == "enrich" else None
    except _Malformed as error:
        return _malformed(str(error), excerpt)
    return Answer(True, price, reason, redirect, reference, data, excerpt)


async def call_partner(
    client: httpx.AsyncClient,
    partner: Partner,
    phase: Phase,
    fields: dict[str, Any],
    reference: str | None,
    deadline: float,
) -> CallRecord:
    """Call a partner once and record it; never past `deadline` (a `time.monotonic()`
    instant) nor the partner's own timeout, whichever comes first."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    url = partner.url_for(phase) or ""
    record = CallRecord(partner.name, phase, _without_query(url), started_at, 0.0)

    def done(**values: Any) -> CallRecord:
        duration = round((time.monotonic() - started) * 1000, 3)
        return replace(record, duration_ms=duration, **values)

    try:
        request = build_request(partner, phase, fields, reference)
    except RequestError as error:
        return done(error=str(error), skipped=error.skip)
    own_deadline = min(deadline, started + partner.timeout_ms / 1000)
    remaining = own_deadline - time.monotonic()
    if own_deadline < deadline:
        waited = f"no answer within its timeout of {partner.timeout_ms} ms"
    else:
        waited = "no answer by the deadline"
    if remaining <= 0:
        return done(error=waited, timed_out=True)
    try:
        async with asyncio.timeout(remaining):
            async with client.stream(
                request.method,
                request.url,
                content=request.content,
                params=request.params,
                headers=request.headers,
                timeout=remaining,
            ) as response:
                body = await _read_body(response)
    except (TimeoutError, httpx.TimeoutException):
        return done(error=waited, timed_out=True)
    except httpx.UnsupportedProtocol:
        return done(error="the URL's scheme is not http or https")
    except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeError, ValueError):
        # The reason could quote a header's value (a credential): name the kind only.
        return done(error="the request is invalid (a header or the URL)")
    except httpx.ConnectError as error:
        return done(error=f"could not connect: {error}")
    except httpx.TransportError as error:
        return done(error=f"{type(error).__name__}: {error}")
    answer = read_answer(partner, phase, response.status_code, response.headers, body)
    return done(status_code=response.status_code, answer=answer)


def call_all(
    partners: list[Partner],
    phase: Phase,
    fields: dict[str, Any],
    deadline: float,
    references: dict[str, str] | None = None,
) -> list[CallRecord]:
    """Call the partners in parallel and return their records, in their order, by
    `deadline` (a `time.monotonic()` instant) at the latest: a call not answered by then
    is cancelled and recorded as timed out. `references`: a post's, by partner name."""
    if not partners:
        return []
    return asyncio.run(_call_all(partners, phase, fields, deadline, references or {}))


def timeline_entry(record: CallRecord) -> dict[str, Any]:
    """Return what a lead's timeline keeps of a call (no header, no query string)."""
    entry: dict[str, Any] = {
        "partner": record.partner,
        "phase": record.phase,
        "url": record.url,
        "started_at": record.started_at.isoformat().replace("+00:00", "Z"),
        "duration_ms": record.duration_ms,
        "status_code": record.status_code,
    }
    answer = record.answer
    if answer is None:
        status = "skipped" if record.skipped else "timeout" if record.timed_out else "error"
        entry.update(status=status, error=record.error, excerpt="")
        return entry
    entry["status"] = "accepted" if answer.accepted else "rejected"
    if answer.accepted:
        entry["offer"] = {
            "price_cents": answer.price_cents,
            "reference": answer.reference,
            "redirect_url": answer.redirect_url,
        }
        if answer.data is not None:
            entry["data"] = answer.data
    else:
        entry["rejection"] = {"reason": answer.reason, "malformed": answer.malformed}
    entry["excerpt"] = answer.excerpt
    return entry


# Checks the services run when a tenant saves settings: the same compilers the calls use.


def path_problem(path: str) -> str | None:
    """Return why a JMESPath does not compile, or None."""
    try:
        _path(path)
    except JMESPathError as error:
        return f"not a JMESPath expression: {str(error).splitlines()[0]}"
    return None


def pattern_problem(pattern: str) -> str | None:
    """Return why a pattern is not a regular expression RE2 takes, or None."""
    try:
        _pattern(pattern)
    except Exception as error:  # re2's own error type is private
        message = error.args[0] if error.args else error
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        return f"not a regular expression: {message}"
    return None


def template_problem(text: str) -> str | None:
    """Return why a body template does not compile (with its line), or None."""
    try:
        compile_template(text)
    except BodyError as error:
        return str(error)
    return None


# Internals


_NOT_JSON = object()
_client_settings: dict[str, Any] = {}


class _Malformed(ValueError):
    pass


def _malformed(why: str, excerpt: str) -> Answer:
    return Answer(False, reason=f"malformed answer: {why}", excerpt=excerpt, malformed=True)


@functools.lru_cache(maxsize=512)
def _path(path: str) -> Any:
    return jmespath.compile(path)


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> Any:
    # RE2: linear time whatever the pattern, so a tenant's pattern cannot stall a stage.
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to the tenant, not to stderr
    return re2.compile(pattern, options=options)


def _template(text: str) -> Any:
    try:
        return compile_template(text)
    except BodyError as error:
        raise RequestError(str(error)) from error


def _read(rule: AnswerRule | None, document: Any, text: str) -> Any:
    """Return what a rule reads (None: nothing there, or no rule)."""
    if rule is None:
        return None
    if rule.path is not None:
        if document is None or document is _NOT_JSON:
            raise _Malformed("the answer is not JSON")
        try:
            return _path(rule.path).search(document)
        except JMESPathError as error:
            raise _Malformed(f"{rule.path}: {error}") from None
    assert rule.pattern is not None
    found = _pattern(rule.pattern).search(text)
    if found is None:
        return None
    return found.group(1) if found.re.groups else found.group(0)


def _accepted(rule: AnswerRule | None, document: Any, text: str) -> bool:
    if rule is None:
        return True  # status 2xx alone
    if rule.pattern is not None:
        return _read(rule, document, text) is not None
    value = _read(rule, document, text)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise _Malformed(f"{rule.path} is {_short(value)}, not true or false")


def _price(value: Any) -> int | None:
    """Return a price in whole cents (fractions of a cent dropped), exactly."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Malformed(f"the price is {_short(value)}, not an amount")
    # A JSON number arrives as a float: its repr is the shortest text that reads back as
    # the same float, which is the amount as written for any price of up to 15 digits.
    text = repr(value) if isinstance(value, float) else str(value).strip().lstrip("$")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _Malformed(f"the price is {_short(value)}, not an amount") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("10000000"):
        raise _Malformed(f"the price is {_short(value)}, not an amount of 0 to 10,000,000")
    return int(amount.quantize(CENT, rounding=ROUND_DOWN) * 100)


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise _Malformed(f"the {what} is {_short(value)}, not a text")
    text = str(value).strip()
    if len(text) > TEXT_LIMIT:
        raise _Malformed(f"the {what} is longer than {TEXT_LIMIT} characters")
    return text or None


def _redirect(value: Any) -> str | None:
    url = _text(value, "redirect URL")
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Malformed(f"the redirect URL {_short(url)} is not an http(s) URL")
    return url


def _data(partner: Partner, document: Any) -> dict[str, Any]:
    data = document
    if partner.data_path is not None:
        try:
            data = _path(partner.data_path).search(document)
        except JMESPathError as error:
            raise _Malformed(f"{partner.data_path}: {error}") from None
    if not isinstance(data, dict):
        where = partner.data_path or "the answer"
        raise _Malformed(f"{where} is {_short(data)}, not an object")
    return data


def _mapped(
    field_map: dict[str, Any] | None, fields: dict[str, Any], reference: str | None
) -> dict[str, Any]:
    """Return the body's values: the partner's names for ours, or all ours as they are."""
    if field_map is None:
        body = {name: value for name, value in fields.items() if value is not None}
        if reference is not None:
            body["reference"] = reference
        return body
    body = {}
    for theirs, source in field_map.items():
        if isinstance(source, dict):
            body[theirs] = source["value"]
        elif source == REFERENCE_SOURCE:
            if reference is not None:
                body[theirs] = reference
        elif fields.get(source) is not None:
            body[theirs] = fields[source]
    return body


async def _read_body(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= READ_LIMIT:
            break
    return b"".join(chunks)[:READ_LIMIT]


async def _call_all(
    partners: list[Partner],
    phase: Phase,
    fields: dict[str, Any],
    deadline: float,
    references: dict[str, str],
) -> list[CallRecord]:
    async with _new_client(len(partners)) as client:
        calls = [
            call_partner(client, partner, phase, fields, references.get(partner.name), deadline)
            for partner in partners
        ]
        return list(await asyncio.gather(*calls))


def warm_up() -> None:
    """Load what a first fan-out would otherwise load inside its deadline: httpx's asyncio
    backend (~70 ms of imports) and the TLS settings with their CA bundle (~25 ms). The
    gunicorn master does it before forking its workers."""
    import anyio._backends._asyncio  # noqa: F401  (httpx's async transport loads it lazily)
    import httpcore._async.connection_pool  # noqa: F401

    if "verify" not in _client_settings:
        _client_settings["verify"] = httpx.create_ssl_context()


def _new_client(size: int) -> httpx.AsyncClient:
    warm_up()
    return httpx.AsyncClient(
        verify=_client_settings["verify"],
        limits=httpx.Limits(max_connections=max(size, 1) * 2),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def _without_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _short(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 80 else text[:77] + "..."
