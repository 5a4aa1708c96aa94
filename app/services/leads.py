"""Leads: list, show, explain, find by rule expression, reprocess (reviews: review.py)."""

from __future__ import annotations

from typing import Any

from app.analysis import leadsql
from app.analysis.explain import explain_stored_lead
from app.analysis.find import (
    compile_expression,
    condition_fields,
    count_leads,
    find_leads,
    types_of,
)
from app.domain.errors import NotFoundError
from app.services import reprocess
from app.services.actor import Actor
from app.store.deliveries_admin import lead_deliveries
from app.store.leads import get_lead, lead_events
from app.store.listing import LeadFilter
from app.store.listing import list_leads as select_leads
from app.store.models import Lead, Tenant
from app.store.pings import ping_refs
from app.store.review import is_review, review_of, reviews_of

#: The `test` filter's choices: hide test leads, only them, or both.
TEST_LEADS: dict[str, bool | None] = {"false": False, "true": True, "all": None}


def list_leads(
    actor: Actor,
    filters: LeadFilter,
    *,
    where: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Lead]:
    """Return the tenant's leads matching the filters (and the expression `where`), newest first."""
    actor.require("leads.read")
    if where is None:
        return _with_reviews(select_leads(actor.acting_tenant(), filters, limit, offset))
    return find_leads_by_rule(actor, where, filters, limit=limit, offset=offset)


def show_lead(actor: Actor, ref: str) -> Lead:
    """Return a lead with its timeline (`lead.timeline`), its audit review (`lead.review`)
    and, to a role that may read them, its deliveries (`lead.delivery_list`)."""
    actor.require("leads.read")
    lead = find_lead(actor.acting_tenant(), ref)
    lead.timeline = lead_events(lead)
    reviews = [review_of(event) for event in lead.timeline if is_review(event)]
    lead.review = reviews[-1] if reviews else None
    lead.delivery_list = lead_deliveries(lead) if actor.can("deliveries.read") else []
    return lead


def explain_lead(actor: Actor, ref: str) -> dict[str, Any]:
    """Return why a stored lead went where it went: rules, clauses, dedupe, every bid."""
    actor.require("leads.explain")
    return explain_stored_lead(find_lead(actor.acting_tenant(), ref))


def find_leads_by_rule(
    actor: Actor,
    expression: str,
    filters: LeadFilter,
    *,
    version: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Lead]:
    """Return the leads for which a rules expression holds, newest first (through SQL)."""
    actor.require("leads.explain")
    found, _ = find_leads(
        actor.acting_tenant(),
        expression,
        category=filters.category,
        filters=filters,
        limit=limit,
        offset=offset,
        version=version,
    )
    return _with_reviews(found)


def count_leads_by_rule(
    actor: Actor, expression: str, filters: LeadFilter, *, version: int | None = None
) -> int:
    """Return how many leads a rules expression selects."""
    actor.require("leads.explain")
    return count_leads(
        actor.acting_tenant(),
        expression,
        category=filters.category,
        filters=filters,
        version=version,
    )


def rule_sql(
    actor: Actor, expression: str, *, category: str | None = None, version: int | None = None
) -> dict[str, Any]:
    """Return the WHERE clause an expression compiles to on the bound database."""
    actor.require("leads.explain")
    _, fields = condition_fields(actor.acting_tenant(), category, version)
    node, _ = compile_expression(expression, fields)
    where = leadsql.where_sql(node, types_of(fields), leadsql.dialect())
    return {"sql": where.sql, "params": list(where.params), "exact": where.exact}


def reprocess_lead(
    actor: Actor, ref: str, *, start: str | None = None, test_price_cents: int
) -> Lead:
    """Route an unassigned, uncategorized, pending or errored lead (or an approved audit)
    again with the active rules, from `start` (bidding: from the beginning); return it as
    `show_lead` does."""
    lead = reprocess.reprocess_lead(actor, ref, start=start, test_price_cents=test_price_cents)
    return show_lead(actor, lead.public_id)


def _with_reviews(found: list[Lead]) -> list[Lead]:
    """Set each listed lead's audit review (`lead.review`, None if it has none) and the
    public id of its ping (`lead.ping_ref`, None if it was not posted against one)."""
    reviews = reviews_of(lead.id for lead in found)
    pings = ping_refs(lead.ping_id for lead in found if lead.ping_id)
    for lead in found:
        lead.review = reviews.get(lead.id)
        lead.ping_ref = pings.get(lead.ping_id) if lead.ping_id else None
    return found


def find_lead(tenant: Tenant, ref: str) -> Lead:
    """Return the tenant's lead with this public id or UUID (NotFoundError otherwise)."""
    lead = get_lead(tenant, ref)
    if lead is None:
        raise NotFoundError(f"no lead {ref!r}")
    return lead
