"""`sluice customer destination add|list|show|update|remove|rotate-secret`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click

from app.commands.common import emit, json_option, operator, pairs, table, with_database
from app.domain.errors import InvalidError
from app.schemas import DestinationSchema, RevealedDestinationSchema
from app.services import destinations


@click.group("destination")
def destination_group() -> None:
    """Where a customer's sold leads are delivered (docs/delivery.md)."""


def settings_options(command):
    """Add the options every destination setting has (add and update)."""
    options = [
        click.option("--name", help="A name for people."),
        click.option("--url", help="HTTP destination: the http(s) URL posted to."),
        click.option("--email", "emails", multiple=True, help="Email destination: an address."),
        click.option("--method", type=click.Choice(["POST", "PUT"], case_sensitive=False)),
        click.option("--format", "body_format", type=click.Choice(["json", "form"])),
        click.option(
            "--header", "headers", multiple=True, help="'Name: value' (repeat; kept encrypted)."
        ),
        click.option("--template-file", type=click.File("r"), help="A Jinja2 body template."),
        click.option("--success-field", help="A JSON field of a 2xx answer that must equal..."),
        click.option("--success-value", help="...this value (JSON, else text)."),
        click.option("--success-pattern", help="A regular expression a 2xx answer must match."),
        click.option("--retry-schedule", help="Seconds between attempts, e.g. 5,30,120."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def settings_of(options: dict[str, Any]) -> dict[str, Any]:
    """Return the settings the given options name (absent options are left out)."""
    settings: dict[str, Any] = {}
    for name in ("name", "url", "body_format", "success_field", "success_pattern"):
        if options.get(name) is not None:
            settings[name] = options[name]
    if options.get("method"):
        settings["method"] = options["method"].upper()
    if options.get("emails"):
        settings["addresses"] = list(options["emails"])
    if options.get("headers"):
        settings["headers"] = dict(_header(text) for text in options["headers"])
    if options.get("template_file") is not None:
        settings["template"] = options["template_file"].read()
    if options.get("success_value") is not None:
        try:
            settings["success_value"] = json.loads(options["success_value"])
        except ValueError:
            settings["success_value"] = options["success_value"]
    if options.get("retry_schedule") is not None:
        try:
            settings["retry_schedule"] = [int(s) for s in options["retry_schedule"].split(",")]
        except ValueError:
            raise InvalidError(
                "retry_schedule: whole seconds, comma-separated",
                {"retry_schedule": ["whole seconds, comma-separated"]},
            ) from None
    return settings


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon:
        raise InvalidError(
            f"--header {name!r}: 'Name: value' expected", {"headers": ["Name: value"]}
        )
    return name.strip(), value.strip()


def show(row, as_json: bool, schema=DestinationSchema) -> None:
    """Print a destination (secrets masked, but a secret just made)."""
    data = schema().dump(row)
    text = {**data, "headers": ", ".join(f"{k}: {v}" for k, v in data["headers"].items())}
    if data.get("signing_secret"):
        text["signing_secret"] = f"{data['signing_secret']}   (shown once)"
    emit(data, as_json, lambda: pairs(text))


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
    """Delete a destination."""
    destinations.remove_destination(operator(tenant), customer, destination)
    emit({"removed": destination}, as_json, f"removed {destination}")


@destination_group.command("rotate-secret")
@click.argument("tenant")
@click.argument("customer")
@click.argument("destination")
@click.option(
    "--overlap-hours",
    type=click.FloatRange(0, 720),
    default=24.0,
    show_default=True,
    help="How long the old secret still signs beside the new one.",
)
@json_option
@with_database
def rotate_command(
    tenant: str, customer: str, destination: str, overlap_hours: float, as_json: bool
) -> None:
    """Give a destination a new signing secret, shown once."""
    overlap = timedelta(hours=overlap_hours)
    row = destinations.rotate_secret(operator(tenant), customer, destination, overlap)
    show(row, as_json, RevealedDestinationSchema)
