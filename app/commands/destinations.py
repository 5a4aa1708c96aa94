"""`sluice customer destination add|list|show|update|remove|rotate-secret`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from app.commands.common import emit, json_option, operator, table, with_database
from app.commands.delivery_settings import (
    http_options,
    http_settings,
    overlap_option,
    show_removed,
    show_row,
)
from app.schemas import DestinationSchema, RevealedDestinationSchema
from app.services import destinations


@click.group("destination")
def destination_group() -> None:
    """Where a customer's sold leads are delivered (docs/delivery.md)."""


def settings_options(command):
    """Add the options every destination setting has (add and update)."""
    command = click.option(
        "--email", "emails", multiple=True, help="Email destination: an address."
    )(command)
    return http_options(command)


def settings_of(options: dict[str, Any]) -> dict[str, Any]:
    """Return the settings the given options name (absent options are left out)."""
    settings = http_settings(options)
    if options.get("emails"):
        settings["addresses"] = list(options["emails"])
    return settings


def show(row, as_json: bool, schema=DestinationSchema) -> None:
    """Print a destination (secrets masked, but a secret just made)."""
    show_row(schema().dump(row), as_json)


@destination_group.command("add")
@click.argument("tenant")
@click.argument("customer")
@settings_options
@json_option
@with_database
def add_command(tenant: str, customer: str, as_json: bool, **options: Any) -> None:
    """Add an HTTP (--url) or email (--email) destination; its signing secret is shown once."""
    settings = settings_of(options)
    settings["kind"] = "email" if options.get("emails") else "http"
    row = destinations.add_destination(operator(tenant), customer, settings)
    show(row, as_json, RevealedDestinationSchema)


@destination_group.command("list")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_database
def list_command(tenant: str, customer: str, as_json: bool) -> None:
    """List a customer's destinations."""
    data = DestinationSchema(many=True).dump(
        destinations.list_destinations(operator(tenant), customer)
    )
    rows = [{**row, "to": row["url"] or ", ".join(row["addresses"] or [])} for row in data]
    emit(data, as_json, lambda: table(rows, ["id", "name", "kind", "to", "active"]))


@destination_group.command("show")
@click.argument("tenant")
@click.argument("customer")
@click.argument("destination")
@json_option
@with_database
def show_command(tenant: str, customer: str, destination: str, as_json: bool) -> None:
    """Show a destination (secrets masked)."""
    show(destinations.show_destination(operator(tenant), customer, destination), as_json)


@destination_group.command("update")
@click.argument("tenant")
@click.argument("customer")
@click.argument("destination")
@settings_options
@click.option("--pause/--resume", "paused", default=None, help="Stop or restart deliveries.")
@json_option
@with_database
def update_command(
    tenant: str, customer: str, destination: str, paused: bool | None, as_json: bool, **options: Any
) -> None:
    """Change some settings of a destination, or pause or resume it."""
    changes = settings_of(options)
    if paused is not None:
        changes["active"] = not paused
    row = destinations.update_destination(operator(tenant), customer, destination, changes)
    show(row, as_json)


@destination_group.command("remove")
@click.argument("tenant")
@click.argument("customer")
@click.argument("destination")
@json_option
@with_database
def remove_command(tenant: str, customer: str, destination: str, as_json: bool) -> None:
    """Remove a destination; its deliveries not sent yet are canceled."""
    canceled = destinations.remove_destination(operator(tenant), customer, destination)
    show_removed(destination, canceled, as_json)


@destination_group.command("rotate-secret")
@click.argument("tenant")
@click.argument("customer")
@click.argument("destination")
@overlap_option
@json_option
@with_database
def rotate_command(
    tenant: str, customer: str, destination: str, overlap_hours: float, as_json: bool
) -> None:
    """Give a destination a new signing secret, shown once."""
    overlap = timedelta(hours=overlap_hours)
    row = destinations.rotate_secret(operator(tenant), customer, destination, overlap)
    show(row, as_json, RevealedDestinationSchema)
