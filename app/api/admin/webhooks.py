"""/api/admin/webhooks: the tenant's own endpoints, told of the events they subscribe to."""

from __future__ import annotations

from datetime import timedelta

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.admin.destinations import RotationSchema
from app.api.auth import require
from app.domain.delivery import EVENTS
from app.schemas import RevealedWebhookSchema, WebhookSchema
from app.services import webhooks

blp = Blueprint(
    "admin_webhooks",
    __name__,
    url_prefix="/api/admin",
    description="Tenant webhooks: events sent to the tenant's own endpoints (docs/webhooks.md).",
)


class WebhookSettingsSchema(Schema):
    """A webhook's settings; the service checks them (422 keyed by field)."""

    name = fields.String(metadata={"description": "Default: the URL's host."})
    url = fields.String(metadata={"example": "https://hooks.acme.example/sluice"})
    events = fields.List(
        fields.String(metadata={"enum": list(EVENTS)}),
        metadata={"minItems": 1, "example": ["lead.sold", "lead.unsold", "delivery.failed"]},
    )
    method = fields.String(metadata={"example": "POST"})
    body_format = fields.String(metadata={"example": "json"})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    template = fields.String(allow_none=True)
    success_field = fields.String(allow_none=True, metadata={"example": "status"})
    success_value = fields.Raw(allow_none=True, metadata={"example": "ok"})
    success_pattern = fields.String(allow_none=True)
    retry_schedule = fields.List(fields.Integer(), allow_none=True)


class NewWebhookSchema(WebhookSettingsSchema):
    url = fields.String(required=True, metadata={"example": "https://hooks.acme.example/sluice"})
    events = fields.List(
        fields.String(metadata={"enum": list(EVENTS)}),
        required=True,
        metadata={"minItems": 1, "example": ["lead.sold", "lead.unsold", "delivery.failed"]},
    )


class WebhookChangesSchema(WebhookSettingsSchema):
    active = fields.Boolean(metadata={"description": "false pauses deliveries, true resumes"})


@blp.route("/webhooks", methods=["GET"])
@require("webhooks.read")
@blp.response(200, WebhookSchema(many=True))
def list_webhooks():
    """List the tenant's webhooks (secrets masked)."""
    return webhooks.list_webhooks(g.actor)


@blp.route("/webhooks", methods=["POST"])
@require("webhooks.write")
@blp.arguments(NewWebhookSchema)
@blp.response(201, RevealedWebhookSchema)
def add_webhook(body):
    """Add a webhook; its signing secret is in the answer, shown this once."""
    return webhooks.add_webhook(g.actor, body)


@blp.route("/webhooks/<ref>", methods=["GET"])
@require("webhooks.read")
@blp.response(200, WebhookSchema)
def show_webhook(ref: str):
    """Show a webhook (secrets masked)."""
    return webhooks.show_webhook(g.actor, ref)


@blp.route("/webhooks/<ref>", methods=["PATCH"])
@require("webhooks.write")
@blp.arguments(WebhookChangesSchema)
@blp.response(200, WebhookSchema)
def update_webhook(body, ref: str):
    """Change some settings of a webhook (`events` replaces the list), or pause
    (`active: false`) or resume it."""
    return webhooks.update_webhook(g.actor, ref, body)


@blp.route("/webhooks/<ref>", methods=["DELETE"])
@require("webhooks.write")
@blp.response(204)
def remove_webhook(ref: str):
    """Remove a webhook; its deliveries not yet sent are canceled."""
    webhooks.remove_webhook(g.actor, ref)


@blp.route("/webhooks/<ref>/rotate-secret", methods=["POST"])
@require("webhooks.write")
@blp.arguments(RotationSchema)
@blp.response(200, RevealedWebhookSchema)
def rotate_secret(body, ref: str):
    """Give a webhook a new signing secret, shown this once; the old one keeps signing
    beside it for the overlap."""
    return webhooks.rotate_secret(g.actor, ref, timedelta(hours=body["overlap_hours"]))
