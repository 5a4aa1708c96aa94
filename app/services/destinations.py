"""Customers' delivery destinations: add, list, show, change, remove, rotate the signing secret.

Tenants' webhooks (app/services/webhooks.py) are HTTP destinations checked the same way.

Every setting is checked when saved, and every refusal names its field (`InvalidError`
details `{field: [message]}`: the API answers 422 with them). Secrets are encrypted by the
store; a new signing secret is revealed once, on the row the service returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from app.domain.errors import InvalidError
from app.domain.headers import checked_headers
from app.services.actor import Actor
from app.store import customers
from app.store import destinations as store
from app.store.models import DeliveryDestination

KINDS = ("http", "email")
METHODS = ("POST", "PUT")
BODY_FORMATS = ("json", "form")
#: Headers the sender sets itself.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection"}
    | {"webhook-id", "webhook-timestamp", "webhook-signature", "sluice-event"}
)
#: The settings a caller may give (`active` and `paused_reason` only when changing).
SETTINGS = (
    "name",
    "kind",
    "url",
    "method",
    "body_format",
    "headers",
    "template",
    "success_field",
    "success_value",
    "success_pattern",
    "retry_schedule",
    "addresses",
)


def list_destinations(actor: Actor, customer_ref: str) -> list[DeliveryDestination]:
    """Return a customer's destinations."""
    actor.require("customers.read")
    return store.list_destinations(customers.find_customer(actor.acting_tenant(), customer_ref))


def show_destination(actor: Actor, customer_ref: str, ref: str) -> DeliveryDestination:
    """Return a customer's destination with this id."""
    actor.require("customers.read")
    customer = customers.find_customer(actor.acting_tenant(), customer_ref)
    return store.find_destination(customer, ref)


def add_destination(
    actor: Actor, customer_ref: str, settings: dict[str, Any]
) -> DeliveryDestination:
    """Add a destination; an HTTP one's signing secret is revealed on the returned row."""
    actor.require("customers.write")
    customer = customers.find_customer(actor.acting_tenant(), customer_ref)
    values = {"method": "POST", "body_format": "json", **known_settings(settings, SETTINGS)}
    return store.create_destination(actor.acting_tenant(), check_settings(values), customer)


def update_destination(
    actor: Actor, customer_ref: str, ref: str, changes: dict[str, Any]
) -> DeliveryDestination:
    """Change some settings of a destination (the others are kept), or pause/resume it."""
    actor.require("customers.write")
    customer = customers.find_customer(actor.acting_tenant(), customer_ref)
    row = store.find_destination(customer, ref)
    if "kind" in changes and changes["kind"] != row.kind:
        raise InvalidError("a destination's kind cannot change", {"kind": ["cannot change"]})
    values = changed_values(row, changes, SETTINGS, check_settings, actor.name)
    return store.update_destination(row, values)


def remove_destination(actor: Actor, customer_ref: str, ref: str) -> int:
    """Remove a destination: it receives nothing more and its pending deliveries are
    canceled (its history is kept); return how many were."""
    actor.require("customers.write")
    customer = customers.find_customer(actor.acting_tenant(), customer_ref)
    return store.remove_destination(store.find_destination(customer, ref))


def rotate_secret(
    actor: Actor,
    customer_ref: str,
    ref: str,
    overlap: timedelta = store.ROTATION_OVERLAP,
    now: datetime | None = None,
) -> DeliveryDestination:
    """Give an HTTP destination a new signing secret, revealed once; the old one signs
    beside it for `overlap`."""
    actor.require("customers.write")
    customer = customers.find_customer(actor.acting_tenant(), customer_ref)
    row = store.find_destination(customer, ref)
    if row.kind != "http":
        raise InvalidError("only an HTTP destination has a signing secret")
    check_overlap(overlap)
    return store.rotate_signing_secret(row, overlap, now)


def check_overlap(overlap: timedelta) -> None:
    """Refuse a rotation's overlap outside 0 to 30 days."""
    if overlap < timedelta(0) or overlap > timedelta(days=30):
        raise InvalidError("the overlap is 0 to 30 days", {"overlap": ["0 to 30 days"]})


