"""Tenants' webhooks: add, list, show, change, remove, rotate the signing secret.

A webhook is an HTTP destination of the tenant's own, without a customer, subscribed to
events of the catalogue (app.domain.delivery.EVENTS; docs/webhooks.md). Its settings are
checked as a customer's HTTP destination's are (app/services/destinations.py), with the
same refusals by field, and it is signed, retried and recorded the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from app.domain.delivery import EVENTS
from app.domain.errors import InvalidError
from app.services import destinations
from app.services.actor import Actor
from app.store import destinations as store
from app.store.models import DeliveryDestination

#: The settings a caller may give (`active` only when changing): an HTTP destination's,
#: and the events it subscribes to.
SETTINGS = (
    *(name for name in destinations.SETTINGS if name not in ("kind", "addresses")),
    "events",
)


def list_webhooks(actor: Actor) -> list[DeliveryDestination]:
    """Return the tenant's webhooks."""
    actor.require("webhooks.read")
    return store.list_webhooks(actor.acting_tenant())


def show_webhook(actor: Actor, ref: str) -> DeliveryDestination:
    """Return the tenant's webhook with this id."""
    actor.require("webhooks.read")
    return store.find_webhook(actor.acting_tenant(), ref)


def add_webhook(actor: Actor, settings: dict[str, Any]) -> DeliveryDestination:
    """Add a webhook; its signing secret is revealed on the returned row."""
    actor.require("webhooks.write")
    values = {
        "method": "POST",
        "body_format": "json",
        **destinations.known_settings(settings, SETTINGS),
    }
    if values.get("name") is None:
        values["name"] = _default_name(values.get("url"))
    return store.create_destination(actor.acting_tenant(), check_webhook(values))


def update_webhook(actor: Actor, ref: str, changes: dict[str, Any]) -> DeliveryDestination:
    """Change some settings of a webhook (the others are kept), or pause/resume it."""
    actor.require("webhooks.write")
    row = store.find_webhook(actor.acting_tenant(), ref)
    values = destinations.changed_values(row, changes, SETTINGS, check_webhook, actor.name)
    return store.update_destination(row, values)


def remove_webhook(actor: Actor, ref: str) -> int:
    """Remove a webhook: it receives nothing more and its pending deliveries are canceled
    (its history is kept); return how many were."""
    actor.require("webhooks.write")
    return store.remove_destination(store.find_webhook(actor.acting_tenant(), ref))


def rotate_secret(
    actor: Actor,
    ref: str,
    overlap: timedelta = store.ROTATION_OVERLAP,
    now: datetime | None = None,
) -> DeliveryDestination:
    """Give a webhook a new signing secret, revealed once; the old one signs beside it for
    `overlap`."""
    actor.require("webhooks.write")
    row = store.find_webhook(actor.acting_tenant(), ref)
    destinations.check_overlap(overlap)
    return store.rotate_signing_secret(row, overlap, now)


def check_webhook(values: dict[str, Any]) -> dict[str, Any]:
    """Return a webhook's settings normalized; InvalidError lists every wrong field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    try:
        out = destinations.check_settings({**values, "kind": "http"})
    except InvalidError as error:
        if not isinstance(error.details, dict):
            raise
        errors.update(error.details)
    events, problems = _checked_events(values.get("events"))
    if problems:
        errors["events"] = problems
    if errors:
        first = next(iter(errors.items()))
        raise InvalidError(f"{first[0]}: {first[1][0]}", errors)
    out["events"] = events
    return out


def _checked_events(given: Any) -> tuple[list[str], list[str]]:
    """Return the events named, in the catalogue's order, and what is wrong with them."""
    known = ", ".join(EVENTS)
    if not isinstance(given, list | tuple) or not given or len(given) > 100:
        return [], [f"a list of one or more events is required; known: {known}"]
    unknown = {str(name)[:60]: None for name in given if not isinstance(name, str)}
    unknown.update({name[:60]: None for name in given if isinstance(name, str)})
    problems = [f"unknown event {name!r}; known: {known}" for name in unknown if name not in EVENTS]
    return [event for event in EVENTS if event in given], problems


def _default_name(url: Any) -> str:
    """Return a webhook's name when none is given: its URL's host."""
    try:
        host = urlsplit(url).hostname if isinstance(url, str) else None
    except ValueError:
        host = None
    return (host or "webhook")[:200]
