"""What a delivery carries: a lead's deliverable fields and public facts, and its body."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from app.domain.clock import iso_utc
from app.domain.delivery import Destination, Message
from app.domain.money import as_number
from app.dsl.ruleset import RuleSet

CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}

# Autoescape off: bodies are JSON or forms, not HTML; `tojson` quotes a value for JSON.
_SANDBOX = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


class BodyError(ValueError):
    """A body template that does not render (its syntax, or an error while rendering)."""


def lead_payload(
    ruleset: RuleSet | None,
    category: str,
    data: Mapping[str, Any],
    *,
    public_id: str,
    lead_type: str | None,
    price_cents: int,
    received_at: datetime,
) -> dict[str, Any]:
    """Return a sold lead's delivery payload: its deliverable fields and public facts only.

    Without rules, or with rules that no longer define the category, no field is deliverable.
    """
    known = ruleset is not None and category in ruleset.categories
    declared = ruleset.fields(category) if ruleset is not None and known else ()
    deliverable = [field.name for field in declared if field.deliverable]
    fields = {name: data[name] for name in deliverable if data.get(name) is not None}
    return {
        "id": public_id,
        "category": category,
        "lead_type": lead_type,
        "price": as_number(price_cents),
        "received_at": iso_utc(received_at),
        "fields": fields,
    }


def lead_event_data(
    data: Mapping[str, Any],
    *,
    public_id: str,
    status: str,
    category: str,
    lead_type: str | None,
    price_cents: int,
    customer: str | None,
    source: str,
    is_test: bool,
    received_at: datetime,
) -> dict[str, Any]:
    """Return a lead event's data for the tenant's webhooks: every field (the tenant owns them)."""
    return {
        "lead": {
            "id": public_id,
            "status": status,
            "category": category,
            "lead_type": lead_type,
            "price": as_number(price_cents),
            "customer": customer,
            "source": source,
            "is_test": is_test,
            "received_at": iso_utc(received_at),
            "fields": dict(data),
        }
    }


def render_body(destination: Destination, message: Message) -> tuple[bytes, str]:
    """Return the body to send and its Content-Type; raise BodyError if the template fails."""
    content_type = CONTENT_TYPES[destination.body_format]
    if destination.template is not None:
        template = _compile(destination.template)
        try:
            # `lead`: a sold lead's body; `body`, the same, reads better for an event's.
            text = template.render(lead=message.payload, body=message.payload, event=message.event)
        except TemplateError as error:
            raise BodyError(f"the body template failed: {error.message}") from error
        except Exception as error:  # a template's own arithmetic or type errors
            raise BodyError(f"the body template failed: {type(error).__name__}: {error}") from error
        return text.encode("utf-8"), content_type
    if destination.body_format == "form":
        return urlencode(flatten_payload(message.payload)).encode("ascii"), content_type
    return orjson.dumps(message.payload, default=str, option=orjson.OPT_NON_STR_KEYS), content_type


def check_template(text: str) -> str | None:
    """Return why a body template does not compile (with its line), or None if it does."""
    try:
        _compile(text)
    except BodyError as error:
        return str(error)
    return None


def flatten_payload(payload: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Return a payload's scalar values as (dotted key, text) pairs, for forms and emails."""
    pairs: list[tuple[str, str]] = []
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            pairs.extend(flatten_payload(value, f"{name}."))
        elif value is None:
            pairs.append((name, ""))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif isinstance(value, list | tuple):
            pairs.append((name, ",".join(str(item) for item in value)))
        else:
            pairs.append((name, str(value)))
    return pairs


def compile_template(text: str) -> Any:
    """Return a body template compiled in the sandbox (cached); BodyError if it does not."""
    return _compile(text)


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> Any:
    try:
        return _SANDBOX.from_string(text)
    except TemplateSyntaxError as error:
        raise BodyError(f"line {error.lineno}: {error.message}") from error
    except TemplateError as error:
        raise BodyError(f"the body template does not compile: {error.message}") from error
