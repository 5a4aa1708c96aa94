"""`sluice source create|list|token|spec|set`."""

from __future__ import annotations

import json

import click
from flask import current_app

from app.api.schemas import SourceSchema
from app.api.spec import source_spec
from app.commands.common import emit, json_option, pairs, table, with_app
from app.store.rules import active_ruleset
from app.store.sources import create_source, create_token, find_source, list_sources, update_source
from app.store.tenants import find_tenant


@click.group("source")
def source_group() -> None:
    """Sources: where leads come from, and their credentials."""


@source_group.command("create")
@click.argument("tenant")
@click.option("--name", required=True)
@click.option("--category", required=True, help="The lead category its leads belong to.")
@click.option("--test-mode", is_flag=True, help="Deterministic test outcomes; nothing is sold.")
@json_option
@with_app
def create_command(tenant: str, name: str, category: str, test_mode: bool, as_json: bool):
    """Create a source; print its API key and secret (the secret is shown once)."""
    source, secret = create_source(find_tenant(tenant), name, category, test_mode)
    data = {**SourceSchema().dump(source), "api_secret": secret}
    emit(
        data,
        as_json,
        pairs(
            {
                "source": f"{source.name} ({source.public_id})",
                "category": source.category,
                "test mode": source.test_mode,
                "api key": source.api_key,
                "api secret": f"{secret}   (shown once)",
            }
        ),
    )


@source_group.command("list")
@click.argument("tenant")
@json_option
@with_app
def list_command(tenant: str, as_json: bool) -> None:
    """List a tenant's sources."""
    rows = SourceSchema(many=True).dump(list_sources(find_tenant(tenant)))
    emit(rows, as_json, lambda: table(rows, ["id", "name", "category", "test_mode", "active"]))


@source_group.command("token")
@click.argument("source")
@json_option
@with_app
def token_command(source: str, as_json: bool) -> None:
    """Create a bearer token for a source (by id or API key); shown once."""
    found = find_source(source)
    _, token = create_token(found)
    emit({"source": found.public_id, "token": token}, as_json, f"{token}   (shown once)")


@source_group.command("set")
@click.argument("source")
@click.option("--test-mode/--live", default=None, help="Switch test mode on or off.")
@click.option("--active/--inactive", default=None, help="Inactive sources are refused.")
@json_option
@with_app
def set_command(source: str, test_mode: bool | None, active: bool | None, as_json: bool) -> None:
    """Change a source's test mode or active flag."""
    found = update_source(find_source(source), test_mode=test_mode, active=active)
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
