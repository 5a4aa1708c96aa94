"""`sluice rules check|push|list|show|rollback`: a tenant's rule set versions."""

from __future__ import annotations

from collections.abc import Iterable

import click

from app.commands.common import emit, fail, json_option, operator, pairs, table, with_database
from app.dsl import Diagnostic, RulesError, read_rule_files
from app.schemas import (
    PushedRulesSchema,
    RulesCheckSchema,
    RuleVersionDetailSchema,
    RuleVersionSchema,
)
from app.services import rules


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


def print_warnings(warnings: Iterable[Diagnostic], sources: dict[str, str]) -> None:
    """Print a rule set's warnings on stderr, as `sluice check` does."""
    for warning in warnings:
        click.echo(warning.format(sources), err=True)


def read_files(path: str, as_json: bool) -> dict[str, str]:
    """Return the rule files at PATH; fail with the report when they cannot be read."""
    try:
        return read_rule_files(path)
    except RulesError as error:
        fail(error.report(), as_json, {"diagnostics": [d.to_dict() for d in error.diagnostics]})


@click.group("rules")
def rules_group() -> None:
    """Rule set versions of a tenant."""


@rules_group.command("check")
@click.argument("tenant")
@click.argument("path", type=click.Path(exists=True))
@json_option
@with_database
def check_command(tenant: str, path: str, as_json: bool) -> None:
    """Check rules as a push would (the tenant's customers and sources included); store nothing."""
    files = read_files(path, as_json)
    ruleset = rules.check_rules(operator(tenant), files)
    data = RulesCheckSchema().dump(ruleset)
    if not as_json:
        print_warnings(ruleset.warnings, files)
    emit(
        data,
        as_json,
        lambda: f"ok: {', '.join(data['categories'])} ({len(data['warnings'])} warning(s))",
    )


@rules_group.command("push")
@click.argument("tenant")
@click.argument("path", type=click.Path(exists=True))
@json_option
@with_database
def push_command(tenant: str, path: str, as_json: bool) -> None:
    """Check rules, store them as a new version and activate it; refuse on any error."""
    files = read_files(path, as_json)
    pushed = rules.push_rules(operator(tenant), files)
    data = PushedRulesSchema().dump(pushed)
    if not as_json:
        print_warnings(pushed.warnings, files)
    emit(data, as_json, lambda: version_text(data))


@rules_group.command("list")
@click.argument("tenant")
@json_option
@with_database
def list_command(tenant: str, as_json: bool) -> None:
    """List rule set versions, newest first."""
    data = RuleVersionSchema(many=True).dump(rules.list_versions(operator(tenant)))
    rows = [{**row, "active": "*" if row["active"] else ""} for row in data]
    columns = ["version", "active", "content_hash", "created_at", "created_by", "activated_at"]
    emit(data, as_json, lambda: table(rows, columns))


@rules_group.command("show")
@click.argument("tenant")
@click.argument("version", type=int)
@json_option
@with_database
def show_command(tenant: str, version: int, as_json: bool) -> None:
    """Show a rule set version and its files."""
    data = RuleVersionDetailSchema().dump(rules.show_version(operator(tenant), version))

    def text() -> str:
        files = [f"--- {name}\n{body.rstrip()}" for name, body in sorted(data["files"].items())]
        return "\n\n".join([version_text({**data, "files": sorted(data["files"])}), *files])

    emit(data, as_json, text)


@rules_group.command("rollback")
@click.argument("tenant")
@click.option("--to", "to", type=int, help="The version to activate (default: the previous).")
@json_option
@with_database
def rollback_command(tenant: str, to: int | None, as_json: bool) -> None:
    """Activate an earlier rule set version."""
    data = RuleVersionSchema().dump(rules.rollback_rules(operator(tenant), to=to))
    emit(data, as_json, lambda: version_text(data))
