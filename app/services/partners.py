"""A tenant's partners and enrichment providers: add, list, show, change, remove.

Partners are pinged and posted to by the plan's ping_post and post stages, providers called
by its enrich stages; rules name them by `name`. Every setting is checked when saved and
every refusal names its field (`InvalidError` details `{field: [message]}`: 422). Headers
hold credentials: encrypted by the store, shown by name only, never logged.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from app.delivery.partners import (
    RESERVED_HEADERS,
    path_problem,
    pattern_problem,
    template_problem,
)
from app.domain.errors import InvalidError
from app.domain.headers import checked_headers
from app.domain.partners import ANSWER_PARTS, DEFAULT_ADDRESS_FIELDS, KINDS, REFERENCE_SOURCE
from app.services.actor import Actor
from app.store import partners as store
from app.store.models import Partner
from app.store.storable import unstorable

METHODS = ("POST", "PUT", "GET")
BODY_FORMATS = ("json", "form")
#: The rules language's identifiers (grammar/sluice.lark NAME), at most 64 characters.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
RULE_SETTINGS = tuple(f"{part}_{how}" for part in ANSWER_PARTS for how in ("path", "pattern"))
#: The settings a caller may give.
SETTINGS = (
    "name",
    "kind",
    "ping_url",
    "post_url",
    "url",
    "method",
    "body_format",
    "field_map",
    "template",
    "headers",
    "timeout_ms",
    *RULE_SETTINGS,
    "data_path",
    "required_fields",
)
DEFAULTS: dict[str, Any] = {
    "kind": "partner",
    "method": "POST",
    "body_format": "json",
    "timeout_ms": 2000,
}


def list_partners(actor: Actor, kind: str | None = None) -> list[Partner]:
    """Return the tenant's partners and providers (or those of one kind), by name."""
    actor.require("partners.read")
    if kind is not None and kind not in KINDS:
        raise InvalidError(f"kind: one of {', '.join(KINDS)}", {"kind": [_one_of(KINDS)]})
    return store.list_partners(actor.acting_tenant(), kind)


def show_partner(actor: Actor, ref: str) -> Partner:
    """Return the partner or provider with this id or name."""
    actor.require("partners.read")
    return store.find_partner(actor.acting_tenant(), ref)


def add_partner(actor: Actor, settings: dict[str, Any]) -> Partner:
    """Add a partner (kind "partner") or an enrichment provider (kind "enrichment")."""
    actor.require("partners.write")
    values = {**DEFAULTS, **_known(settings)}
    if values.get("kind") == "enrichment" and "required_fields" not in settings:
        values["required_fields"] = list(DEFAULT_ADDRESS_FIELDS)
    return store.create_partner(actor.acting_tenant(), check_settings(values))


def update_partner(actor: Actor, ref: str, changes: dict[str, Any]) -> Partner:
    """Change some settings of a partner (the others are kept); `headers` replaces them
    all (an empty object removes them)."""
    actor.require("partners.write")
    row = store.find_partner(actor.acting_tenant(), ref)
    given = _known(changes)
    if "kind" in given and given["kind"] != row.kind:
        raise InvalidError("a partner's kind cannot change", {"kind": ["cannot change"]})
    current = {name: getattr(row, name) for name in SETTINGS if name != "headers"}
    current["headers"] = store.headers_of(row)
    checked = check_settings({**current, **given})
    return store.update_partner(row, {name: checked[name] for name in given})


def remove_partner(actor: Actor, ref: str) -> None:
    """Remove a partner or provider: rules can no longer name it; its calls stay recorded."""
    actor.require("partners.write")
    store.remove_partner(store.find_partner(actor.acting_tenant(), ref))


def header_names(row: Partner) -> list[str]:
    """Return the names of a partner's headers (what the adapters show of them)."""
    return store.header_names(row)