def changed_values(
    row: DeliveryDestination,
    changes: dict[str, Any],
    allowed: tuple[str, ...],
    check: Callable[[dict[str, Any]], dict[str, Any]],
    by: str,
) -> dict[str, Any]:
    """Return what a change stores: the settings given, checked with those kept (`check`
    sees them all), and a pause (`active: false`, by whom) or resume."""
    given = known_settings(changes, allowed)
    current = {name: getattr(row, name) for name in allowed if name != "headers"}
    current["headers"] = store.headers_of(row)
    checked = check({**current, **given})
    values = {name: checked[name] for name in given}
    if "active" in changes:
        values["active"] = bool(changes["active"])
        values["paused_reason"] = None if values["active"] else "paused by " + by
    return values


def check_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Return a destination's settings normalized; InvalidError lists every wrong field."""
    errors: dict[str, list[str]] = {}
    out = dict(values)

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    name = values.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        refuse("name", "a name of 1 to 200 characters is required")
    else:
        out["name"] = name.strip()
    kind = values.get("kind")
    if kind not in KINDS:
        refuse("kind", f"one of {', '.join(KINDS)}")
    elif kind == "http":
        _check_http(values, out, refuse)
    else:
        _check_email(values, out, refuse)
    schedule = values.get("retry_schedule")
    if schedule is not None:
        if (
            not isinstance(schedule, list | tuple)
            or not schedule
            or len(schedule) > 50
            or not all(type(s) is int and 0 < s <= 7 * 86400 for s in schedule)
        ):
            refuse("retry_schedule", "a list of 1 to 50 whole seconds, each 1 to 604800")
        else:
            out["retry_schedule"] = list(schedule)
    if errors:
        first = next(iter(errors.items()))
        raise InvalidError(f"{first[0]}: {first[1][0]}", errors)
    return out


def check_template(text: str) -> str | None:
    """Return why a body template does not compile (with its line), or None."""
    try:
        SandboxedEnvironment(autoescape=False).parse(text)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    return None


def _check_http(values: dict[str, Any], out: dict[str, Any], refuse: Any) -> None:
    url = values.get("url")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        _ = parts and parts.port  # a port out of range raises
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        refuse("url", "an http:// or https:// URL with a host is required")
    elif not isinstance(url, str) or len(url) > 2000 or any(c in url for c in "\r\n\t "):
        refuse("url", "a URL of at most 2000 characters, without spaces or line breaks")
    method = str(values.get("method") or "POST").upper()
    if method not in METHODS:
        refuse("method", f"one of {', '.join(METHODS)}")
    out["method"] = method
    if values.get("body_format") not in BODY_FORMATS:
        refuse("body_format", f"one of {', '.join(BODY_FORMATS)}")
    out["headers"] = checked_headers(values.get("headers"), RESERVED_HEADERS, refuse)
    template = values.get("template")
    if template is not None and template != "":
        problem = check_template(template) if isinstance(template, str) else "text expected"
        if problem:
            refuse("template", problem)
    out["template"] = template or None
    field, pattern = values.get("success_field"), values.get("success_pattern")
    if field is not None and pattern is not None:
        refuse("success_pattern", "a success test is a JSON field or a pattern, not both")
    if field is not None and (not isinstance(field, str) or not field.strip()):
        refuse("success_field", "a dotted JSON path, e.g. result.status")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            refuse("success_pattern", f"not a regular expression: {error}")
    if field is None:
        out["success_value"] = None
    if values.get("addresses"):
        refuse("addresses", "an HTTP destination has none")
    out["addresses"] = None


def _check_email(values: dict[str, Any], out: dict[str, Any], refuse: Any) -> None:
    addresses = values.get("addresses")
    if not isinstance(addresses, list | tuple) or not addresses or len(addresses) > 20:
        refuse("addresses", "1 to 20 email addresses are required")
        return
    normalized = []
    for address in addresses:
        try:
            checked = validate_email(str(address), check_deliverability=False)
        except EmailNotValidError as error:
            refuse("addresses", f"{str(address)[:100]!r}: {error}")
        else:
            normalized.append(checked.normalized)
    out["addresses"] = normalized
    for name in ("url", "template", "success_field", "success_pattern", "headers"):
        if values.get(name):
            refuse(name, "an email destination has none")
    for name in ("url", "template", "success_field", "success_value", "success_pattern"):
        out[name] = None
    out["headers"] = {}


def known_settings(settings: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Return the allowed settings given, refusing unknown ones (`active` is read apart)."""
    unknown = sorted(set(settings) - set(allowed) - {"active"})
    if unknown:
        raise InvalidError(
            f"unknown settings: {', '.join(unknown)}", {name: ["unknown"] for name in unknown}
        )
    return {name: settings[name] for name in allowed if name in settings}
