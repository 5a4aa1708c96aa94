"""`sluice tenant create|list|update|usage` and `sluice user ...`."""

from __future__ import annotations

import click

from app.commands.common import emit, fail, json_option, operator, pairs, table, with_database
from app.schemas import (
    CreatedTenantSchema,
    CreatedUserSchema,
    TenantSchema,
    UsageSchema,
    UserSchema,
)
from app.services import returns, tenants, withheld
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
    columns = ["code", "slug", "name", "monthly_lead_threshold", "created_at"]
    emit(rows, as_json, lambda: table(rows, columns))


def _threshold(ctx, param, value: str | None) -> int | str | None:
    """Read `--monthly-threshold`: a whole number of leads, or `none`."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return "none"
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number of leads or 'none'") from None


@tenant_group.command("update")
@click.argument("tenant")
@click.option(
    "--monthly-threshold",
    callback=_threshold,
    metavar="N|none",
    help="The most leads routed per calendar month (UTC); over it leads are withheld. "
    "'none' removes it.",
)
@json_option
@with_database
def update_command(tenant: str, monthly_threshold: int | str | None, as_json: bool) -> None:
    """Change a tenant's settings (operator only).

    Raising or removing the threshold frees capacity: the worker routes the withheld leads
    that fit within seconds (`sluice leads release-withheld` does it now).
    """
    if monthly_threshold is None:
        raise click.UsageError("nothing to change: give --monthly-threshold N|none")
    threshold = None if monthly_threshold == "none" else int(monthly_threshold)
    data = TenantSchema().dump(withheld.set_threshold(operator(tenant), threshold))
    limit = data["monthly_lead_threshold"]
    text = {"tenant": data["code"], "monthly threshold": "none" if limit is None else limit}
    emit(data, as_json, pairs(text))


@tenant_group.command("usage")
@click.argument("tenant")
@json_option
@with_database
def usage_command(tenant: str, as_json: bool) -> None:
    """Show a tenant's leads counted this month, its threshold and its withheld leads."""
    data = UsageSchema().dump(withheld.month_usage(operator(tenant)))
    none = {"threshold": "none", "remaining": "unlimited"}
    emit(data, as_json, pairs({k: none.get(k) if v is None else v for k, v in data.items()}))


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
