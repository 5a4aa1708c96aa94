"""/api/admin/customers/<ref>/destinations: where a customer's sold leads are delivered."""

from __future__ import annotations

from datetime import timedelta

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.schemas import DestinationSchema, RevealedDestinationSchema
from app.services import destinations

blp = Blueprint(
    "admin_destinations",
    __name__,
    url_prefix="/api/admin",
    description="Customers' delivery destinations (docs/delivery.md).",
)


class DestinationSettingsSchema(Schema):
    """A destination's settings; the service checks them (422 keyed by field)."""

    name = fields.String(metadata={"example": "Acme CRM"})
    kind = fields.String(validate=validate.OneOf(("http", "email")))
    url = fields.String(allow_none=True, metadata={"example": "https://buyer.example/leads"})
    method = fields.String(metadata={"example": "POST"})
    body_format = fields.String(metadata={"example": "json"})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    template = fields.String(allow_none=True)
    success_field = fields.String(allow_none=True, metadata={"example": "status"})
    success_value = fields.Raw(allow_none=True, metadata={"example": "accepted"})
    success_pattern = fields.String(allow_none=True)
    retry_schedule = fields.List(fields.Integer(), allow_none=True)
    addresses = fields.List(fields.String(), allow_none=True)


class NewDestinationSchema(DestinationSettingsSchema):
    name = fields.String(required=True, metadata={"example": "Acme CRM"})
    kind = fields.String(required=True, validate=validate.OneOf(("http", "email")))


class DestinationChangesSchema(DestinationSettingsSchema):
    active = fields.Boolean(metadata={"description": "false pauses deliveries, true resumes"})


class RotationSchema(Schema):
    overlap_hours = fields.Float(
        load_default=24.0,
        validate=validate.Range(min=0, max=720),
        metadata={"description": "How long the old secret still signs beside the new one."},
    )


@blp.route("/customers/<ref>/destinations", methods=["GET"])
@require("customers.read")
@blp.response(200, DestinationSchema(many=True))
def list_destinations(ref: str):
    """List a customer's delivery destinations (secrets masked)."""
    return destinations.list_destinations(g.actor, ref)


@blp.route("/customers/<ref>/destinations", methods=["POST"])
@require("customers.write")
@blp.arguments(NewDestinationSchema)
@blp.response(201, RevealedDestinationSchema)
def add_destination(body, ref: str):
    """Add a destination; an HTTP one's signing secret is in the answer, shown this once."""
    return destinations.add_destination(g.actor, ref, body)


@blp.route("/customers/<ref>/destinations/<dst>", methods=["GET"])
@require("customers.read")
@blp.response(200, DestinationSchema)
def show_destination(ref: str, dst: str):
    """Show a destination (secrets masked)."""
    return destinations.show_destination(g.actor, ref, dst)


@blp.route("/customers/<ref>/destinations/<dst>", methods=["PATCH"])
@require("customers.write")
@blp.arguments(DestinationChangesSchema)
@blp.response(200, DestinationSchema)
def update_destination(body, ref: str, dst: str):
    """Change some settings of a destination, or pause (`active: false`) or resume it."""
    return destinations.update_destination(g.actor, ref, dst, body)


@blp.route("/customers/<ref>/destinations/<dst>", methods=["DELETE"])
@require("customers.write")
@blp.response(204)
def remove_destination(ref: str, dst: str):
    """Delete a destination."""
    destinations.remove_destination(g.actor, ref, dst)


@blp.route("/customers/<ref>/destinations/<dst>/rotate-secret", methods=["POST"])
@require("customers.write")
@blp.arguments(RotationSchema)
@blp.response(200, RevealedDestinationSchema)
def rotate_secret(body, ref: str, dst: str):
    """Give a destination a new signing secret, shown this once; the old one keeps signing
    beside it for the overlap."""
    overlap = timedelta(hours=body["overlap_hours"])
    return destinations.rotate_secret(g.actor, ref, dst, overlap)
