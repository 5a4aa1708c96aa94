"""/api/admin/marketplace and /api/admin/leads/<id>/claim: the leads customers can claim,
and a claim on a customer's behalf."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.api.auth import require
from app.api.schemas import PageSchema
from app.schemas import LeadDetailSchema, OfferSchema
from app.services import marketplace
from app.store.storable import unstorable

blp = Blueprint(
    "admin_marketplace", __name__, url_prefix="/api/admin", description="The marketplace."
)


class MarketplaceQuerySchema(PageSchema):
    category = fields.String(validate=validate.Length(min=1, max=64))


class ClaimSchema(Schema):
    customer = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The customer who claims the lead: its slug or id."},
    )

    @validates("customer")
    def _storable(self, value: str, **kwargs) -> None:
        problem = unstorable(value)
        if problem:  # no customer is named so: a 422, not the database's error
            raise ValidationError(f"contains {problem}")


@blp.route("/marketplace", methods=["GET"])
@require("leads.read")
@blp.arguments(MarketplaceQuerySchema, location="query")
@blp.response(200, OfferSchema(many=True))
def list_marketplace(args):
    """List the leads on the marketplace, newest first, with their price and teaser."""
    return marketplace.list_marketplace(
        g.actor, category=args.get("category"), limit=args["limit"], offset=args["offset"]
    )


@blp.route("/leads/<ref>/claim", methods=["POST"])
@require("leads.claim")
@blp.arguments(ClaimSchema)
@blp.response(200, LeadDetailSchema)
def claim(body, ref: str):
    """Claim a marketplace lead for a customer: charged its price, assigned, delivered."""
    return marketplace.claim_lead(g.actor, ref, customer_ref=body["customer"])
