"""`sluice leads import` (a CSV as reverse auctions for a customer) and `sluice auction
list|cancel`."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from app.commands.common import emit, fail, json_option, operator, pairs, table, with_database
from app.domain.wants import AUCTION_STATUSES
from app.pipeline.csvimport import MAX_BYTES, name_key
from app.schemas import AuctionSchema, ImportReportSchema, LeadImportSchema
from app.services import imports

ERROR_COLUMNS = ["line", "field", "message"]


@click.command("import")
@click.argument("tenant")
@click.argument("customer")
@click.argument("category")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--price", required=True, help="Paid per lead that fills a row's auction.")
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD", help="Map a column.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='A JSON file {"column": "field"} (null skips a column).',
)
@click.option("--match", help="The fields a filling lead must match, comma-separated.")
@click.option("--fills", type=int, default=1, show_default=True, help="Leads wanted per row.")
@click.option("--expires-in", type=int, default=imports.DEFAULT_EXPIRY_DAYS, show_default=True)
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask about unmapped columns.")
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the rows' errors to this CSV file.",
)
@json_option
@with_database
def import_command(
    tenant: str,
    customer: str,
    category: str,
    file: Path,
    price: str,
    maps: tuple[str, ...],
    mapping_file: Path | None,
    match: str | None,
    fills: int,
    expires_in: int,
    dry_run: bool,
    yes: bool,
    errors_file: Path | None,
    as_json: bool,
) -> None:
    """Import a CSV of leads for a customer: each valid row becomes a reverse auction.

    Columns named as the category's fields (case, spaces and underscores aside) map
    themselves; map the others with --map or --mapping, or answer for each when asked.
    Every row is validated first; the valid ones are imported together, the others listed
    with their line. Exits 1 when a row was refused.
    """
    if file.stat().st_size > MAX_BYTES:
        fail(f"{file} is larger than {MAX_BYTES:,} bytes: split it into several imports", as_json)
    data = file.read_bytes()
    mapping = _mapping(maps, mapping_file, as_json)
    actor = operator(tenant)
    plan = imports.plan_import(actor, category, data, mapping)
    asking = not (yes or as_json)
    if not as_json:
        click.echo(f"Columns of {file.name} -> fields of {category}:")
        click.echo(pairs(plan.mapping.columns) or "(none)")
    for field_name, columns in plan.mapping.ambiguous.items():
        note = f"columns {', '.join(columns)} all match field {field_name}"
        if not as_json:
            click.echo(f"ambiguous: {note}", err=True)
    if asking and plan.mapping.unmapped:
        click.echo(f"Fields of {category}: {', '.join(plan.fields)}")
        mapping = dict(mapping or {})
        choices = {name_key(name): name for name in plan.fields}
        for column in plan.mapping.unmapped:
            answer = click.prompt(
                f"Field for column {column!r} (blank: skip it)", default="", show_default=False
            ).strip()
            chosen = choices.get(name_key(answer)) if answer else None
            if answer and chosen is None:
                fail(f"the category has no field {answer!r} ({', '.join(plan.fields)})", as_json)
            mapping[column] = chosen
    elif plan.mapping.unmapped and not as_json:
        click.echo(f"skipped (no field): {', '.join(plan.mapping.unmapped)}")
    report = imports.import_leads(
        actor,
        customer,
        category,
        data,
        price=price,
        file_name=file.name,
        mapping=mapping,
        match=match.split(",") if match else None,
        fills=fills,
        expires_in_days=expires_in,
        dry_run=dry_run,
    )
    body = ImportReportSchema().dump(report)
    errors = [imports.error_json(error) for error in report.errors]
    if errors_file is not None:
        errors_file.write_text(_errors_csv(errors), encoding="utf-8")
    emit(body, as_json, lambda: _report_text(body, errors))
    if errors:
        sys.exit(1)


def _mapping(maps: tuple[str, ...], mapping_file: Path | None, as_json: bool) -> dict | None:
    mapping: dict[str, Any] = {}
    if mapping_file is not None:
        try:
            loaded = json.loads(mapping_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            fail(f"{mapping_file} is not JSON: {error}", as_json)
        if not isinstance(loaded, dict) or not all(
            isinstance(v, str | None) for v in loaded.values()
        ):
            fail(f'{mapping_file} must hold a JSON object {{"column": "field"}}', as_json)
        mapping.update(loaded)
    for item in maps:
        column, sep, field_name = item.partition("=")
        if not sep or not column.strip():
            fail(f"--map {item!r}: write COLUMN=FIELD", as_json)
        mapping[column.strip()] = field_name.strip() or None
    return mapping or None


def _errors_csv(errors: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ERROR_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(errors)
    return out.getvalue()


def _report_text(body: dict[str, Any], errors: list[dict[str, Any]]) -> str:
    verb = "would import" if body["dry_run"] else "imported"
    lines = [
        f"{body['file_name']}: {verb} {body['imported']} of {body['rows']} rows as reverse"
        f" auctions for {body['customer']}"
        + (f" (import {body['id']})" if body["id"] else " (dry run: nothing written)"),
        f"criteria: {', '.join(body['criteria'])}",
    ]
    if errors:
        lines += [f"{len(errors)} errors:", _errors_csv(errors).rstrip("\n")]
    return "\n".join(lines)


@click.group("auction")
def auction_group() -> None:
    """Reverse auctions created by imports: list, cancel."""


@auction_group.command("list")
@click.argument("tenant")
@click.option("--status", type=click.Choice(AUCTION_STATUSES))
@click.option("--customer", help="A customer's slug or id.")
@click.option("--import", "lead_import", help="An import's id.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
@with_database
def auction_list_command(
    tenant: str,
    status: str | None,
    customer: str | None,
    lead_import: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List reverse auctions, newest first."""
    found = imports.list_auctions(
        operator(tenant), status=status, customer=customer, lead_import=lead_import, limit=limit
    )
    data = AuctionSchema(many=True).dump(found)
    columns = ["id", "customer", "status", "fills", "fills_wanted", "price", "expires_at"]
    emit(data, as_json, lambda: table(data, columns))


@auction_group.command("cancel")
@click.argument("tenant")
@click.argument("auction")
@json_option
@with_database
def auction_cancel_command(tenant: str, auction: str, as_json: bool) -> None:
    """Cancel a reverse auction and erase its row's data; idempotent."""
    data = AuctionSchema().dump(imports.cancel_auction(operator(tenant), auction))
    emit(data, as_json, lambda: pairs({k: data[k] for k in ("id", "status", "erased_at")}))


@click.command("imports")
@click.argument("tenant")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
@with_database
def imports_command(tenant: str, limit: int, as_json: bool) -> None:
    """List the CSV imports, newest first: who, when, which file, counts."""
    data = LeadImportSchema(many=True).dump(imports.list_imports(operator(tenant), limit=limit))
    columns = ["id", "file_name", "customer", "category", "rows", "imported", "created_by"]
    emit(data, as_json, lambda: table(data, [*columns, "created_at"]))
