"""/api/admin/me, /api/admin/usage and /api/admin/users."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.schemas import CreatedUserSchema, MeSchema, UsageSchema, UserSchema
from app.services import tenants, withheld
from app.store.tenants import ROLES

blp = Blueprint("admin_users", __name__, url_prefix="/api/admin", description="Tenant users.")


class NewUserSchema(Schema):
    email = fields.Email(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


@blp.route("/me", methods=["GET"])
@require("leads.read")
@blp.response(200, MeSchema)
def me():
    """Show who the token belongs to."""
    return tenants.describe_actor(g.actor)


@blp.route("/usage", methods=["GET"])
@require("leads.read")
@blp.response(200, UsageSchema)
def usage():
    """Show this month's leads against the monthly threshold, and the leads withheld."""
    return withheld.month_usage(g.actor)


@blp.route("/users", methods=["GET"])
@require("users.write")
@blp.response(200, UserSchema(many=True))
def list_users():
    """List the tenant's users."""
    return tenants.list_users(g.actor)


@blp.route("/users", methods=["POST"])
@require("users.write")
@blp.arguments(NewUserSchema)
@blp.response(201, CreatedUserSchema)
def create_user(body):
    """Create a user; the response holds its token, shown once."""
    return tenants.create_user(g.actor, body["email"], body["role"])
