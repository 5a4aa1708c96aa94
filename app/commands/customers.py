"""`sluice customer create|list|show|update|deposit|deactivate|activate`."""

from __future__ import annotations

import click

from app.commands.common import emit, fail, json_option, operator, pairs, table, with_database
from app.commands.customer_users import customer_user_group
from app.commands.destinations import destination_group
from app.domain.money import to_cents
from app.schemas import CustomerSchema
from app.services import customers


@click.group("customer")
def customer_group() -> None:
    """Customers (the buyers bids name) and their wallets."""


customer_group.add_command(destination_group)
customer_group.add_command(customer_user_group)


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


_UNSET = object()


def _claims_limit(ctx, param, value: str | None) -> int | None | object:
    """Parse --claims-per-day: a whole number, or `none` for no limit (absent: unchanged)."""
    if value is None:
        return _UNSET
    if value.strip().lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("a whole number, or 'none' for no limit") from None


@customer_group.command("update")
@click.argument("tenant")
@click.argument("customer")
@click.option("--name", help="A new name.")
@click.option(
    "--return-window-days",
    type=int,
    help="Days after a sale its lead may be returned (default 7).",
)
@click.option(
    "--return-limit-percent",
    type=int,
    help="At most this percent of a month's leads may be returned (default 15).",
)
@click.option("--no-return-limit", is_flag=True, help="Any share of a month's leads.")
@click.option(
    "--claims-per-day",
    callback=_claims_limit,
    metavar="N|none",
    help="The most marketplace leads it may claim a UTC day; 'none': no limit.",
)
@json_option
@with_database
def update_command(
    tenant: str,
    customer: str,
    name: str | None,
    return_window_days: int | None,
    return_limit_percent: int | None,
    no_return_limit: bool,
    claims_per_day,
    as_json: bool,
) -> None:
    """Change a customer's name, return policy or claims a day (only the options given)."""
    if no_return_limit and return_limit_percent is not None:
        fail("give either --return-limit-percent or --no-return-limit", as_json)
    changes: dict = {}
    if name is not None:
        changes["name"] = name
    if return_window_days is not None:
        changes["return_window_days"] = return_window_days
    if return_limit_percent is not None or no_return_limit:
        changes["return_limit_percent"] = return_limit_percent
    if claims_per_day is not _UNSET:
        changes["claims_per_day"] = claims_per_day
    if not changes:
        fail("nothing to change: give --name, a return policy option or --claims-per-day", as_json)
    show(customers.update_customer(operator(tenant), customer, changes), as_json)


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
