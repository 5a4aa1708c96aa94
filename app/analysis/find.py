"""Finding stored leads with a rule expression (`leads find`, `GET /api/admin/leads?where=`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.analysis import leadsql
from app.domain.errors import InvalidError
from app.dsl.sql import Sql, sql
from app.pipeline.lead import build_lead
from app.store.listing import LeadFilter
from app.store.models import Lead, Source, Tenant
from app.store.rules import RulesRefused, active_ruleset, compiled, diagnostic_json, list_versions


def condition_fields(tenant: Tenant, category: str | None, version: int | None = None):
    """Return (category, {name: Field}) of the tenant's rule set (active or numbered)."""
    if version is None:
        _, ruleset = active_ruleset(tenant)
    else:
        rows = [row for row in list_versions(tenant) if row.number == version]
        ruleset = compiled(rows[0]) if rows else None
        if ruleset is None:
            raise InvalidError(f"no rule set version {version}")
    if ruleset is None:
        raise InvalidError("the tenant has no active rule set: its fields are unknown")
    if category is None:
        if len(ruleset.categories) != 1:
            names = ", ".join(sorted(ruleset.categories))
            raise InvalidError(f"name the category of the leads to search (one of {names})")
        category = next(iter(ruleset.categories))
    if category not in ruleset.categories:
        raise InvalidError(f"the rule set has no category {category!r}")
    return category, {f.name: f for f in ruleset.fields(category)}


def types_of(fields: Mapping[str, Any]) -> dict[str, str]:
    """Return {name: type name} of {name: Field or type name}."""
    return {name: getattr(f, "type", f) for name, f in fields.items()}


def compile_expression(text: str, fields: Mapping[str, str]):
    """Return (AST, predicate) of an expression; RulesRefused with diagnostics when invalid."""
    from app.dsl import RulesError, compile_condition, parse_condition

    try:
        return parse_condition(text, fields), compile_condition(text, fields)
    except RulesError as error:
        raise RulesRefused(
            "the expression has errors:\n" + error.report(),
            [diagnostic_json(d) for d in error.diagnostics],
        ) from None


def find_leads(
    tenant: Tenant,
    text: str,
    *,
    category: str | None = None,
    filters: LeadFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    version: int | None = None,
) -> tuple[list[Lead], bool]:
    """Return the leads (newest first) for which the expression holds, and whether the SQL
    alone decided (False: candidates were re-checked with the Python predicate).

    The expression is typed by the category's fields in the active rule set (or `version`).
    """
    category, fields = condition_fields(tenant, category, version)
    filters = LeadFilter(**{**(filters or LeadFilter()).__dict__, "category": category})
    node, predicate = compile_expression(text, fields)
    return select_leads(tenant.id, node, predicate, fields, filters, limit, offset)


def select_leads(
    tenant_id: int, node, predicate, fields, filters: LeadFilter, limit: int, offset: int = 0
) -> tuple[list[Lead], bool]:
    """Return the leads of the filters for which the condition holds, newest first, and
    whether the SQL alone decided (else candidates were re-checked with the predicate)."""
    name = leadsql.dialect()
    where = leadsql.where_sql(node, types_of(fields), name)
    scope = sql(
        "{s} AND ({w})",
        s=leadsql.scope_sql(tenant_id, filters, name),
        w=Sql(where.sql, where.params),
    )
    order = " ORDER BY l.received_at DESC, l.id DESC"
    if where.exact:
        statement = sql(
            "SELECT l.id FROM " + leadsql.FROM + " WHERE {s}" + order + " LIMIT {n} OFFSET {o}",
            s=scope,
            n=leadsql.bind(limit, name),
            o=leadsql.bind(offset, name),
        )
        ids = [row[0] for row in leadsql.execute(statement)]
    else:
        ids = _recheck(scope, order, predicate, limit, offset)
    return _leads(ids), where.exact


def count_leads(tenant: Tenant, text: str, *, category=None, filters=None, version=None) -> int:
    """Return how many leads the expression selects (exactly, re-checked when needed)."""
    category, fields = condition_fields(tenant, category, version)
    filters = LeadFilter(**{**(filters or LeadFilter()).__dict__, "category": category})
    node, predicate = compile_expression(text, fields)
    name = leadsql.dialect()
    where = leadsql.where_sql(node, types_of(fields), name)
    window = leadsql.Window(tenant.id, filters)
    if where.exact:
        return window.count([(category, where)])[1][0]
    scope = sql(
        "{s} AND ({w})",
        s=leadsql.scope_sql(tenant.id, filters, name),
        w=Sql(where.sql, where.params),
    )
    return len(_recheck(scope, "", predicate, None, 0))


def _recheck(scope: Sql, order: str, predicate, limit: int | None, offset: int) -> list[int]:
    """Return the ids of the candidates for which the predicate holds, paged."""
    statement = sql(
        f"SELECT l.id, l.data, l.category, {leadsql.SOURCE_NAME}, l.partner_id, l.received_at, "
        "l.is_test FROM " + leadsql.FROM + " WHERE {s}" + order,
        s=scope,
    )
    cursor = leadsql.execute(statement)
    found, skipped = [], 0
    while rows := cursor.fetchmany(1000):
        for lead_id, data, category, source, partner, received, is_test in rows:
            lead = _as_rules_see_it(data, category, source, partner, received, is_test)
            if not predicate(lead):
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append(lead_id)
            if limit is not None and len(found) >= limit:
                cursor.close()
                return found
    cursor.close()
    return found


def _as_rules_see_it(data, category, source, partner, received, is_test) -> dict[str, Any]:
    if isinstance(received, str):  # SQLite hands the stored text back
        received = datetime.fromisoformat(received)
    return build_lead(
        leadsql.decode(data),
        category=category,
        source=source,
        partner=partner,
        received_at=received,
        is_test=bool(is_test),
    )


def _leads(ids: list[int]) -> list[Lead]:
    if not ids:
        return []
    rows = {
        lead.id: lead for lead in Lead.select(Lead, Source).join(Source).where(Lead.id.in_(ids))
    }
    return [rows[i] for i in ids]
