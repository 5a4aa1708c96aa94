"""`sluice customer user add|list|remove`: a customer's own users, for the customer API."""

from __future__ import annotations

import click

from app.commands.common import emit, json_option, operator, pairs, table, with_database
from app.schemas import CreatedUserSchema, UserSchema
from app.services import customers


@click.group("user")
def customer_user_group() -> None:
    """A customer's own users: their tokens open the customer API (docs/customers.md)."""


@customer_user_group.command("add")
@click.argument("tenant")
@click.argument("customer")
@click.argument("email")
@json_option
@with_database
def add_command(tenant: str, customer: str, email: str, as_json: bool) -> None:
    """Give CUSTOMER a user; print its token (shown once)."""
    data = CreatedUserSchema().dump(customers.add_customer_user(operator(tenant), customer, email))
    text = {
        "user": f"{data['email']} (customer {data['customer']})",
        "token": f"{data['token']}   (shown once)",
    }
    emit(data, as_json, pairs(text))


@customer_user_group.command("list")
@click.argument("tenant")
@click.argument("customer")
@json_option
@with_database
def list_command(tenant: str, customer: str, as_json: bool) -> None:
    """List a customer's users, active or not."""
    rows = UserSchema(many=True).dump(customers.list_customer_users(operator(tenant), customer))
    emit(rows, as_json, lambda: table(rows, ["id", "email", "active", "created_at"]))


@customer_user_group.command("remove")
@click.argument("tenant")
@click.argument("customer")
@click.argument("email")
@json_option
@with_database
def remove_command(tenant: str, customer: str, email: str, as_json: bool) -> None:
    """Deactivate a customer's user (EMAIL or its id): its token stops working."""
    data = UserSchema().dump(customers.remove_customer_user(operator(tenant), customer, email))
    emit(data, as_json, pairs({"user": f"{data['email']} deactivated"}))
