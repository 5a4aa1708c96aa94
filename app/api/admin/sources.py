"""/api/admin/sources: sources, their credentials and their API specification."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.api.auth import require
from app.api.forwarded import public_base_url
from app.schemas import (
    CreatedSourceSchema,
    NewTokenSchema,
    RotatedSecretSchema,
    RotateSecretSchema,
    SourceSchema,
    SourceTokenSchema,
)
from app.services import sources
from app.store.sources import API_STYLES, MAX_PING_BIDS_SHOWN, MAX_PING_TTL_SECONDS, MAX_RATE_LIMIT

blp = Blueprint("admin_sources", __name__, url_prefix="/api/admin", description="Sources.")
RATE_LIMIT = validate.Range(min=1, max=MAX_RATE_LIMIT)


class NewSourceSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "Required for native sources. A Routio-style source "
            "without one may post to any category with a plan."
        },
    )
    api_style = fields.String(load_default="native", validate=validate.OneOf(API_STYLES))
    rate_limit = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=RATE_LIMIT,
        metadata={"description": "Requests per minute; null: SLUICE_RATE_LIMIT (60)."},
    )
    test_mode = fields.Boolean(load_default=False)

    @validates_schema(skip_on_field_errors=False)
    def category_for_native(self, data, **kwargs):
        """A native source posts to one category, so it must name it."""
        if data.get("api_style") == "native" and not data.get("category"):
            raise ValidationError("Required for native sources.", "category")


class SourceChangeSchema(Schema):
    test_mode = fields.Boolean()
    active = fields.Boolean()
    rate_limit = fields.Integer(allow_none=True, validate=RATE_LIMIT)
    ping_bids_shown = fields.Integer(
        validate=validate.Range(1, MAX_PING_BIDS_SHOWN),
        metadata={"description": "How many bids a ping's answer shows (default 1)."},
    )
    ping_ttl_seconds = fields.Integer(
        validate=validate.Range(1, MAX_PING_TTL_SECONDS),
        metadata={"description": "How long a ping stays postable (default 300)."},
    )
    internal = fields.Boolean(
        metadata={"description": "The tenant's own source: may post a bid_id without a ping."}
    )


@blp.route("/sources", methods=["GET"])
@require("sources.read")
@blp.response(200, SourceSchema(many=True))
def list_sources():
    """List the tenant's sources."""
    return sources.list_sources(g.actor)


@blp.route("/sources", methods=["POST"])
@require("sources.write")
@blp.arguments(NewSourceSchema)
@blp.response(201, CreatedSourceSchema)
def create_source(body):
    """Create a source; the response holds its API secret (Routio style: API key), shown once."""
    return sources.create_source(
        g.actor,
        body["name"],
        body.get("category"),
        api_style=body["api_style"],
        rate_limit=body["rate_limit"],
        test_mode=body["test_mode"],
    )


@blp.route("/sources/<source_id>", methods=["GET"])
@require("sources.read")
@blp.response(200, SourceSchema)
def show_source(source_id: str):
    """Show a source."""
    return sources.show_source(g.actor, source_id)


@blp.route("/sources/<source_id>", methods=["PATCH"])
@require("sources.write")
@blp.arguments(SourceChangeSchema)
@blp.response(200, SourceSchema)
def update_source(body, source_id: str):
    """Switch a source's test mode, deactivate it, set its rate limit (null: default) or its
    ping settings."""
    return sources.update_source(g.actor, source_id, **body)


@blp.route("/sources/<source_id>/tokens", methods=["GET"])
@require("sources.read")
@blp.response(200, SourceTokenSchema(many=True))
def list_tokens(source_id: str):
    """List the source's bearer tokens (ids and dates; a token is shown only when created)."""
    return sources.list_tokens(g.actor, source_id)


@blp.route("/sources/<source_id>/tokens", methods=["POST"])
@require("sources.write")
@blp.response(201, NewTokenSchema)
def create_token(source_id: str):
    """Create a bearer token for the source (Routio style: another API key), shown once."""
    return sources.create_token(g.actor, source_id)


@blp.route("/sources/<source_id>/tokens/<token_id>", methods=["DELETE"])
@require("sources.write")
@blp.response(200, SourceTokenSchema)
def revoke_token(source_id: str, token_id: str):
    """Revoke a bearer token: it stops opening the intake at once."""
    return sources.revoke_token(g.actor, source_id, token_id)


@blp.route("/sources/<source_id>/rotate-secret", methods=["POST"])
@require("sources.write")
@blp.arguments(RotateSecretSchema, required=False)
@blp.response(200, RotatedSecretSchema)
def rotate_secret(body, source_id: str):
    """Give a native source a new API secret, shown once; the old one stops working at once,
    or after `overlap_hours` during which both work."""
    overlap = timedelta(hours=(body or {}).get("overlap_hours", 0.0))
    return sources.rotate_secret(g.actor, source_id, overlap)


@blp.route("/sources/<source_id>/spec", methods=["GET"])
@require("sources.read")
@blp.response(200)
def spec(source_id: str):
    """Show the source's API specification: endpoint, auth, field reference, cURL example."""
    return sources.show_source_spec(
        g.actor, source_id, public_base_url(), current_app.config["RATE_LIMIT"]
    )
