"""`sluice marketplace list`: the leads customers can claim (`sluice lead claim` claims one)."""

from __future__ import annotations

import click

from app.commands.common import emit, json_option, operator, table, with_database
from app.schemas import OfferSchema
from app.services import marketplace


@click.group("marketplace")
def marketplace_group() -> None:
    """The marketplace: leads customers claim (`sluice lead claim TENANT LEAD CUSTOMER`)."""


@marketplace_group.command("list")
@click.argument("tenant")
@click.option("--category", help="Only this category's leads.")
@click.option(
    "--limit", type=click.IntRange(1, marketplace.MAX_OFFERS), default=50, show_default=True
)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@json_option
@with_database
def list_command(tenant: str, category: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List the leads on the marketplace, newest first, with their price and teaser."""
    offers = marketplace.list_marketplace(
        operator(tenant), category=category, limit=limit, offset=offset
    )
    data = OfferSchema(many=True).dump(offers)
    rows = [
        {
            **row,
            "price": f"{row['price']:.2f}",
            "teaser": ", ".join(f"{k}={v}" for k, v in row["teaser"].items()),
        }
        for row in data
    ]
    columns = ["id", "category", "lead_type", "received_at", "price", "teaser"]
    emit(data, as_json, lambda: table(rows, columns))
