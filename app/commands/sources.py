"""`sluice source create|list|show|set|token|tokens|revoke-token|rotate-secret|spec`."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from app.commands.common import emit, json_option, operator, pairs, settings, table, with_database
from app.schemas import (
    CreatedSourceSchema,
    NewTokenSchema,
    RotatedSecretSchema,
    SourceSchema,
    SourceTokenSchema,
)
from app.services import sources
from app.store.sources import ANY_CATEGORY, API_STYLES, MAX_PING_BIDS_SHOWN, MAX_PING_TTL_SECONDS


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
@with_database
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
    created = sources.create_source(
        operator(tenant),
        name,
        category,
        api_style=api_style,
        rate_limit=None if rate_limit == DEFAULT else rate_limit,
        test_mode=test_mode,
    )
    data = CreatedSourceSchema().dump(created)
    source = created.source
    text = {
        "source": f"{source.name} ({source.public_id})",
        "api style": source.api_style,
        "category": "any with a plan" if source.category == ANY_CATEGORY else source.category,
        "rate limit": f"{source.rate_limit or settings()['RATE_LIMIT']} per minute",
        "test mode": source.test_mode,
    }
    if source.api_style == "routio":
        text["seller"] = f"{source.tenant.code} (or {source.tenant.slug})"
        text["api key"] = f"{created.credential}   (shown once; send as Authorization: Bearer)"
    else:
        text["api key"] = source.api_key
        text["api secret"] = f"{created.credential}   (shown once)"
    emit(data, as_json, pairs(text))


@source_group.command("list")
@click.argument("tenant")
@json_option
@with_database
def list_command(tenant: str, as_json: bool) -> None:
    """List a tenant's sources."""
    rows = SourceSchema(many=True).dump(sources.list_sources(operator(tenant)))
    columns = ["id", "name", "api_style", "category", "rate_limit", "test_mode", "active"]
    emit(rows, as_json, lambda: table(rows, columns))


@source_group.command("show")
@click.argument("source")
@json_option
@with_database
def show_command(source: str, as_json: bool) -> None:
    """Show a source (by id or API key)."""
    data = SourceSchema().dump(sources.show_source(operator(), source))
    emit(data, as_json, lambda: pairs(data))


@source_group.command("set")
@click.argument("source")
@click.option("--test-mode/--live", default=None, help="Switch test mode on or off.")
@click.option("--active/--inactive", default=None, help="Inactive sources are refused.")
@click.option("--rate-limit", type=RATE_LIMIT, help="Requests per minute, or 'default'.")
@click.option(
    "--ping-bids-shown",
    type=click.IntRange(1, MAX_PING_BIDS_SHOWN),
    help="How many bids a ping's answer shows (default 1).",
)
@click.option(
    "--ping-ttl",
    "ping_ttl_seconds",
    type=click.IntRange(1, MAX_PING_TTL_SECONDS),
    help="Seconds a ping stays postable (default 300).",
)
@click.option(
    "--internal/--external", default=None, help="Internal: may post a bid_id without a ping."
)
@json_option
@with_database
def set_command(
    source: str,
    test_mode: bool | None,
    active: bool | None,
    rate_limit: int | str | None,
    ping_bids_shown: int | None,
    ping_ttl_seconds: int | None,
    internal: bool | None,
    as_json: bool,
) -> None:
    """Change a source's test mode, active flag, rate limit or ping settings."""
    changes = (
        {} if rate_limit is None else {"rate_limit": None if rate_limit == DEFAULT else rate_limit}
    )
    updated = sources.update_source(
        operator(),
        source,
        test_mode=test_mode,
        active=active,
        ping_bids_shown=ping_bids_shown,
        ping_ttl_seconds=ping_ttl_seconds,
        internal=internal,
        **changes,
    )
    data = SourceSchema().dump(updated)
    emit(data, as_json, lambda: pairs(data))


@source_group.command("token")
@click.argument("source")
@json_option
@with_database
def token_command(source: str, as_json: bool) -> None:
    """Create a bearer token for a source (Routio style: another API key); shown once."""
    new = sources.create_token(operator(), source)
    data = NewTokenSchema().dump(new)
    emit(data, as_json, f"{new.token}   (shown once; id {data['id']})")


@source_group.command("tokens")
@click.argument("source")
@json_option
@with_database
def tokens_command(source: str, as_json: bool) -> None:
    """List a source's bearer tokens: ids and dates (a token is shown only when created)."""
    rows = SourceTokenSchema(many=True).dump(sources.list_tokens(operator(), source))
    emit(rows, as_json, lambda: table(rows, ["id", "created_at", "revoked_at"]))


@source_group.command("revoke-token")
@click.argument("source")
@click.argument("token_id")
@json_option
@with_database
def revoke_token_command(source: str, token_id: str, as_json: bool) -> None:
    """Revoke a source's bearer token by its id (`sluice source tokens`): it stops working."""
    data = SourceTokenSchema().dump(sources.revoke_token(operator(), source, token_id))
    emit(data, as_json, f"revoked {data['id']} at {data['revoked_at']}")


@source_group.command("rotate-secret")
@click.argument("source")
@click.option(
    "--overlap-hours",
    type=click.FloatRange(0, 720),
    default=0.0,
    show_default=True,
    help="How long the old secret still works beside the new one (0: it stops at once).",
)
@json_option
@with_database
def rotate_secret_command(source: str, overlap_hours: float, as_json: bool) -> None:
    """Give a native source a new API secret (shown once); the old one stops working at
    once, or after --overlap-hours."""
    rotated = sources.rotate_secret(operator(), source, timedelta(hours=overlap_hours))
    data = RotatedSecretSchema().dump(rotated)
    text = {"api key": data["api_key"], "api secret": f"{data['api_secret']}   (shown once)"}
    if data["previous_secret_expires_at"] is not None:
        text["old secret works until"] = data["previous_secret_expires_at"]
    emit(data, as_json, pairs(text))


@source_group.command("spec")
@click.argument("source")
@json_option
@with_database
def spec_command(source: str, as_json: bool) -> None:
    """Print a source's API specification (JSON): endpoint, auth, fields, cURL example."""
    config = settings()
    spec = sources.show_source_spec(operator(), source, config["PUBLIC_URL"], config["RATE_LIMIT"])
    emit(spec, as_json, lambda: json.dumps(spec, indent=2))
