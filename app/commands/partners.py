"""`sluice partner add|list|show|update|remove`: partners and enrichment providers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from app.commands.common import emit, json_option, operator, pairs, table, with_database
from app.domain.errors import InvalidError
from app.domain.partners import ANSWER_PARTS
from app.schemas import PartnerSchema
from app.services import partners


@click.group("partner")
def partner_group() -> None:
    """Partners pinged and posted to, and enrichment providers (docs/partners.md)."""


def settings_options(command: Callable) -> Callable:
    """Add the options of a partner's settings (add and update)."""
    options = [
        click.option("--ping-url", help="A partner's ping URL (none: direct posts only)."),
        click.option("--post-url", help="A partner's post URL."),
        click.option("--url", help="An enrichment provider's URL."),
        click.option("--method", type=click.Choice(["POST", "PUT", "GET"], case_sensitive=False)),
        click.option("--format", "body_format", type=click.Choice(["json", "form"])),
        click.option(
            "--map", "maps", multiple=True, help="THEIRS=OURS: send our field under their name."
        ),
        click.option(
            "--constant", "constants", multiple=True, help="THEIRS=VALUE: send a constant."
        ),
        click.option("--no-map", is_flag=True, help="Remove the field map (update)."),
        click.option(
            "--template-file", type=click.File("r"), help="A file holding a Jinja2 body template."
        ),
        click.option("--no-template", is_flag=True, help="Remove the template (update)."),
        click.option(
            "--header", "headers", multiple=True, help="'Name: value' (repeat; kept encrypted)."
        ),
        click.option("--no-headers", is_flag=True, help="Remove every header (update)."),
        click.option("--timeout-ms", type=int, help="Give up after this long (default 2000)."),
        *(
            click.option(f"--{part}-{how}", help=f"Read the {part} by a {what}.")
            for part in ANSWER_PARTS
            for how, what in (("path", "JMESPath"), ("pattern", "regular expression"))
        ),
        click.option("--data-path", help="A provider's: the JMESPath of the object to take."),
        click.option(
            "--require", "required", multiple=True, help="A provider's: a field it needs (repeat)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def settings_of(options: dict[str, Any]) -> dict[str, Any]:
    """Return the settings the given options name (absent options are left out)."""
    names = ["ping_url", "post_url", "url", "body_format", "timeout_ms", "data_path"]
    names += [f"{part}_{how}" for part in ANSWER_PARTS for how in ("path", "pattern")]
    settings = {name: options[name] for name in names if options.get(name) is not None}
    if options.get("method"):
        settings["method"] = options["method"].upper()
    if options.get("maps") or options.get("constants"):
        field_map: dict[str, Any] = dict(_pair(text, "--map") for text in options["maps"])
        for text in options["constants"]:
            theirs, value = _pair(text, "--constant")
            try:
                field_map[theirs] = {"value": json.loads(value)}
            except ValueError:
                field_map[theirs] = {"value": value}
        settings["field_map"] = field_map
    elif options.get("no_map"):
        settings["field_map"] = None
    if options.get("template_file") is not None:
        settings["template"] = options["template_file"].read()
    elif options.get("no_template"):
        settings["template"] = None
    if options.get("headers"):
        settings["headers"] = dict(_header(text) for text in options["headers"])
    elif options.get("no_headers"):
        settings["headers"] = {}
    if options.get("required"):
        settings["required_fields"] = list(options["required"])
    return settings


def show(row: Any, as_json: bool) -> None:
    """Print a partner (its headers by name only)."""
    data = PartnerSchema().dump(row)
    text = {key: value for key, value in data.items() if value not in (None, [], {})}
    text["headers"] = ", ".join(data["headers"]) or "(none)"
    for key in ("field_map", "required_fields"):
        if data.get(key):
            text[key] = json.dumps(data[key])
    emit(data, as_json, lambda: pairs(text))


@partner_group.command("add")
@click.argument("tenant")
@click.argument("name")
@click.option(
    "--kind", type=click.Choice(["partner", "enrichment"]), default="partner", show_default=True
)
@settings_options
@json_option
@with_database
def add_command(tenant: str, name: str, kind: str, as_json: bool, **options: Any) -> None:
    """Add a partner (--ping-url, --post-url) or a provider (--kind enrichment --url)."""
    settings = {"name": name, "kind": kind, **settings_of(options)}
    show(partners.add_partner(operator(tenant), settings), as_json)


@partner_group.command("list")
@click.argument("tenant")
@click.option("--kind", type=click.Choice(["partner", "enrichment"]))
@json_option
@with_database
def list_command(tenant: str, kind: str | None, as_json: bool) -> None:
    """List the partners and providers."""
    data = PartnerSchema(many=True).dump(partners.list_partners(operator(tenant), kind))
    rows = [{**row, "to": row["post_url"] or row["url"]} for row in data]
    emit(data, as_json, lambda: table(rows, ["id", "name", "kind", "to", "timeout_ms"]))


@partner_group.command("show")
@click.argument("tenant")
@click.argument("name")
@json_option
@with_database
def show_command(tenant: str, name: str, as_json: bool) -> None:
    """Show a partner or provider, by name or id (headers by name only)."""
    show(partners.show_partner(operator(tenant), name), as_json)


@partner_group.command("update")
@click.argument("tenant")
@click.argument("name")
@click.option("--rename", help="A new name (rules naming the old one must change too).")
@settings_options
@json_option
@with_database
def update_command(
    tenant: str, name: str, rename: str | None, as_json: bool, **options: Any
) -> None:
    """Change some settings; --header replaces every header, --no-headers removes them."""
    changes = settings_of(options)
    if rename is not None:
        changes["name"] = rename
    show(partners.update_partner(operator(tenant), name, changes), as_json)


@partner_group.command("remove")
@click.argument("tenant")
@click.argument("name")
@json_option
@with_database
def remove_command(tenant: str, name: str, as_json: bool) -> None:
    """Remove a partner or provider: rules can no longer name it."""
    partners.remove_partner(operator(tenant), name)
    emit({"removed": name}, as_json, f"removed {name}")


def _pair(text: str, option: str) -> tuple[str, str]:
    theirs, equals, ours = text.partition("=")
    if not equals or not theirs.strip():
        raise InvalidError(f"{option} {text!r}: THEIRS=OURS expected", {"field_map": [text]})
    return theirs.strip(), ours.strip()


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon:
        raise InvalidError(
            f"--header {name!r}: 'Name: value' expected", {"headers": ["Name: value"]}
        )
    return name.strip(), value.strip()
