"""`sluice rules push|list|rollback`: a tenant's rule set versions."""

from __future__ import annotations

import getpass

import click

from app.api.schemas import RuleVersionSchema
from app.commands.common import emit, fail, json_option, pairs, table, with_app
from app.store.rules import list_versions, push_rules, rollback_rules
from app.store.tenants import find_tenant


def actor() -> str:
    """Return who runs the command, for the version's history."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def version_text(data: dict) -> str:
    """Return a version as text."""
    return pairs(
        {
            "version": data["version"],
            "content hash": data["content_hash"],
            "files": ", ".join(data["files"]),
            "active": data["active"],
            "activated": f"{data['activated_at']} by {data['activated_by']}",
        }
    )


@click.group("rules")
def rules_group() -> None:
    """Rule set versions of a tenant."""


@rules_group.command("push")
@click.argument("tenant")
@click.argument("path", type=click.Path(exists=True))
@json_option
@with_app
def push_command(tenant: str, path: str, as_json: bool) -> None:
    """Check rules, store them as a new version and activate it; refuse on any error."""
    from app.dsl import RulesError, read_rule_files
    from app.store.rules import RulesRefused

    try:
        version, _ = push_rules(find_tenant(tenant), read_rule_files(path), by=actor())
    except RulesError as error:
        fail(error.report(), as_json, {"diagnostics": [d.to_dict() for d in error.diagnostics]})
    except RulesRefused as error:
        fail(error.message, as_json, {"diagnostics": error.details})
    data = RuleVersionSchema().dump(version)
    emit(data, as_json, lambda: version_text(data))


@rules_group.command("list")
@click.argument("tenant")
@json_option
@with_app
def list_command(tenant: str, as_json: bool) -> None:
    """List rule set versions, newest first."""
    data = RuleVersionSchema(many=True).dump(list_versions(find_tenant(tenant)))
    rows = [{**row, "active": "*" if row["active"] else ""} for row in data]
    columns = ["version", "active", "content_hash", "created_at", "created_by", "activated_at"]
    emit(data, as_json, lambda: table(rows, columns))


@rules_group.command("rollback")
@click.argument("tenant")
@click.option("--to", "to", type=int, help="The version to activate (default: the previous).")
@json_option
@with_app
def rollback_command(tenant: str, to: int | None, as_json: bool) -> None:
    """Activate an earlier rule set version."""
    version = rollback_rules(find_tenant(tenant), by=actor(), to=to)
    data = RuleVersionSchema().dump(version)
    emit(data, as_json, lambda: version_text(data))
