"""`sluice customer create|list|show|update|deposit|deactivate|activate`."""

from __future__ import annotations

import click

from app.commands.common import emit, json_option, operator, pairs, table, with_database
from app.commands.destinations import destination_group
from app.domain.money import to_cents
from app.schemas import CustomerSchema
from app.services import customers


@click.group("customer")
def customer_group() -> None:
    """Customers (the buyers bids name) and their wallets."""


customer_group.add_command(destination_group)


def show(customer, as_json: bool) -> None:
    """Print a customer, its balance with two decimals."""
    data = CustomerSchema().dump(customer)
    emit(data, as_json, lambda: pairs({**data, "balance": f"{data['balance']:.2f}"}))


@customer_group.command("create")
@click.argument("tenant")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--balance", default="0", show_default=True, help="Opening wallet balance.")
@json_option
@with_database
def create_command(tenant: str, slug: str, name: str, balance: str, as_json: bool) -> None:
    """Create a customer with an optional opening balance."""
    show(customers.create_customer(operator(tenant), slug, name, to_cents(balance)), as_json)


@customer_group.command("list")
@click.argument("tenant")
@json_option
@with_database
def list_command(tenant: str, as_json: bool) -> None:
    """List customers with their wallet balances."""
    data = CustomerSchema(many=True).dump(customers.list_customers(operator(tenant)))
    rows = [{**row, "balance": f"{row['balance']:.2f}"} for row in data]
    emit(data, as_json, lambda: table(rows, ["slug", "name", "balance", "active", "id"]))


@customer_group.command("show")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_database
def show_command(tenant: str, customer: str, as_json: bool) -> None:
    """Show a customer and its wallet balance."""
    show(customers.show_customer(operator(tenant), customer), as_json)


def _claims_limit(ctx, param, value: str | None) -> int | None | object:
    """Parse --claims-per-day: a whole number, or `none` for no limit."""
    if value is None:
        return customers.KEEP
    if value.strip().lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("a whole number, or 'none' for no limit") from None


@customer_group.command("update")
@click.argument("tenant")
@click.argument("customer")
@click.option(
    "--claims-per-day",
    callback=_claims_limit,
    metavar="N|none",
    help="The most marketplace leads it may claim a UTC day; 'none': no limit.",
)
@json_option
@with_database
def update_command(tenant: str, customer: str, claims_per_day, as_json: bool) -> None:
    """Change a customer's settings; those not given are kept."""
    done = customers.update_customer(operator(tenant), customer, claims_per_day=claims_per_day)
    show(done, as_json)


@customer_group.command("deposit")
@click.argument("tenant")
@click.argument("customer")
@click.argument("amount")
@click.option("--note", default="deposit")
@json_option
@with_database
def deposit_command(tenant: str, customer: str, amount: str, note: str, as_json: bool) -> None:
    """Add AMOUNT to a customer's wallet."""
    show(customers.deposit(operator(tenant), customer, to_cents(amount), note), as_json)


@customer_group.command("deactivate")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_database
def deactivate_command(tenant: str, customer: str, as_json: bool) -> None:
    """Deactivate a customer: its bids win nothing."""
    show(customers.set_customer_active(operator(tenant), customer, False), as_json)


@customer_group.command("activate")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_database
def activate_command(tenant: str, customer: str, as_json: bool) -> None:
    """Activate a customer again."""
    show(customers.set_customer_active(operator(tenant), customer, True), as_json)
