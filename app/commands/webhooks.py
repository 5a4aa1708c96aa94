"""`sluice webhook add|list|show|update|remove|rotate-secret`."""

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
from app.schemas import RevealedWebhookSchema, WebhookSchema
from app.services import webhooks


@click.group("webhook")
def webhook_group() -> None:
    """The tenant's webhooks: events sent to its own endpoints (docs/webhooks.md)."""


def settings_options(command):
    """Add the options every webhook setting has (add and update)."""
    command = click.option(
        "--events",
        multiple=True,
        help="Events, comma-separated, e.g. lead.sold,lead.unsold,delivery.failed"
        " (docs/webhooks.md lists them).",
    )(command)
    return http_options(command)


def settings_of(options: dict[str, Any]) -> dict[str, Any]:
    """Return the settings the given options name (absent options are left out)."""
    settings = http_settings(options)
    if options.get("events"):
        given = ",".join(options["events"]).split(",")
        settings["events"] = [event.strip() for event in given if event.strip()]
    return settings


def show(row, as_json: bool, schema=WebhookSchema) -> None:
    """Print a webhook (secrets masked, but a secret just made)."""
    show_row(schema().dump(row), as_json)


@webhook_group.command("add")
@click.argument("tenant")
@settings_options
@json_option
@with_database
def add_command(tenant: str, as_json: bool, **options: Any) -> None:
    """Add a webhook (--url, --events); its signing secret is shown once."""
    row = webhooks.add_webhook(operator(tenant), settings_of(options))
    show(row, as_json, RevealedWebhookSchema)


@webhook_group.command("list")
@click.argument("tenant")
@json_option
@with_database
def list_command(tenant: str, as_json: bool) -> None:
    """List the tenant's webhooks."""
    data = WebhookSchema(many=True).dump(webhooks.list_webhooks(operator(tenant)))
    rows = [{**row, "events": ",".join(row["events"])} for row in data]
    emit(data, as_json, lambda: table(rows, ["id", "name", "url", "events", "active"]))


@webhook_group.command("show")
@click.argument("tenant")
@click.argument("webhook")
@json_option
@with_database
def show_command(tenant: str, webhook: str, as_json: bool) -> None:
    """Show a webhook (secrets masked)."""
    show(webhooks.show_webhook(operator(tenant), webhook), as_json)


@webhook_group.command("update")
@click.argument("tenant")
@click.argument("webhook")
@settings_options
@click.option("--pause/--resume", "paused", default=None, help="Stop or restart deliveries.")
@json_option
@with_database
def update_command(
    tenant: str, webhook: str, paused: bool | None, as_json: bool, **options: Any
) -> None:
    """Change some settings of a webhook (--events replaces its list), or pause or resume it."""
    changes = settings_of(options)
    if paused is not None:
        changes["active"] = not paused
    show(webhooks.update_webhook(operator(tenant), webhook, changes), as_json)


@webhook_group.command("remove")
@click.argument("tenant")
@click.argument("webhook")
@json_option
@with_database
def remove_command(tenant: str, webhook: str, as_json: bool) -> None:
    """Remove a webhook; its deliveries not sent yet are canceled."""
    canceled = webhooks.remove_webhook(operator(tenant), webhook)
    show_removed(webhook, canceled, as_json)


@webhook_group.command("rotate-secret")
@click.argument("tenant")
@click.argument("webhook")
@overlap_option
@json_option
@with_database
def rotate_command(tenant: str, webhook: str, overlap_hours: float, as_json: bool) -> None:
    """Give a webhook a new signing secret, shown once."""
    overlap = timedelta(hours=overlap_hours)
    show(webhooks.rotate_secret(operator(tenant), webhook, overlap), as_json, RevealedWebhookSchema)
