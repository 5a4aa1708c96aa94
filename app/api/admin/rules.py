"""/api/admin/rules: push, list and roll back rule set versions."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.api.errors import NotFound
from app.api.schemas import RuleVersionSchema
from app.store.rules import list_versions, push_rules, rollback_rules

blp = Blueprint("admin_rules", __name__, url_prefix="/api/admin", description="Rule sets.")


class PushSchema(Schema):
    files = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(),
        required=True,
        validate=validate.Length(min=1),
        metadata={"example": {"solar.rules": 'category solar "Solar" { ... }'}},
    )


class RollbackSchema(Schema):
    to = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=2**31 - 1),  # larger overflows the database
        metadata={"description": "Default: the previous one."},
    )


class RuleVersionDetailSchema(RuleVersionSchema):
    files = fields.Dict(keys=fields.String(), values=fields.String())


@blp.route("/rules", methods=["GET"])
@require("rules.read")
@blp.response(200, RuleVersionSchema(many=True))
def versions():
    """List rule set versions, newest first."""
    return list_versions(g.tenant)


@blp.route("/rules/<int:number>", methods=["GET"])
@require("rules.read")
@blp.response(200, RuleVersionDetailSchema)
def version(number: int):
    """Show a rule set version with its files."""
    for row in list_versions(g.tenant):
        if row.number == number:
            return row
    raise NotFound(f"No rule set version {number}.")


@blp.route("/rules", methods=["POST"])
@require("rules.push")
@blp.arguments(PushSchema)
@blp.response(201, RuleVersionSchema)
def push(body):
    """Check rule files, store them as a new version and activate it (refused on errors)."""
    row, _ = push_rules(g.tenant, body["files"], by=g.user.email)
    return row


@blp.route("/rules/rollback", methods=["POST"])
@require("rules.rollback")
@blp.arguments(RollbackSchema)
@blp.response(200, RuleVersionSchema)
def rollback(body):
    """Activate an earlier version (default: the one before the active one)."""
    return rollback_rules(g.tenant, by=g.user.email, to=body["to"])
