"""/api/admin/deliveries: every message sent to a buyer or a webhook, its attempts, and the
replay of dead ones (docs/delivery.md)."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.api.schemas import PageSchema
from app.domain.delivery import DELIVERY_STATUSES, EVENTS
from app.schemas import DeliveryDetailSchema, DeliveryReplaySchema, DeliverySummarySchema
from app.services import deliveries
from app.services.deliveries import MAX_NAMED, DeliveryFilter

blp = Blueprint(
    "admin_deliveries",
    __name__,
    url_prefix="/api/admin",
    description="Deliveries, their attempts, and the replay of dead ones (docs/delivery.md).",
)

_ID = fields.String(validate=validate.Length(min=1, max=64), metadata={"example": "msg_01j..."})
TOTAL = {
    "X-Total-Count": {
        "description": "How many deliveries match the filters, all pages together.",
        "schema": {"type": "integer"},
    }
}


class DeliveryQuerySchema(PageSchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    destination = fields.String(
        metadata={"description": "A destination (dst_...) or webhook (whk_...) id."}
    )
    customer = fields.String(metadata={"description": "A customer id (cus_...) or slug."})
    lead = fields.String(metadata={"description": "A lead id (lead_...)."})
    event = fields.String(validate=validate.OneOf(list(EVENTS)))


class ReplaySchema(Schema):
    """Deliveries to replay: named ones, or every dead one (of a destination)."""

    ids = fields.List(_ID, validate=validate.Length(min=1, max=MAX_NAMED))
    all_dead = fields.Boolean(
        load_default=False, metadata={"description": "Replay every dead delivery."}
    )
    destination = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "With all_dead: only this destination's (dst_... or whk_...)."},
    )


def delivery_filter(args: dict) -> DeliveryFilter:
    """Return the delivery filter of the query arguments."""
    return DeliveryFilter(
        status=args.get("status"),
        destination=args.get("destination"),
        customer=args.get("customer"),
        lead=args.get("lead"),
        event=args.get("event"),
    )


@blp.route("/deliveries", methods=["GET"])
@require("deliveries.read")
@blp.arguments(DeliveryQuerySchema, location="query")
@blp.response(200, DeliverySummarySchema(many=True), headers=TOTAL)
def list_deliveries(args):
    """List deliveries, newest first; `status=dead` lists the dead letters."""
    filters = delivery_filter(args)
    found = deliveries.list_deliveries(g.actor, filters, limit=args["limit"], offset=args["offset"])
    total = deliveries.count_deliveries(g.actor, filters)
    return found, {"X-Total-Count": str(total)}


@blp.route("/deliveries/<ref>", methods=["GET"])
@require("deliveries.read")
@blp.response(200, DeliveryDetailSchema)
def show_delivery(ref: str):
    """Show a delivery: its payload and every attempt (status code, answer, error)."""
    return deliveries.show_delivery(g.actor, ref)


@blp.route("/deliveries/<ref>/retry", methods=["POST"])
@require("deliveries.retry")
@blp.response(200, DeliveryReplaySchema)
def retry_delivery(ref: str):
    """Replay a dead delivery (a new round of retries, the same webhook-id), or attempt a
    pending one now; 409 for one delivered, canceled or being sent."""
    return deliveries.retry_deliveries(g.actor, [ref])


@blp.route("/deliveries/retry", methods=["POST"])
@require("deliveries.retry")
@blp.arguments(ReplaySchema)
@blp.response(200, DeliveryReplaySchema)
def retry_deliveries(body):
    """Replay deliveries: `{"ids": [...]}`, or `{"all_dead": true}` with an optional
    `destination`; all or nothing."""
    return deliveries.retry_deliveries(
        g.actor,
        body.get("ids"),
        all_dead=body["all_dead"],
        destination=body.get("destination"),
    )
