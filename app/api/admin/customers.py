"""/api/admin/customers: customers, their settings (return policy, claims a day), wallet
deposits, activation; the tenant's return reasons."""

from __future__ import annotations

from decimal import Decimal

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.domain.money import to_cents
from app.domain.returns import MAX_WINDOW_DAYS
from app.schemas import CreatedUserSchema, CustomerSchema, ReturnReasonsSchema, UserSchema
from app.services import customers, returns

blp = Blueprint("admin_customers", __name__, url_prefix="/api/admin", description="Customers.")


class NewCustomerSchema(Schema):
    slug = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    balance = fields.Decimal(load_default=Decimal("0"), metadata={"example": "500.00"})


class NewCustomerUserSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class DepositSchema(Schema):
    amount = fields.Decimal(required=True, metadata={"example": "250.00"})
    note = fields.String(load_default="deposit", validate=validate.Length(max=200))


class CustomerChangesSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    return_window_days = fields.Integer(
        validate=validate.Range(0, MAX_WINDOW_DAYS),
        metadata={"description": "Days after a sale its lead may be returned."},
    )
    return_limit_percent = fields.Integer(
        allow_none=True,
        validate=validate.Range(0, 100),
        metadata={"description": "At most this percent of a month's leads; null: no limit."},
    )
    claims_per_day = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0, max=customers.MAX_CLAIMS_PER_DAY),
        metadata={"description": "The most marketplace leads it may claim a day; null: no limit."},
    )


@blp.route("/customers", methods=["GET"])
@require("customers.read")
@blp.response(200, CustomerSchema(many=True))
def list_customers():
    """List the tenant's customers with their wallet balances."""
    return customers.list_customers(g.actor)


@blp.route("/customers", methods=["POST"])
@require("customers.write")
@blp.arguments(NewCustomerSchema)
@blp.response(201, CustomerSchema)
def create_customer(body):
    """Create a customer, optionally with an opening balance."""
    return customers.create_customer(g.actor, body["slug"], body["name"], to_cents(body["balance"]))


@blp.route("/customers/<ref>", methods=["GET"])
@require("customers.read")
@blp.response(200, CustomerSchema)
def show_customer(ref: str):
    """Show a customer."""
    return customers.show_customer(g.actor, ref)


@blp.route("/customers/<ref>", methods=["PATCH"])
@require("customers.write")
@blp.arguments(CustomerChangesSchema)
@blp.response(200, CustomerSchema)
def update_customer(body, ref: str):
    """Change a customer's name, return policy or claims a day (only the settings given)."""
    return customers.update_customer(g.actor, ref, body)


@blp.route("/customers/<ref>/deposits", methods=["POST"])
@require("wallets.deposit")
@blp.arguments(DepositSchema)
@blp.response(201, CustomerSchema)
def deposit(body, ref: str):
    """Add money to a customer's wallet."""
    return customers.deposit(g.actor, ref, to_cents(body["amount"]), body["note"])


@blp.route("/customers/<ref>/deactivate", methods=["POST"])
@require("customers.write")
@blp.response(200, CustomerSchema)
def deactivate(ref: str):
    """Deactivate a customer: its bids win nothing until it is activated again."""
    return customers.set_customer_active(g.actor, ref, False)


@blp.route("/customers/<ref>/activate", methods=["POST"])
@require("customers.write")
@blp.response(200, CustomerSchema)
def activate(ref: str):
    """Activate a customer."""
    return customers.set_customer_active(g.actor, ref, True)


@blp.route("/return-reasons", methods=["GET"])
@require("customers.read")
@blp.response(200, ReturnReasonsSchema)
def show_return_reasons():
    """List the reasons a return may give, in order."""
    return {"reasons": returns.return_reasons(g.actor)}


@blp.route("/return-reasons", methods=["PUT"])
@require("customers.write")
@blp.arguments(ReturnReasonsSchema)
@blp.response(200, ReturnReasonsSchema)
def set_return_reasons(body):
    """Replace the reasons a return may give (returns made already keep theirs)."""
    return {"reasons": returns.set_return_reasons(g.actor, body["reasons"])}


@blp.route("/customers/<ref>/users", methods=["GET"])
@require("users.write")
@blp.response(200, UserSchema(many=True))
def list_users(ref: str):
    """List a customer's own users (the customer API), active or not."""
    return customers.list_customer_users(g.actor, ref)


@blp.route("/customers/<ref>/users", methods=["POST"])
@require("users.write")
@blp.arguments(NewCustomerUserSchema)
@blp.response(201, CreatedUserSchema)
def add_user(body, ref: str):
    """Give a customer a user for the customer API; the response holds its token, shown once."""
    return customers.add_customer_user(g.actor, ref, body["email"])


@blp.route("/customers/<ref>/users/<user>", methods=["DELETE"])
@require("users.write")
@blp.response(200, UserSchema)
def remove_user(ref: str, user: str):
    """Deactivate a customer's user (by id or email): its token stops working."""
    return customers.remove_customer_user(g.actor, ref, user)
