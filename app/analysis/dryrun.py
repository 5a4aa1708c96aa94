"""Dry-run: what a proposed rule set would have done to stored leads, against the baseline.

Reads only. The leads of the window are streamed oldest first; each is routed in memory by
both rule sets (`comparison.DryRun`, `replay.Side`), and the differences are counted. The
result is a plain JSON-able dict, documented in docs/analysts.md.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

from app.analysis import leadsql
from app.analysis.comparison import SAMPLE_SIZE, DryRun, DryRunRequest, rule_set_versions
from app.analysis.replay import Conditions
from app.dsl import ast
from app.dsl.ruleset import RuleSet
from app.store.listing import LeadFilter
from app.store.models import Customer, Source

__all__ = ["SAMPLE_SIZE", "DryRunRequest", "count_rules", "dry_run_for_tenant", "run_dry_run"]


# ---- running against the store -------------------------------------------------------


def _rule_conditions(request: DryRunRequest) -> list[tuple[str, str, str, str, Any]]:
    """Return (side, kind, id, category, Condition) of every rule that has a condition."""
    items = []
    for side, rules in (("before", request.baseline), ("after", request.proposed)):
        for category in rules.categories:
            for lead_type in rules.lead_types_of(category):
                if lead_type.condition is not None:
                    items.append((side, "lead_type", lead_type.id, category, lead_type.condition))
            for audit in rules.audits_of(category):
                items.append((side, "audit", audit.label, category, audit.condition))
            for bid in rules.bids_of(category):
                if bid.condition is not None:
                    items.append((side, "bid", bid.id, category, bid.condition))
    return items


def _fields(rules: RuleSet, category: str) -> dict[str, str]:
    return {f.name: f.type for f in rules.fields(category)}


def _types(request: DryRunRequest, side: str, category: str):
    rules = request.baseline if side == "before" else request.proposed
    return rules._by_category[category].field_types


@contextmanager
def _no_cycle_collection():
    """Pause Python's cycle collector: the replay keeps up to millions of small lists (the
    dedupe history), which each collection would walk again and again, for none of them is in
    a cycle (reference counting frees everything the replay drops). ~25% of the replay's
    time at 1,000,000 leads."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_dry_run(
    request: DryRunRequest,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = leadsql.BATCH,
) -> dict[str, Any]:
    """Compare the rule sets over the stored leads of the window; return the report.

    Conditions whose SQL is exact are evaluated by the database, in the streaming query
    (one bit each, also summed into the matches per rule); the others, dedupe keys and the
    replay run in Python. `progress(done, total)` is called after every batch.
    Reads only.
    """
    started = time.perf_counter()
    name = leadsql.dialect()
    categories = sorted(set(request.baseline.categories) | set(request.proposed.categories))

    def translate(category: str, node, fields):
        where = leadsql.where_sql(node, dict(fields), name)
        return where if where.exact else None

    where, narrow = None, None
    if request.where is not None:
        where, narrow = _narrowing(request, categories, name)
    conditions = Conditions(translate if narrow is None or where.exact else None)
    customers = {
        c.slug: c.active
        for c in Customer.select(Customer.slug, Customer.active).where(
            Customer.tenant == request.tenant_id
        )
    }
    sources = {
        s.id: s.name
        for s in Source.select(Source.id, Source.name).where(Source.tenant == request.tenant_id)
    }
    dry_run = DryRun(request, customers, sources, conditions)
    if narrow is not None and not where.exact:
        predicate, fields, meta = narrow
        dry_run.narrow_with(predicate, fields, meta)
    window = leadsql.Window(request.tenant_id, request.filters, where, request.limit)
    window = window.with_categories(categories)
    items = _rule_conditions(request)
    refs = [
        conditions.condition(category, c, _types(request, side, category))
        for side, _, _, category, c in items
    ]
    total = window.count([])[0] if progress is not None else 0  # for the progress bar
    dry_run.count_in_python(sorted({slot for bit, slot in refs if bit < 0}))
    masks = [conditions.sql[bit] for bit in range(len(conditions.sql))]
    rows_fields = dry_run.fields if name == "postgresql" else None
    if rows_fields is None:
        dry_run.fields = None
    done = 0
    lean = not dry_run.meta  # no Python condition reads metadata: leave those columns out
    with _no_cycle_collection():
        for rows in window.stream(batch, masks=masks, fields=rows_fields, lean=lean):
            dry_run.feed(rows)
            done += len(rows)
            if progress is not None:
                progress(done, total)
    sql_counts = dry_run.bit_counts(len(conditions.sql))
    rule_counts = [
        _rule_count(item, sql_counts[bit], "sql")
        if bit >= 0
        else _rule_count(item, dry_run.python_counts[slot], "python")
        for item, (bit, slot) in zip(items, refs, strict=True)
    ]
    return dry_run.report(rule_counts, time.perf_counter() - started)


def _rule_count(item: tuple, matches: int, counted_by: str, **more: Any) -> dict[str, Any]:
    """Return a report's entry for one rule (an item of `_rule_conditions`) and its matches."""
    side, kind, rule_id, category, condition = item
    return {
        "rules": side,
        "kind": kind,
        "id": rule_id,
        "category": category,
        "condition": condition.source,
        "matches": matches,
        "counted_by": counted_by,
        **more,
    }


def distinct_conditions(request: DryRunRequest, name: str) -> tuple[list, list, list[int]]:
    """Return (`_rule_conditions(request)`, each distinct condition once as (category,
    SqlWhere) for the dialect `name`, each rule's index among those): a condition both rule
    sets hold is counted once."""
    items = _rule_conditions(request)
    slots: dict[tuple, int] = {}
    conditions, item_slots = [], []
    for side, _, _, category, condition in items:
        fields = _types(request, side, category)
        key = (category, condition.source, tuple(sorted(fields.items())))
        if key not in slots:
            slots[key] = len(conditions)
            conditions.append((category, leadsql.where_sql(condition.node, fields, name)))
        item_slots.append(slots[key])
    return items, conditions, item_slots