def check_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Return a partner's settings normalized; InvalidError lists every wrong field."""
    errors: dict[str, list[str]] = {}
    out = dict(values)

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for setting, value in values.items():
        problem = unstorable(value)
        if problem:
            refuse(setting, f"contains {problem}")
    if errors:  # the checks below would quote what cannot be stored
        raise InvalidError("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    name = values.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name.strip()):
        refuse("name", "a rules identifier: a letter or _, then letters, digits or _ (≤ 64)")
    elif name.strip().startswith("prt_"):  # a partner is found by its name or its id
        refuse("name", "prt_ starts the partners' ids, not their names")
    else:
        out["name"] = name.strip()
    kind = values.get("kind")
    if kind not in KINDS:
        refuse("kind", _one_of(KINDS))
    urls = ("ping_url", "post_url") if kind == "partner" else ("url",)
    for setting in ("ping_url", "post_url", "url"):
        url = values.get(setting) or None
        out[setting] = url
        if setting not in urls:
            if url is not None and kind in KINDS:
                refuse(setting, f"{_article(kind)} has none")
            continue
        if url is None:
            if setting != "ping_url":  # a partner without one takes direct posts only
                refuse(setting, "an http:// or https:// URL is required")
            continue
        problem = _url_problem(url)
        if problem:
            refuse(setting, problem)
    method = str(values.get("method") or "POST").upper()
    if method not in METHODS:
        refuse("method", _one_of(METHODS))
    out["method"] = method
    if values.get("body_format") not in BODY_FORMATS:
        refuse("body_format", _one_of(BODY_FORMATS))
    out["headers"] = checked_headers(values.get("headers"), RESERVED_HEADERS, refuse)
    _check_shape(values, out, refuse)
    timeout = values.get("timeout_ms")
    if type(timeout) is not int or not 50 <= timeout <= 30000:
        refuse("timeout_ms", "whole milliseconds, 50 to 30000")
    for part in ANSWER_PARTS:
        path, pattern = values.get(f"{part}_path") or None, values.get(f"{part}_pattern") or None
        out[f"{part}_path"], out[f"{part}_pattern"] = path, pattern
        if path is not None and pattern is not None:
            refuse(f"{part}_pattern", f"{part} is read by a JSON path or a pattern, not both")
        if path is not None:
            problem = path_problem(path) if isinstance(path, str) else "text expected"
            if problem:
                refuse(f"{part}_path", problem)
        if pattern is not None:
            problem = pattern_problem(pattern) if isinstance(pattern, str) else "text expected"
            if problem:
                refuse(f"{part}_pattern", problem)
    _check_enrichment(values, out, refuse)
    if errors:
        summary = "; ".join(f"{name}: {messages[0]}" for name, messages in errors.items())
        raise InvalidError(summary, errors)
    return out


def _check_shape(values: dict[str, Any], out: dict[str, Any], refuse: Any) -> None:
    """Check the request's shape: a field map or a template (or neither: every field)."""
    field_map, template = values.get("field_map"), values.get("template") or None
    if field_map == {}:  # what clears a map
        field_map = None
    out["field_map"], out["template"] = field_map, template
    if field_map is not None and template is not None:
        refuse("template", "a request is shaped by a field map or a template, not both")
    if template is not None:
        problem = template_problem(template) if isinstance(template, str) else "text expected"
        if problem:
            refuse("template", problem)
        if str(values.get("method") or "").upper() == "GET":
            refuse("template", "a GET request has no body to template")
    if field_map is None:
        return
    if not isinstance(field_map, dict) or not 0 < len(field_map) <= 200:
        refuse("field_map", "an object of 1 to 200 entries: their name → our field")
        return
    for theirs, ours in field_map.items():
        if not isinstance(theirs, str) or not theirs.strip() or len(theirs) > 200:
            refuse("field_map", f"{str(theirs)[:40]!r}: a name of 1 to 200 characters")
        elif isinstance(ours, dict):
            if set(ours) != {"value"} or isinstance(ours["value"], dict | list):
                refuse("field_map", f'{theirs}: a constant is {{"value": text, number or bool}}')
        elif not isinstance(ours, str) or not (ours == REFERENCE_SOURCE or NAME.fullmatch(ours)):
            refuse(
                "field_map",
                f'{theirs}: one of our fields, {REFERENCE_SOURCE}, or {{"value": constant}}',
            )


def _check_enrichment(values: dict[str, Any], out: dict[str, Any], refuse: Any) -> None:
    data_path, required = values.get("data_path") or None, values.get("required_fields")
    out["data_path"] = data_path
    if values.get("kind") != "enrichment":
        if data_path is not None:
            refuse("data_path", "only an enrichment provider has one")
        if required:
            refuse("required_fields", "only an enrichment provider has them")
        out["required_fields"] = None
        return
    if data_path is not None:
        problem = path_problem(data_path) if isinstance(data_path, str) else "text expected"
        if problem:
            refuse("data_path", problem)
    if required is None:
        required = list(DEFAULT_ADDRESS_FIELDS)
    if (
        not isinstance(required, list | tuple)
        or len(required) > 50
        or not all(isinstance(name, str) and NAME.fullmatch(name) for name in required)
    ):
        refuse("required_fields", "a list of at most 50 field names")
    else:
        out["required_fields"] = list(required)


def _url_problem(url: Any) -> str | None:
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        _ = parts and parts.port  # a port out of range raises
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// URL with a host is required"
    if len(url) > 2000 or any(c in url for c in "\r\n\t "):
        return "a URL of at most 2000 characters, without spaces or line breaks"
    return None


def _known(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise InvalidError(
            f"unknown settings: {', '.join(unknown)}", {name: ["unknown"] for name in unknown}
        )
    return {name: settings[name] for name in SETTINGS if name in settings}


def _article(kind: str) -> str:
    return "an enrichment provider" if kind == "enrichment" else "a partner"


def _one_of(choices: tuple[str, ...]) -> str:
    return f"one of {', '.join(choices)}"
