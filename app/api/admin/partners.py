"""/api/admin/partners: partners pinged and posted to, and enrichment providers."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.schemas import PartnerSchema
from app.services import partners

blp = Blueprint(
    "admin_partners",
    __name__,
    url_prefix="/api/admin",
    description="Partners and enrichment providers the plan's stages call (docs/partners.md).",
)


class PartnerSettingsSchema(Schema):
    """A partner's settings; the service checks them (422 keyed by field)."""

    name = fields.String(metadata={"example": "leadco"})
    kind = fields.String(validate=validate.OneOf(("partner", "enrichment")))
    ping_url = fields.String(allow_none=True, metadata={"example": "https://leadco.example/ping"})
    post_url = fields.String(allow_none=True, metadata={"example": "https://leadco.example/post"})
    url = fields.String(allow_none=True)
    method = fields.String(metadata={"example": "POST"})
    body_format = fields.String(metadata={"example": "json"})
    field_map = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        allow_none=True,
        metadata={"example": {"zip_code": "zip", "ping_id": "@reference"}},
    )
    template = fields.String(allow_none=True)
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        allow_none=True,
        metadata={"description": "Credentials: kept encrypted, never shown again."},
    )
    timeout_ms = fields.Integer(metadata={"example": 2000})
    accepted_path = fields.String(allow_none=True, metadata={"example": "status == 'accepted'"})
    accepted_pattern = fields.String(allow_none=True)
    price_path = fields.String(allow_none=True, metadata={"example": "bid.price"})
    price_pattern = fields.String(allow_none=True)
    reason_path = fields.String(allow_none=True)
    reason_pattern = fields.String(allow_none=True)
    redirect_path = fields.String(allow_none=True)
    redirect_pattern = fields.String(allow_none=True)
    reference_path = fields.String(allow_none=True, metadata={"example": "ping_id"})
    reference_pattern = fields.String(allow_none=True)
    data_path = fields.String(allow_none=True)
    required_fields = fields.List(fields.String(), allow_none=True)


class NewPartnerSchema(PartnerSettingsSchema):
    name = fields.String(required=True, metadata={"example": "leadco"})


class PartnerListArgs(Schema):
    kind = fields.String(validate=validate.OneOf(("partner", "enrichment")))


@blp.route("/partners", methods=["GET"])
@require("partners.read")
@blp.arguments(PartnerListArgs, location="query")
@blp.response(200, PartnerSchema(many=True))
def list_partners(args):
    """List the partners and enrichment providers (headers by name only)."""
    return partners.list_partners(g.actor, args.get("kind"))


@blp.route("/partners", methods=["POST"])
@require("partners.write")
@blp.arguments(NewPartnerSchema)
@blp.response(201, PartnerSchema)
def add_partner(body):
    """Add a partner (kind `partner`) or an enrichment provider (kind `enrichment`)."""
    return partners.add_partner(g.actor, body)


@blp.route("/partners/<ref>", methods=["GET"])
@require("partners.read")
@blp.response(200, PartnerSchema)
def show_partner(ref: str):
    """Show a partner or provider, by id or name (headers by name only)."""
    return partners.show_partner(g.actor, ref)


@blp.route("/partners/<ref>", methods=["PATCH"])
@require("partners.write")
@blp.arguments(PartnerSettingsSchema)
@blp.response(200, PartnerSchema)
def update_partner(body, ref: str):
    """Change some settings; `headers` replaces them all (`{}` removes them)."""
    return partners.update_partner(g.actor, ref, body)


@blp.route("/partners/<ref>", methods=["DELETE"])
@require("partners.write")
@blp.response(204)
def remove_partner(ref: str):
    """Remove a partner or provider: rules can no longer name it."""
    partners.remove_partner(g.actor, ref)
