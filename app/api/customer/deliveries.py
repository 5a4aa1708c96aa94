"""/api/customer/deliveries: the leads sent to your destinations, and every attempt."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.api.auth import customer_access
from app.api.schemas import PageSchema
from app.domain.delivery import DELIVERY_STATUSES, EVENTS
from app.schemas import CustomerDeliveryDetailSchema, CustomerDeliverySchema
from app.services import customer_portal
from app.services.deliveries import DeliveryFilter

blp = Blueprint(
    "customer_deliveries",
    __name__,
    url_prefix="/api/customer",
    description="Customer API: deliveries to your destinations (docs/customers.md).",
)
TOTAL = {
    "X-Total-Count": {
        "description": "How many deliveries match the filters, all pages together.",
        "schema": {"type": "integer"},
    }
}


class CustomerDeliveryQuerySchema(PageSchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    destination = fields.String(metadata={"description": "One of your destinations (dst_...)."})
    lead = fields.String(metadata={"description": "A lead id (lead_...)."})
    event = fields.String(validate=validate.OneOf(list(EVENTS)))


@blp.route("/deliveries", methods=["GET"])
@customer_access
@blp.arguments(CustomerDeliveryQuerySchema, location="query")
@blp.response(200, CustomerDeliverySchema(many=True), headers=TOTAL)
def list_deliveries(args):
    """List the deliveries to your destinations, newest first."""
    filters = DeliveryFilter(
        status=args.get("status"),
        destination=args.get("destination"),
        lead=args.get("lead"),
        event=args.get("event"),
    )
    found = customer_portal.list_own_deliveries(
        g.actor, filters, limit=args["limit"], offset=args["offset"]
    )
    total = customer_portal.count_own_deliveries(g.actor, filters)
    return found, {"X-Total-Count": str(total)}


@blp.route("/deliveries/<ref>", methods=["GET"])
@customer_access
@blp.response(200, CustomerDeliveryDetailSchema)
def show_delivery(ref: str):
    """Show a delivery to one of your destinations: what was sent and every attempt."""
    return customer_portal.show_own_delivery(g.actor, ref)
