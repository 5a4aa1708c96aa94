"""/api/admin/me and /api/admin/users."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.api.schemas import TenantSchema, UserSchema
from app.store.tenants import PERMISSIONS, ROLES, create_user, list_users

blp = Blueprint("admin_users", __name__, url_prefix="/api/admin", description="Tenant users.")


class MeSchema(Schema):
    user = fields.Nested(UserSchema)
    tenant = fields.Nested(TenantSchema)
    permissions = fields.List(fields.String())


class NewUserSchema(Schema):
    email = fields.Email(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class CreatedUserSchema(UserSchema):
    token = fields.String(metadata={"description": "Shown once."})


@blp.route("/me", methods=["GET"])
@require("leads.read")
@blp.response(200, MeSchema)
def me():
    """Show who the token belongs to."""
    return {"user": g.user, "tenant": g.tenant, "permissions": sorted(PERMISSIONS[g.user.role])}


@blp.route("/users", methods=["GET"])
@require("users.write")
@blp.response(200, UserSchema(many=True))
def users():
    """List the tenant's users."""
    return list_users(g.tenant)


@blp.route("/users", methods=["POST"])
@require("users.write")
@blp.arguments(NewUserSchema)
@blp.response(201, CreatedUserSchema)
def new_user(body):
    """Create a user; the response holds its token, shown once."""
    user, token = create_user(g.tenant, body["email"], body["role"])
    user.token = token
    return user
