"""`sluice ping list|show`: the ping log, every inbound ping with its answer."""

from __future__ import annotations

import json

import click

from app.commands.common import emit, json_option, operator, table, with_database
from app.schemas import PingDetailSchema, PingSummarySchema
from app.services import pings
from app.services.pings import PING_STATUSES


@click.group("ping")
def ping_group() -> None:
    """Pings: every inbound ping (ping-post), accepted or rejected, with its answer."""


@ping_group.command("list")
@click.argument("tenant")
@click.option("--source", help="A source id (src_...).")
@click.option("--status", type=click.Choice(list(PING_STATUSES)))
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@json_option
@with_database
def ping_list_command(
    tenant: str, source: str | None, status: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """List pings, newest first."""
    found = pings.list_pings(
        operator(tenant), source=source, status=status, limit=limit, offset=offset
    )
    data = PingSummarySchema(many=True).dump(found)
    rows = [
        {**row, "best": _best(row["bids"]), "lead": row["lead_public_id"] or ""} for row in data
    ]
    columns = ["date", "source", "status", "status_code", "best", "lead", "id"]
    emit(data, as_json, lambda: table(rows, columns))


def _best(bids: list[dict]) -> str:
    """Return the best bid of a ping's answer in words ("" when none)."""
    return f"{bids[0]['bid_id']} at {bids[0]['price']:.2f}" if bids else ""


@ping_group.command("show")
@click.argument("tenant")
@click.argument("ping")
@json_option
@with_database
def ping_show_command(tenant: str, ping: str, as_json: bool) -> None:
    """Show a ping: payload (identity left out), answer, errors, the lead posted against it."""
    data = PingDetailSchema().dump(pings.show_ping(operator(tenant), ping))
    emit(data, as_json, lambda: json.dumps(data, indent=2))
