"""Importing a CSV of leads on behalf of a customer: each valid row becomes a reverse
auction, the customer's want of a lead like it (docs/imports.md).

The whole file is read and every row validated as the intake validates a lead before
anything is written; then the valid rows land together, in one transaction, and the
invalid ones are reported with their line and field. A dry run stops before writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.clock import naive
from app.domain.errors import InvalidError
from app.domain.money import to_cents
from app.domain.wants import AUCTION_STATUSES, default_criteria
from app.dsl.ruleset import RuleSet
from app.pipeline.csvimport import ColumnMap, Table, map_columns, read_table, row_fields
from app.pipeline.validation import validate_lead
from app.services.actor import Actor
from app.store import auctions as store
from app.store.customers import find_customer
from app.store.models import Auction, LeadImport
from app.store.rules import active_ruleset
from app.store.storable import storable

MAX_FILLS = 1000
MAX_EXPIRY_DAYS = 365
DEFAULT_EXPIRY_DAYS = 7
FILE_NAME_CHARS = 255


@dataclass(frozen=True)
class RowError:
    """Why one row of the file was not imported."""

    line: int  # the file's line the row starts on (the header is line 1)
    field: str  # the category's field, or "" for the row as a whole
    message: str


@dataclass(frozen=True)
class ImportPlan:
    """A file read and its columns mapped: what an import would take."""

    table: Table
    mapping: ColumnMap
    fields: tuple[str, ...]  # the category's fields


@dataclass
class ImportReport:
    """What an import did (or, dry, would do)."""

    id: str | None  # the import's public id; None for a dry run
    dry_run: bool
    file_name: str
    category: str
    customer: str  # public id
    mapping: dict[str, str]
    unmapped: list[str]
    criteria: list[str]
    rows: int
    imported: int
    auctions: list[Auction] = field(default_factory=list)  # empty for a dry run
    errors: list[RowError] = field(default_factory=list)


def plan_import(
    actor: Actor,
    category: str,
    data: bytes,
    mapping: Mapping[str, str | None] | None = None,
) -> ImportPlan:
    """Read the file and map its columns to the category's fields; write nothing."""
    actor.require("leads.import")
    ruleset = _ruleset(actor, category)
    return _plan(ruleset, category, data, mapping)


