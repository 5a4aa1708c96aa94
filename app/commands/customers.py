"""`sluice customer create|list|deposit|deactivate|activate`."""

from __future__ import annotations

import click

from app.api.schemas import CustomerSchema
from app.commands.common import emit, json_option, pairs, table, with_app
from app.domain.money import to_cents
from app.store.customers import create_customer, deposit, find_customer, list_customers, set_active
from app.store.tenants import find_tenant


@click.group("customer")
def customer_group() -> None:
    """Customers (the buyers bids name) and their wallets."""


def _show(customer, as_json: bool) -> None:
    data = CustomerSchema().dump(customer)
    emit(data, as_json, lambda: pairs({**data, "balance": f"{data['balance']:.2f}"}))


@customer_group.command("create")
@click.argument("tenant")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--balance", default="0", show_default=True, help="Opening wallet balance.")
@json_option
@with_app
def create_command(tenant: str, slug: str, name: str, balance: str, as_json: bool) -> None:
    """Create a customer with an optional opening balance."""
    _show(create_customer(find_tenant(tenant), slug, name, to_cents(balance)), as_json)


@customer_group.command("list")
@click.argument("tenant")
@json_option
@with_app
def list_command(tenant: str, as_json: bool) -> None:
    """List customers with their wallet balances."""
    data = CustomerSchema(many=True).dump(list_customers(find_tenant(tenant)))
    rows = [{**row, "balance": f"{row['balance']:.2f}"} for row in data]
    emit(data, as_json, lambda: table(rows, ["slug", "name", "balance", "active", "id"]))


@customer_group.command("deposit")
@click.argument("tenant")
@click.argument("customer")
@click.argument("amount")
@click.option("--note", default="deposit")
@json_option
@with_app
def deposit_command(tenant: str, customer: str, amount: str, note: str, as_json: bool) -> None:
    """Add AMOUNT to a customer's wallet."""
    found = find_customer(find_tenant(tenant), customer)
    _show(deposit(found, to_cents(amount), note), as_json)


@customer_group.command("deactivate")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_app
def deactivate_command(tenant: str, customer: str, as_json: bool) -> None:
    """Deactivate a customer: its bids win nothing."""
    _show(set_active(find_customer(find_tenant(tenant), customer), False), as_json)


@customer_group.command("activate")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_app
def activate_command(tenant: str, customer: str, as_json: bool) -> None:
    """Activate a customer again."""
    _show(set_active(find_customer(find_tenant(tenant), customer), True), as_json)
