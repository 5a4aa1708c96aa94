"""/api/admin/sources: sources, their bearer tokens and their API specification."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.api.schemas import SourceSchema
from app.api.spec import source_spec
from app.store.rules import active_ruleset
from app.store.sources import create_source, create_token, find_source, list_sources, update_source

blp = Blueprint("admin_sources", __name__, url_prefix="/api/admin", description="Sources.")


class NewSourceSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    test_mode = fields.Boolean(load_default=False)


class SourceChangeSchema(Schema):
    test_mode = fields.Boolean()
    active = fields.Boolean()


class CreatedSourceSchema(SourceSchema):
    api_secret = fields.String(metadata={"description": "Shown once."})


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
    """Create a source; the response holds its API secret, shown once."""
    source, secret = create_source(g.tenant, body["name"], body["category"], body["test_mode"])
    source.api_secret = secret
    return source


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
    """Switch a source's test mode or deactivate it."""
    return update_source(find_source(source_id, g.tenant), **body)


@blp.route("/sources/<source_id>/tokens", methods=["POST"])
@require("sources.write")
@blp.response(201, TokenSchema)
def new_token(source_id: str):
    """Create a bearer token for the source, shown once."""
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
    return source_spec(found, ruleset, current_app.config["PUBLIC_URL"])
