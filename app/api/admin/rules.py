"""/api/admin/rules: check, push, list and roll back rule set versions."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.schemas import (
    PushedRulesSchema,
    RulesCheckSchema,
    RuleVersionDetailSchema,
    RuleVersionSchema,
)
from app.services import rules

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


@blp.route("/rules", methods=["GET"])
@require("rules.read")
@blp.response(200, RuleVersionSchema(many=True))
def list_versions():
    """List rule set versions, newest first."""
    return rules.list_versions(g.actor)


@blp.route("/rules/<int:number>", methods=["GET"])
@require("rules.read")
@blp.response(200, RuleVersionDetailSchema)
def show_version(number: int):
    """Show a rule set version with its files."""
    return rules.show_version(g.actor, number)


@blp.route("/rules/check", methods=["POST"])
@require("rules.push")
@blp.arguments(PushSchema)
@blp.response(200, RulesCheckSchema)
def check(body):
    """Check rule files as a push would (customers, sources included), storing nothing."""
    return rules.check_rules(g.actor, body["files"])


@blp.route("/rules", methods=["POST"])
@require("rules.push")
@blp.arguments(PushSchema)
@blp.response(201, PushedRulesSchema)
def push(body):
    """Check rule files, store them as a new version and activate it (refused on errors).

    The answer lists the rule set's warnings; they do not stop the push.
    """
    return rules.push_rules(g.actor, body["files"])


@blp.route("/rules/rollback", methods=["POST"])
@require("rules.rollback")
@blp.arguments(RollbackSchema)
@blp.response(200, RuleVersionSchema)
def rollback(body):
    """Activate an earlier version (default: the one before the active one)."""
    return rules.rollback_rules(g.actor, to=body["to"])
