"""Exporting leads as CSV: any list's filters, every field or the deliverable ones, streamed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

from app.analysis.find import compile_expression, condition_fields, select_leads
from app.domain.clock import utcnow
from app.domain.csvexport import csv_chunks
from app.domain.errors import InvalidError
from app.domain.money import from_cents
from app.services.actor import Actor
from app.store.customers import customer_public_ids
from app.store.listing import LeadFilter, list_leads
from app.store.models import Lead, Tenant
from app.store.rules import active_ruleset

#: Which fields an export holds: every field (the tenant's own export), or only those
#: the rules mark `deliverable` (what a buyer may see).
EXPORT_FIELDS = ("all", "deliverable")
#: The columns before the fields: the tenant's, and the public facts a buyer may see.
TENANT_COLUMNS = (
    "id",
    "uuid",
    "received_at",
    "category",
    "lead_type",
    "status",
    "price",
    "customer",
    "source",
    "is_test",
    "deleted",  # true: its personal data was erased (the fields are empty)
)
DELIVERABLE_COLUMNS = ("id", "received_at", "category", "lead_type", "status", "price")
#: A buyer's own export (the customer API): when each lead was sold to it, and whether it
#: was deleted (its fields then empty).
CUSTOMER_COLUMNS = (*DELIVERABLE_COLUMNS, "assigned_at", "deleted")
#: Leads read per query: memory holds about this many at once, whatever the export's size.
CHUNK = 500


@dataclass(frozen=True)
class LeadExport:
    """An export under way: its columns, its rows (read as they are consumed), a file name."""

    columns: tuple[str, ...]
    rows: Iterator[list[Any]]
    filename: str

    def csv(self) -> Iterator[str]:
        """Yield the CSV text: the header, then the rows in chunks."""
        return csv_chunks(self.columns, self.rows)


def export_leads(
    actor: Actor,
    filters: LeadFilter,
    *,
    where: str | None = None,
    fields: str = "all",
    chunk: int = CHUNK,
) -> LeadExport:
    """Return the export of the leads a list with these filters (and `where`) shows,
    newest first, with every field of their categories or only the deliverable ones.

    Everything that can be refused (permission, fields, the expression, the first query)
    is checked here; the rows are then read `chunk` leads at a time, by keyset on
    (received_at, id), as they are consumed.
    """
    actor.require("leads.export")
    if fields not in EXPORT_FIELDS:
        raise InvalidError(
            f"fields is {' or '.join(EXPORT_FIELDS)}", {"fields": ["Must be all or deliverable."]}
        )
    tenant = actor.acting_tenant()
    if where is None:
        return lead_export(tenant, filters, scope=fields, chunk=chunk)
    actor.require("leads.explain")  # as the list's `where`
    category, known = condition_fields(tenant, filters.category)
    node, predicate = compile_expression(where, known)
    filters = replace(filters, category=category)

    def select(page: LeadFilter) -> list[Lead]:
        return select_leads(tenant.id, node, predicate, known, page, chunk)[0]

    return lead_export(tenant, filters, scope=fields, chunk=chunk, select=select)


def lead_export(
    tenant: Tenant,
    filters: LeadFilter,
    *,
    scope: str,
    chunk: int = CHUNK,
    select: Callable[[LeadFilter], list[Lead]] | None = None,
    stem: str | None = None,
) -> LeadExport:
    """Return the export of the tenant's leads these filters select (with `select`, a
    query of their own), in a scope: every field ("all"), the deliverable ones
    ("deliverable"), or a buyer's own ("customer": deliverable, with when each was sold
    to it and whether it was deleted). The caller checked the actor's rights."""

    def page_of(page: LeadFilter) -> list[Lead]:
        return select(page) if select is not None else list_leads(tenant, page, chunk)

    names = field_names(tenant, filters.category, deliverable=scope != "all")
    first = page_of(filters)
    leads = chain(first, _later_pages(page_of, filters, first, chunk))
    columns: tuple[str, ...]
    if scope == "all":
        columns, row = TENANT_COLUMNS, _tenant_row(customer_public_ids(tenant))
    else:
        columns, row = _SCOPES[scope]
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return LeadExport(
        columns=(*columns, *names),
        rows=(row(lead) + [lead.data.get(name) for name in names] for lead in leads),
        filename=f"{stem or tenant.slug}-leads-{stamp}.csv",
    )


def field_names(tenant: Tenant, category: str | None, *, deliverable: bool) -> list[str]:
    """Return the fields of the category (or of every category, each name once, in the
    categories' order), as the active rules declare them."""
    _, ruleset = active_ruleset(tenant)
    if ruleset is None:
        return []
    categories = [category] if category else list(ruleset.categories)
    names: dict[str, None] = {}
    for name in categories:
        if name in ruleset.categories:
            for field in ruleset.fields(name):
                if field.deliverable or not deliverable:
                    names.setdefault(field.name)
    return list(names)


def _later_pages(
    select: Callable[[LeadFilter], list[Lead]], filters: LeadFilter, page: list[Lead], chunk: int
) -> Iterator[Lead]:
    """Yield the leads after the first page, a page (one query) at a time."""
    while len(page) >= chunk:
        last = page[-1]
        page = select(replace(filters, before=(last.received_at, last.id)))
        yield from page


def _tenant_row(customers: dict[int, str]) -> Callable[[Lead], list[Any]]:
    def row(lead: Lead) -> list[Any]:
        return [
            lead.public_id,
            str(lead.uuid),
            lead.received_at,
            lead.category,
            lead.lead_type,
            lead.status,
            str(from_cents(lead.price_cents)),
            customers.get(lead.customer_id) if lead.customer_id else None,
            lead.source.public_id,
            lead.is_test,
            lead.deleted_at is not None,
        ]

    return row


def _deliverable_row(lead: Lead) -> list[Any]:
    return [
        lead.public_id,
        lead.received_at,
        lead.category,
        lead.lead_type,
        lead.status,
        str(from_cents(lead.price_cents)),
    ]


def _customer_row(lead: Lead) -> list[Any]:
    return [*_deliverable_row(lead), lead.assigned_at, lead.deleted_at is not None]


_SCOPES: dict[str, tuple[tuple[str, ...], Callable[[Lead], list[Any]]]] = {
    "deliverable": (DELIVERABLE_COLUMNS, _deliverable_row),
    "customer": (CUSTOMER_COLUMNS, _customer_row),
}
