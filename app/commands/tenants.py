"""`sluice tenant ...` and `sluice user ...`."""

from __future__ import annotations

import click

from app.api.schemas import TenantSchema, UserSchema
from app.commands.common import emit, json_option, pairs, table, with_app
from app.store.tenants import (
    ROLES,
    create_tenant,
    create_user,
    find_tenant,
    list_tenants,
    list_users,
)


@click.group("tenant")
def tenant_group() -> None:
    """Tenants."""


@tenant_group.command("create")
@click.argument("name")
@click.option("--code", help="A stable 8-character code (default: random).")
@click.option("--admin-email", help="The first admin user's email.")
@json_option
@with_app
def create_command(name: str, code: str | None, admin_email: str | None, as_json: bool) -> None:
    """Create a tenant and its first admin user; print the user's token (shown once)."""
    tenant, user, token = create_tenant(name, code, admin_email)
    data = {
        "tenant": TenantSchema().dump(tenant),
        "admin": {**UserSchema().dump(user), "token": token},
    }
    emit(
        data,
        as_json,
        pairs(
            {
                "tenant": f"{tenant.name} (code {tenant.code}, slug {tenant.slug})",
                "admin": user.email,
                "admin token": f"{token}   (shown once)",
            }
        ),
    )


@tenant_group.command("list")
@json_option
@with_app
def list_command(as_json: bool) -> None:
    """List tenants."""
    rows = TenantSchema(many=True).dump(list_tenants())
    emit(rows, as_json, lambda: table(rows, ["code", "slug", "name", "created_at"]))


@click.group("user")
def user_group() -> None:
    """Tenant users and their roles."""


@user_group.command("create")
@click.argument("tenant")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@json_option
@with_app
def user_create_command(tenant: str, email: str, role: str, as_json: bool) -> None:
    """Create a user; print its token (shown once)."""
    user, token = create_user(find_tenant(tenant), email, role)
    data = {**UserSchema().dump(user), "token": token}
    emit(
        data, as_json, pairs({"user": f"{user.email} ({role})", "token": f"{token}   (shown once)"})
    )


@user_group.command("list")
@click.argument("tenant")
@json_option
@with_app
def user_list_command(tenant: str, as_json: bool) -> None:
    """List a tenant's users."""
    rows = UserSchema(many=True).dump(list_users(find_tenant(tenant)))
    emit(rows, as_json, lambda: table(rows, ["id", "email", "role", "active"]))