def count_rules(request: DryRunRequest, *, build: bool = True) -> dict[str, Any]:
    """Count, for every rule of both sets that has a condition, the window's leads of its
    category for which the condition holds: the database counts them all in one query (on
    PostgreSQL through the tenant's lead projection), nothing is replayed. Each condition is
    taken alone: priorities, dedupe, caps and budgets aside. A condition whose SQL is not
    exact is counted as its superset (`exact: false`: at most that many). Reads only, but
    for the projection, which it refreshes, and builds or extends when `build` allows (else
    the leads themselves are counted)."""
    started = time.perf_counter()
    name = leadsql.dialect()
    categories = sorted(set(request.baseline.categories) | set(request.proposed.categories))
    where = None
    if request.where is not None:
        where, _ = _narrowing(request, categories, name)
        if not where.exact:
            raise ValueError(
                "the expression has no exact SQL translation (lower, upper or such a regex):"
                " counts need one; the full dry-run re-checks it"
            )
    window = leadsql.Window(request.tenant_id, request.filters, where, request.limit)
    window = window.with_categories(categories)
    items, conditions, item_slots = distinct_conditions(request, name)
    total, counts = window.count(conditions, build=build)
    rules = [
        _rule_count(item, counts[slot], "sql", exact=conditions[slot][1].exact)
        for item, slot in zip(items, item_slots, strict=True)
    ]
    return {
        **rule_set_versions(request),
        "counts_only": True,
        "leads": total,
        "rules": rules,
        "elapsed_seconds": round(time.perf_counter() - started, 3),
    }


def _narrowing(request: DryRunRequest, categories: list[str], name: str):
    """Return the request's `where` as SQL, and (predicate, fields, metadata) to re-check it."""
    from app.dsl import compile_condition, parse_condition

    category = request.filters.category or (categories[0] if len(categories) == 1 else None)
    if category is None:
        raise ValueError("name the category to narrow the leads with an expression")
    rules = request.proposed if category in request.proposed.categories else request.baseline
    fields = rules.categories[category].field_map
    node = parse_condition(request.where, fields)
    used = {part.name for part in ast.walk(node) if isinstance(part, ast.FieldRef)}
    meta = {"received_at", "source", "partner", "category", "is_test"}
    predicate = compile_condition(request.where, fields)
    return leadsql.where_sql(node, _fields(rules, category), name), (predicate, used, meta)


def dry_run_for_tenant(
    tenant,
    files: Mapping[str, str],
    *,
    baseline: int | None = None,
    filters: LeadFilter | None = None,
    source: str | None = None,
    where: str | None = None,
    limit: int | None = None,
    sample_size: int = SAMPLE_SIZE,
    progress: Callable[[int, int], None] | None = None,
    counts_only: bool = False,
    build_projection: bool = True,
) -> dict[str, Any]:
    """Dry-run proposed rule files against a stored version (default: the active one).

    Invalid files raise RulesRefused carrying the same diagnostics as `sluice check`, before
    any lead is read. `source` is a source's public id or name. `counts_only`: only the
    per-rule match counts (`count_rules`), no replay; without `build_projection` they are
    counted on the leads when the tenant's projection would have to be built or extended.
    """
    from app.domain.errors import InvalidError, NotFoundError
    from app.dsl import RulesError, compile_rules
    from app.store.models import RuleSetVersion
    from app.store.rules import RulesRefused, active_version, compiled, diagnostic_json

    try:
        proposed = compile_rules(dict(files))
    except RulesError as error:
        raise RulesRefused(
            "the rule set has errors:\n" + error.report(),
            [diagnostic_json(d) for d in error.diagnostics],
        ) from None
    if baseline is None:
        version = active_version(tenant)
        if version is None:
            raise InvalidError("the tenant has no active rule set to compare with: name a version")
    else:
        version = RuleSetVersion.get_or_none(
            (RuleSetVersion.tenant == tenant) & (RuleSetVersion.number == baseline)
        )
        if version is None:
            raise NotFoundError(f"no rule set version {baseline}")
    filters = filters or LeadFilter()
    if source:
        found = (
            Source.select(Source.public_id)
            .where(
                (Source.tenant == tenant) & ((Source.public_id == source) | (Source.name == source))
            )
            .first()
        )
        if found is None:
            raise NotFoundError(f"no source {source!r}")
        filters = LeadFilter(**{**filters.__dict__, "source": found.public_id})
    request = DryRunRequest(
        tenant.id,
        compiled(version),
        proposed,
        version.number,
        filters,
        where=where,
        limit=limit,
        sample_size=sample_size,
    )
    try:
        if counts_only:
            report = count_rules(request, build=build_projection)
        else:
            report = run_dry_run(request, progress=progress)
    except RulesError as error:  # the narrowing expression
        raise RulesRefused(
            "the expression has errors:\n" + error.report(),
            [diagnostic_json(d) for d in error.diagnostics],
        ) from None
    except ValueError as error:
        raise InvalidError(str(error)) from None
    report["proposed"]["warnings"] = [diagnostic_json(d) for d in proposed.warnings]
    report["window"] = {
        "since": filters.since.isoformat() + "Z" if filters.since else None,
        "until": filters.until.isoformat() + "Z" if filters.until else None,
        "category": filters.category,
        "source": filters.source,
        "status": filters.status,
        "where": where,
        "limit": limit,
    }
    return report
