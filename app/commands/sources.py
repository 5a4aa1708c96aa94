"""`sluice source create|list|token|spec|set`."""

from __future__ import annotations

import json

import click
from flask import current_app

from app.api.admin.sources import CreatedSourceSchema, shown_once
from app.api.schemas import SourceSchema
from app.commands.common import emit, json_option, pairs, table, with_app
from app.services.spec import source_spec
from app.store.rules import active_ruleset
from app.store.sources import (
    ANY_CATEGORY,
    API_STYLES,
    create_source,
    create_token,
    find_source,
    list_sources,
    update_source,
)
from app.store.tenants import find_tenant


@click.group("source")
def source_group() -> None:
    """Sources: where leads come from, and their credentials."""


class RateLimitType(click.ParamType):
    """Requests per minute, or `default` (back to SLUICE_RATE_LIMIT)."""

    name = "N|default"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if value.strip().lower() == "default":
            return DEFAULT
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of requests per minute or 'default'")


DEFAULT = "default"
RATE_LIMIT = RateLimitType()


@source_group.command("create")
@click.argument("tenant")
@click.option("--name", required=True)
@click.option(
    "--category",
    help="The lead category its leads belong to (required for native sources; a "
    "Routio-style source without one posts to any category with a plan).",
)
@click.option(
    "--api-style",
    type=click.Choice(API_STYLES),
    default="native",
    show_default=True,
    help="routio: Bearer API key, seller and category in each request, camelCase fields.",
)
@click.option("--rate-limit", type=RATE_LIMIT, help="Requests per minute (default: 60).")
@click.option("--test-mode", is_flag=True, help="Deterministic test outcomes; nothing is sold.")
@json_option
@with_app
def create_command(
    tenant: str,
    name: str,
    category: str | None,
    api_style: str,
    rate_limit: int | str | None,
    test_mode: bool,
    as_json: bool,
):
    """Create a source; print its credentials (the secret or Routio API key is shown once)."""
    source, credential = create_source(
        find_tenant(tenant),
        name,
        category,
        test_mode,
        api_style=api_style,
        rate_limit=None if rate_limit == DEFAULT else rate_limit,
    )
    data = CreatedSourceSchema().dump(shown_once(source, credential))
    text = {
        "source": f"{source.name} ({source.public_id})",
        "api style": source.api_style,
        "category": "any with a plan" if source.category == ANY_CATEGORY else source.category,
        "rate limit": f"{source.rate_limit or current_app.config['RATE_LIMIT']} per minute",
        "test mode": source.test_mode,
    }
    if source.api_style == "routio":
        text["seller"] = f"{source.tenant.code} (or {source.tenant.slug})"
        text["api key"] = f"{credential}   (shown once; send as Authorization: Bearer)"
    else:
        text["api key"] = source.api_key
        text["api secret"] = f"{credential}   (shown once)"
    emit(data, as_json, pairs(text))


@source_group.command("list")
@click.argument("tenant")
@json_option
@with_app
def list_command(tenant: str, as_json: bool) -> None:
    """List a tenant's sources."""
    rows = SourceSchema(many=True).dump(list_sources(find_tenant(tenant)))
    columns = ["id", "name", "api_style", "category", "rate_limit", "test_mode", "active"]
    emit(rows, as_json, lambda: table(rows, columns))


@source_group.command("token")
@click.argument("source")
@json_option
@with_app
def token_command(source: str, as_json: bool) -> None:
    """Create a bearer token for a source (Routio style: another API key); shown once."""
    found = find_source(source)
    _, token = create_token(found)
    emit({"source": found.public_id, "token": token}, as_json, f"{token}   (shown once)")


@source_group.command("set")
@click.argument("source")
@click.option("--test-mode/--live", default=None, help="Switch test mode on or off.")
@click.option("--active/--inactive", default=None, help="Inactive sources are refused.")
@click.option("--rate-limit", type=RATE_LIMIT, help="Requests per minute, or 'default'.")
@json_option
@with_app
def set_command(
    source: str,
    test_mode: bool | None,
    active: bool | None,
    rate_limit: int | str | None,
    as_json: bool,
) -> None:
    """Change a source's test mode, active flag or rate limit."""
    changes = (
        {} if rate_limit is None else {"rate_limit": None if rate_limit == DEFAULT else rate_limit}
    )
    found = update_source(find_source(source), test_mode=test_mode, active=active, **changes)
    data = SourceSchema().dump(found)
    emit(data, as_json, lambda: pairs(data))


@source_group.command("spec")
@click.argument("source")
@json_option
@with_app
def spec_command(source: str, as_json: bool) -> None:
    """Print a source's API specification (JSON): endpoint, auth, fields, cURL example."""
    found = find_source(source)
    _, ruleset = active_ruleset(found.tenant_id)
    spec = source_spec(found, ruleset, current_app.config["PUBLIC_URL"])
    emit(spec, as_json, lambda: json.dumps(spec, indent=2))
