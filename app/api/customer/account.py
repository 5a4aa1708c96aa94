"""/api/customer/me and /api/customer/wallet."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import customer_access
from app.api.schemas import PageSchema
from app.schemas import CustomerMeSchema, WalletSchema
from app.services import customer_portal

blp = Blueprint(
    "customer_account",
    __name__,
    url_prefix="/api/customer",
    description="Customer API: who you are and your wallet (docs/customers.md).",
)


@blp.route("/me", methods=["GET"])
@customer_access
@blp.response(200, CustomerMeSchema)
def me():
    """Show the customer your token acts for, with its balance."""
    return customer_portal.show_customer(g.actor)


@blp.route("/wallet", methods=["GET"])
@customer_access
@blp.arguments(PageSchema, location="query")
@blp.response(200, WalletSchema)
def wallet(args):
    """Show your balance and your wallet's entries, newest first: deposits, charges, credits."""
    return customer_portal.show_wallet(g.actor, limit=args["limit"], offset=args["offset"])
