"""/api/admin/pings: the ping log, every inbound ping with its answer (docs/ping-post.md)."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.api.auth import require
from app.api.schemas import PageSchema
from app.schemas import PingDetailSchema, PingSummarySchema
from app.services import pings
from app.services.pings import PING_STATUSES

blp = Blueprint("admin_pings", __name__, url_prefix="/api/admin", description="The ping log.")


class PingQuerySchema(PageSchema):
    source = fields.String(metadata={"description": "A source's public id."})
    status = fields.String(validate=validate.OneOf(PING_STATUSES))


@blp.route("/pings", methods=["GET"])
@require("posts.read")
@blp.arguments(PingQuerySchema, location="query")
@blp.response(200, PingSummarySchema(many=True))
def list_pings(args):
    """List pings (every inbound ping, accepted or rejected), newest first."""
    return pings.list_pings(
        g.actor,
        source=args.get("source"),
        status=args.get("status"),
        limit=args["limit"],
        offset=args["offset"],
    )


@blp.route("/pings/<ref>", methods=["GET"])
@require("posts.read")
@blp.response(200, PingDetailSchema)
def show_ping(ref: str):
    """Show a ping: payload (identity left out), answer, errors, the lead posted against it."""
    return pings.show_ping(g.actor, ref)
