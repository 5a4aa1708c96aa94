"""`sluice tenant ...` and `sluice user ...`."""

from __future__ import annotations

import click

from app.commands.common import emit, fail, json_option, operator, pairs, table, with_database
from app.schemas import CreatedTenantSchema, CreatedUserSchema, TenantSchema, UserSchema
from app.services import returns, tenants
from app.store.tenants import ROLES


@click.group("tenant")
def tenant_group() -> None:
    """Tenants."""


@tenant_group.command("create")
@click.argument("name")
@click.option("--code", help="A stable 8-character code (default: random).")
@click.option("--admin-email", help="The first admin user's email.")
@json_option
@with_database
def create_command(name: str, code: str | None, admin_email: str | None, as_json: bool) -> None:
    """Create a tenant and its first admin user; print the user's token (shown once)."""
    created = tenants.create_tenant(operator(), name, code, admin_email)
    data = CreatedTenantSchema().dump(created)
    tenant, admin = data["tenant"], data["admin"]
    text = {
        "tenant": f"{tenant['name']} (code {tenant['code']}, slug {tenant['slug']})",
        "admin": admin["email"],
        "admin token": f"{admin['token']}   (shown once)",
    }
    emit(data, as_json, pairs(text))


@tenant_group.command("list")
@json_option
@with_database
def list_command(as_json: bool) -> None:
    """List tenants."""
    rows = TenantSchema(many=True).dump(tenants.list_tenants(operator()))
    emit(rows, as_json, lambda: table(rows, ["code", "slug", "name", "created_at"]))


@tenant_group.command("return-reasons")
@click.argument("tenant")
@click.option(
    "--set",
    "reasons",
    multiple=True,
    help="A reason returns may give; repeat for each, in order (replaces the list).",
)
@click.option("--reset", is_flag=True, help="Go back to the default reasons.")
@json_option
@with_database
def return_reasons_command(
    tenant: str, reasons: tuple[str, ...], reset: bool, as_json: bool
) -> None:
    """Show the reasons a lead's return may give, or set them (--set ... or --reset)."""
    actor = operator(tenant)
    if reasons and reset:
        fail("give either --set or --reset", as_json)
    if reset:
        shown = returns.set_return_reasons(actor, None)
    elif reasons:
        shown = returns.set_return_reasons(actor, list(reasons))
    else:
        shown = returns.return_reasons(actor)
    emit({"reasons": shown}, as_json, lambda: "\n".join(shown))


@click.group("user")
def user_group() -> None:
    """Tenant users and their roles."""


@user_group.command("create")
@click.argument("tenant")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@json_option
@with_database
def user_create_command(tenant: str, email: str, role: str, as_json: bool) -> None:
    """Create a user; print its token (shown once)."""
    data = CreatedUserSchema().dump(tenants.create_user(operator(tenant), email, role))
    text = {"user": f"{data['email']} ({data['role']})", "token": f"{data['token']}   (shown once)"}
    emit(data, as_json, pairs(text))


@user_group.command("list")
@click.argument("tenant")
@json_option
@with_database
def user_list_command(tenant: str, as_json: bool) -> None:
    """List a tenant's users."""
    rows = UserSchema(many=True).dump(tenants.list_users(operator(tenant)))
    emit(rows, as_json, lambda: table(rows, ["id", "email", "role", "active"]))
