"""/api/admin/sources: sources, their bearer tokens and their API specification."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from app.api.auth import require
from app.api.forwarded import public_base_url
from app.api.schemas import SourceSchema
from app.services.spec import source_spec
from app.store.rules import active_ruleset
from app.store.sources import (
    API_STYLES,
    MAX_RATE_LIMIT,
    create_source,
    create_token,
    find_source,
    list_sources,
    update_source,
)

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


class CreatedSourceSchema(SourceSchema):
    api_key = fields.Function(
        lambda s: s.routio_api_key if s.api_style == "routio" else s.api_key,
        metadata={
            "type": "string",
            "description": "Native: the key (Basic user name). Routio style: the API key "
            "integrators send as Bearer, shown once.",
        },
    )
    api_secret = fields.String(metadata={"description": "Native sources only; shown once."})

    @post_dump
    def drop_missing_secret(self, data, **kwargs):
        """A Routio-style source has no API secret: leave the key out rather than null."""
        if data.get("api_secret") is None:
            data.pop("api_secret", None)
        return data


def shown_once(source, credential: str):
    """Attach a new source's credential for CreatedSourceSchema: secret, or Routio key."""
    source.api_secret = credential if source.api_style == "native" else None
    source.routio_api_key = credential if source.api_style == "routio" else None
    return source


class TokenSchema(Schema):
    source = fields.String()
    token = fields.String(metadata={"description": "Shown once."})


@blp.route("/sources", methods=["GET"])
@require("sources.read")
@blp.response(200, SourceSchema(many=True))
def sources():
    """List the tenant's sources."""
    return list_sources(g.tenant)


@blp.route("/sources", methods=["POST"])
@require("sources.write")
@blp.arguments(NewSourceSchema)
@blp.response(201, CreatedSourceSchema)
def new_source(body):
    """Create a source; the response holds its API secret (Routio style: API key), shown once."""
    source, secret = create_source(
        g.tenant,
        body["name"],
        body.get("category"),
        body["test_mode"],
        api_style=body["api_style"],
        rate_limit=body["rate_limit"],
    )
    return shown_once(source, secret)


@blp.route("/sources/<source_id>", methods=["GET"])
@require("sources.read")
@blp.response(200, SourceSchema)
def source(source_id: str):
    """Show a source."""
    return find_source(source_id, g.tenant)


@blp.route("/sources/<source_id>", methods=["PATCH"])
@require("sources.write")
@blp.arguments(SourceChangeSchema)
@blp.response(200, SourceSchema)
def change_source(body, source_id: str):
    """Switch a source's test mode, deactivate it, or set its rate limit (null: default)."""
    return update_source(find_source(source_id, g.tenant), **body)


@blp.route("/sources/<source_id>/tokens", methods=["POST"])
@require("sources.write")
@blp.response(201, TokenSchema)
def new_token(source_id: str):
    """Create a bearer token for the source (Routio style: another API key), shown once."""
    found = find_source(source_id, g.tenant)
    _, token = create_token(found)
    return {"source": found.public_id, "token": token}


@blp.route("/sources/<source_id>/spec", methods=["GET"])
@require("sources.read")
@blp.response(200)
def spec(source_id: str):
    """Show the source's API specification: endpoint, auth, field reference, cURL example."""
    found = find_source(source_id, g.tenant)
    _, ruleset = active_ruleset(g.tenant)
    return source_spec(found, ruleset, public_base_url())
