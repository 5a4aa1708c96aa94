"""/api/customer/marketplace: the leads you may claim (price and teaser), and a claim."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.api.auth import customer_access
from app.api.schemas import PageSchema
from app.schemas import CustomerLeadSchema, OfferSchema
from app.services import customer_portal

blp = Blueprint(
    "customer_marketplace",
    __name__,
    url_prefix="/api/customer",
    description="Customer API: the marketplace (docs/customers.md).",
)


class OfferQuerySchema(PageSchema):
    category = fields.String(validate=validate.Length(min=1, max=64))


@blp.route("/marketplace", methods=["GET"])
@customer_access
@blp.arguments(OfferQuerySchema, location="query")
@blp.response(200, OfferSchema(many=True))
def list_offers(args):
    """List the leads on the marketplace, newest first: their price and teaser fields."""
    return customer_portal.list_offers(
        g.actor, category=args.get("category"), limit=args["limit"], offset=args["offset"]
    )


@blp.route("/marketplace/<ref>/claim", methods=["POST"])
@customer_access
@blp.response(200, CustomerLeadSchema)
def claim(ref: str):
    """Claim a marketplace lead: the first claim wins (409 to the others); your wallet is
    charged its price and it is delivered to your destinations like any lead you buy."""
    return customer_portal.claim_offer(g.actor, ref)