def import_leads(
    actor: Actor,
    customer_ref: str,
    category: str,
    data: bytes,
    *,
    price: Decimal | str | int,
    file_name: str = "import.csv",
    mapping: Mapping[str, str | None] | None = None,
    match: Sequence[str] | None = None,
    fills: int = 1,
    expires_in_days: int = DEFAULT_EXPIRY_DAYS,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Import a CSV file for a customer: one open reverse auction per valid row.

    Every row is validated first; the valid ones are written in one transaction with the
    import's record (who, when, file, counts, errors), the invalid ones reported with their
    line and field. Nothing is written for a dry run. A file that cannot be read, a wrong
    mapping or wrong options raise InvalidError and write nothing.
    """
    actor.require("leads.import")
    tenant = actor.acting_tenant()
    errors: dict[str, list[str]] = {}
    price_cents = _price(price, errors)
    if not 1 <= fills <= MAX_FILLS:
        errors["fills"] = [f"between 1 and {MAX_FILLS}"]
    if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        errors["expires_in"] = [f"between 1 and {MAX_EXPIRY_DAYS} days"]
    # A record of what was sent: repaired (a NUL, a lone surrogate), never refused.
    file_name = storable((file_name or "").strip()[:FILE_NAME_CHARS]) or "import.csv"
    customer = find_customer(tenant, customer_ref)
    if not customer.active:
        errors["customer"] = [f"customer {customer.slug} is inactive: it cannot buy leads"]
    ruleset = _ruleset(actor, category)
    if errors:
        raise InvalidError(_sentence(errors), errors)
    plan = _plan(ruleset, category, data, mapping)
    criteria = _criteria(plan, match)
    now = naive(now or datetime.now(UTC))
    wants, row_errors = _validate_rows(plan, ruleset, category, criteria)
    report = ImportReport(
        id=None,
        dry_run=dry_run,
        file_name=file_name,
        category=category,
        customer=customer.public_id,
        mapping=dict(plan.mapping.columns),
        unmapped=list(plan.mapping.unmapped),
        criteria=criteria,
        rows=len(plan.table.rows),
        imported=len(wants),
        errors=row_errors,
    )
    if dry_run:
        return report
    batch, auctions = store.record_import(
        tenant,
        customer,
        category,
        file_name=file_name,
        mapping=report.mapping,
        criteria=criteria,
        rows=report.rows,
        errors=[error_json(error) for error in row_errors],
        wants=wants,
        terms=store.AuctionTerms(price_cents, fills, now + timedelta(days=expires_in_days)),
        by=actor.name,
        at=now,
    )
    report.id = batch.public_id
    for auction in auctions:
        auction.customer = customer
    report.auctions = auctions
    return report


def list_auctions(
    actor: Actor,
    *,
    status: str | None = None,
    customer: str | None = None,
    lead_import: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Auction]:
    """Return the tenant's reverse auctions, newest first, filtered."""
    actor.require("leads.read")
    tenant = actor.acting_tenant()
    if status is not None and status not in AUCTION_STATUSES:
        raise InvalidError(
            f"no auction status {status!r}", {"status": [f"one of {', '.join(AUCTION_STATUSES)}"]}
        )
    buyer = find_customer(tenant, customer) if customer is not None else None
    now = naive(datetime.now(UTC))
    return store.list_auctions(
        tenant,
        now=now,
        status=status,
        customer=buyer,
        lead_import=lead_import,
        limit=limit,
        offset=offset,
    )


def list_imports(actor: Actor, *, limit: int = 50, offset: int = 0) -> list[LeadImport]:
    """Return the tenant's imports, newest first: who, when, which file, counts, errors."""
    actor.require("leads.read")
    return store.list_imports(actor.acting_tenant(), limit, offset)


def show_import(actor: Actor, ref: str) -> LeadImport:
    """Return one import with its row errors."""
    actor.require("leads.read")
    return store.find_import(actor.acting_tenant(), ref)


def cancel_auction(actor: Actor, ref: str) -> Auction:
    """Cancel an open auction and erase its row's data (its history kept); idempotent."""
    actor.require("leads.import")
    return store.cancel_auction(actor.acting_tenant(), ref, naive(datetime.now(UTC)))


def error_json(error: RowError) -> dict[str, Any]:
    """Return a row's error as the report and the import's record write it."""
    return {"line": error.line, "field": error.field, "message": error.message}


def _ruleset(actor: Actor, category: str) -> RuleSet:
    ruleset: RuleSet | None = active_ruleset(actor.acting_tenant())[1]
    if ruleset is None:
        raise InvalidError("the tenant has no active rules: push rules before importing")
    if category not in ruleset.categories:
        known = ", ".join(sorted(ruleset.categories))
        raise InvalidError(
            f"no category {category!r} in the active rules (categories: {known})",
            {"category": [f"one of {known}"]},
        )
    return ruleset


def _plan(
    ruleset: RuleSet, category: str, data: bytes, mapping: Mapping[str, str | None] | None
) -> ImportPlan:
    fields = tuple(f.name for f in ruleset.categories[category].fields)
    table = read_table(data)
    return ImportPlan(table, map_columns(table.headers, fields, mapping), fields)


def _criteria(plan: ImportPlan, match: Sequence[str] | None) -> list[str]:
    mapped = plan.mapping.fields()
    if not mapped:
        raise InvalidError(
            "No column maps to a field of the category: name the columns as the fields,"
            " or map them.",
            {"mapping": [f"the category's fields: {', '.join(plan.fields)}"]},
        )
    if match is None:
        criteria = default_criteria(mapped)
    else:
        criteria = list(dict.fromkeys(name.strip() for name in match if name.strip()))
        unknown = [name for name in criteria if name not in mapped]
        if unknown:
            message = f"{', '.join(unknown)} mapped to no column (mapped: {', '.join(mapped)})"
            raise InvalidError(f"Cannot match on {message}.", {"match": [message]})
    if not criteria:
        raise InvalidError(
            "The auctions would have no criteria (every mapped field is a contact field):"
            " choose the fields a lead must match.",
            {"match": ["at least one mapped field"]},
        )
    return criteria


def _validate_rows(
    plan: ImportPlan, ruleset: RuleSet, category: str, criteria: list[str]
) -> tuple[list[store.Want], list[RowError]]:
    """Validate every row as the intake would; return the wants and the rows' errors."""
    wants, errors = [], []
    for row in plan.table.rows:
        submitted, problem = row_fields(plan.table, plan.mapping, row)
        if problem is not None:
            errors.append(RowError(row.line, "", problem))
            continue
        try:
            values, _, _ = validate_lead(submitted, ruleset, category, test_mode=False)
            invalid: dict[str, list[str]] = {}
        except InvalidError as error:  # every field at fault, keyed by name
            assert isinstance(error.details, dict)  # validate_lead's errors, by field
            values, invalid = {}, {name: list(why) for name, why in error.details.items()}
        if not invalid:
            invalid = {
                name: ["The auction matches on this field: it needs a value."]
                for name in criteria
                if name not in values
            }
        if invalid:
            errors += [
                RowError(row.line, name, message)
                for name, messages in sorted(invalid.items())
                for message in messages
            ]
            continue
        wants.append(store.Want(row.line, values, {name: values[name] for name in criteria}))
    return wants, errors


def _price(price: Decimal | str | int, errors: dict[str, list[str]]) -> int:
    try:
        cents = to_cents(price)
    except InvalidError as error:
        errors["price"] = [error.message]
        return 0
    if cents <= 0:
        errors["price"] = ["the price per lead must be above 0"]
    return cents


def _sentence(errors: dict[str, list[str]]) -> str:
    return "Cannot import: " + "; ".join(
        f"{name}: {message}" for name, messages in errors.items() for message in messages
    )
