"""Stored lead values projected into typed columns, for counting many conditions (PostgreSQL).

Counting conditions over JSONB costs PostgreSQL most of its time reading values out of
each lead's document (look the key up, check its JSON type, convert), every time a query
runs. A projection does that once: a table of the tenant's own (`lead_projection_<tenant>_
<tag>`, catalogued in `lead_projection`) holding, per lead, the lead columns that never
change (`KEPT`) and one column per value a query asked for, exactly as `RowValues` computes
it (`facts`: the typed value of a key, its text, whether it is present, a string, holds a
scalar, a date as YYYYMMDD, a per-row expression over unchanging columns). A count then
reads those columns as the shared-row-values query would have read its subquery's, so its
answers are the same by construction (and tested so).

- *Built* on first use (`ensure`), under a transaction-level advisory lock per tenant; a
  query that needs values the projection lacks rebuilds it with the union (a new table,
  the old one dropped in the same transaction), or with its own values only when the union
  would pass `MAX_VALUES` columns.
- *Refreshed* before every use: leads stored since are added. A lead counts as new when
  its id is above the highest one projected (the projection's own primary key tells, no
  counter is kept), or when it was received less than `SLACK` before the previous refresh
  (a lead whose id was drawn before that refresh but committed after it; the intake commits
  a lead within the request that received it). A stored lead's kept columns and values
  change only when it is deleted (its data and partner id erased) or its data edited: each
  rewrites its projected row in the same transaction (`reproject`). Sluice never removes a
  lead's row; deleting a tenant removes its catalogue row, and its projection table is then
  to be dropped by hand (docs/operations.md).
- Lead columns that change (status, lead type) and the source's name are not kept: a
  window filtering on status or lead type is counted on the leads themselves, and the
  source name is looked up per row from the kept source_id, as on the leads.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta

from app.analysis.fragments import join
from app.dsl.sql import RowValues, Sql, sql
from app.store.db import database, is_postgresql
from app.store.models import LeadProjection

#: How long before a refresh a lead may have been received and still be committed after it.
SLACK = timedelta(hours=1)
#: The lead columns a projection keeps beside the values: none of them ever changes.
KEPT = ("id", "tenant_id", "category", "received_at", "is_test", "source_id", "partner_id")
#: What a stored value may be computed from: the unchanging columns and the lead's data.
_STORABLE_COLUMNS = frozenset(KEPT) | {"data"}
_LEAD_COLUMN = re.compile(r"\bl\.(\w+)")
_NOT_STORABLE = re.compile(r"\b(select|now|clock_timestamp|random|current_\w+)\b", re.I)
#: pg_advisory_xact_lock(LOCK, tenant id) serializes a tenant's builds and refreshes.
LOCK = 0x51CE
#: Values a projection holds at most (PostgreSQL allows 1,600 columns): a rebuild that would
#: hold more keeps only the values its count asked for.
MAX_VALUES = 400


class ProjectedRowValues(RowValues):
    """Row values each of which (but the raw JSON they are read from) can be a column."""

    def string_check(self, key: str) -> Sql:
        raw = self._raw(key)
        return self._column(
            ("is_string", key),
            self.second,
            lambda: Sql(f"COALESCE(jsonb_typeof({raw}) = 'string', FALSE)"),
            ("string_check", key),
        )


def _ask(row: RowValues, recipe: list | tuple) -> Sql:
    """Ask `row` again for the value a recipe describes."""
    method, *arguments = recipe
    if method == "expression":
        text, params = arguments
        return row.expression(Sql(text, tuple(params)))
    return getattr(row, method)(*arguments)


def column_name(recipe: tuple) -> str:
    """Return the projection column that holds a recipe's value."""
    digest = hashlib.sha1(json.dumps(recipe, ensure_ascii=False).encode()).hexdigest()
    return "f_" + digest[:20]


def _columns_of(text: str) -> set[str]:
    return set(_LEAD_COLUMN.findall(text))


def plan(row: RowValues) -> tuple[dict[str, str], dict[str, Sql], dict[str, list]] | None:
    """Sort the values a query asked of `row` into stored and computed ones.

    Returns ({name in the query: projection column}, {name: SQL over the projection, which
    has the lead's alias `l`}, {projection column: recipe}), or None when some value needs a
    lead column the projection does not keep.
    """
    stored: dict[str, str] = {}
    computed: dict[str, Sql] = {}
    recipes: dict[str, list] = {}
    for name, expression in {**row.first, **row.second}.items():
        recipe = row.recipes.get(name)
        if recipe is None:
            continue  # `data -> key`: read only to compute the values stored
        if recipe[0] == "expression":
            columns = _columns_of(recipe[1])
            storable = (
                columns <= _STORABLE_COLUMNS
                and recipe[1].strip() != "l.data"
                and not _NOT_STORABLE.search(recipe[1])
            )
            if not storable:
                if not columns <= set(KEPT):
                    return None
                computed[name] = expression
                continue
        try:
            column = column_name(tuple(recipe))
        except TypeError:  # a parameter JSON cannot hold
            return None
        stored[name] = column
        recipes[column] = list(recipe)
    return stored, computed, recipes


def usable(scope: Sql) -> bool:
    """Whether a WHERE over the lead `l` reads only columns a projection keeps."""
    return _columns_of(scope.text) <= set(KEPT)


def _select(facts: Mapping[str, list], source: Sql) -> Sql:
    """The query computing a projection's rows from the leads `source` selects."""
    row = ProjectedRowValues("l.data")
    kept = [sql(f"{{e}} AS {c}", e=row.expression(Sql(f"l.{c}"))) for c in KEPT]
    values = [sql(f"{{e}} AS {column}", e=_ask(row, recipe)) for column, recipe in facts.items()]
    select = join([*kept, *values], ", ")
    return sql("SELECT {s} FROM {rows}", s=select, rows=row.rows(source))


def ensure(tenant_id: int, wanted: Mapping[str, list], *, build: bool = True) -> str | None:
    """Bring the tenant's projection up to date and holding the `wanted` values (column ->
    recipe); return its table. Without `build`, return None instead of building one or
    adding values (a projection pays off for many conditions, not for one)."""
    with database.atomic():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK, tenant_id))
        now = database.execute_sql("SELECT now() AT TIME ZONE 'UTC'").fetchone()[0]
        current = LeadProjection.get_or_none(LeadProjection.tenant == tenant_id)
        if current is not None and set(wanted) <= set(current.facts):
            _refresh(tenant_id, current, now)
            return current.table
        if not build or len(wanted) > MAX_VALUES:
            return None
        facts = {**(current.facts if current is not None else {}), **wanted}
        if len(facts) > MAX_VALUES:  # values asked for long ago make way
            facts = dict(wanted)
        return _build(tenant_id, facts, current, now)


def reproject(tenant_id: int, lead_ids: list[int]) -> None:
    """Compute these leads' projected rows again (their data was erased or edited), if the
    tenant has a projection, in the caller's transaction (PostgreSQL; nothing to do on
    SQLite)."""
    if not lead_ids or not is_postgresql():
        return
    database.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK, tenant_id))
    current = LeadProjection.get_or_none(LeadProjection.tenant == tenant_id)
    if current is None:
        return
    table, marks = current.table, ", ".join(["%s"] * len(lead_ids))
    database.execute_sql(f'DELETE FROM "{table}" WHERE id IN ({marks})', lead_ids)
    source = sql(
        '"lead" l WHERE l.tenant_id = {t} AND l.id = ANY({ids})',
        t=Sql("%s", (tenant_id,)),
        ids=Sql("%s", (list(lead_ids),)),
    )
    columns = ", ".join([*KEPT, *current.facts])
    statement = sql(f'INSERT INTO "{table}" ({columns}) {{q}}', q=_select(current.facts, source))
    database.execute_sql(statement.text, statement.params)


def _build(tenant_id: int, facts: dict, current: LeadProjection | None, now) -> str:
    table = f"lead_projection_{tenant_id}_{secrets.token_hex(4)}"
    source = sql('"lead" l WHERE l.tenant_id = {t}', t=Sql("%s", (tenant_id,)))
    statement = sql(f'CREATE TABLE "{table}" AS {{q}}', q=_select(facts, source))
    database.execute_sql(statement.text, statement.params)
    # No foreign key to the leads: adding one would hold off every write to them (the
    # intake) until this transaction ends, and dropping one locks them altogether.
    database.execute_sql(f'ALTER TABLE "{table}" ADD PRIMARY KEY (id)')
    database.execute_sql(f'ANALYZE "{table}"')
    if current is not None:
        database.execute_sql(f'DROP TABLE IF EXISTS "{current.table}"')
    LeadProjection.insert(tenant=tenant_id, table=table, facts=facts, refreshed_at=now).on_conflict(
        conflict_target=[LeadProjection.tenant],
        update={
            LeadProjection.table: table,
            LeadProjection.facts: facts,
            LeadProjection.refreshed_at: now,
        },
    ).execute()
    return table


def _refresh(tenant_id: int, current: LeadProjection, now) -> None:
    table = current.table
    # The highest id projected, from the primary key; bound as a value, so that PostgreSQL
    # plans the leads' look-up on their indexes (a subquery here made it scan them all).
    highest = database.execute_sql(f'SELECT COALESCE(max(id), 0) FROM "{table}"').fetchone()[0]
    source = sql(
        '"lead" l WHERE l.tenant_id = {t} AND (l.id > {m} OR l.received_at >= {s})'
        f' AND NOT EXISTS (SELECT 1 FROM "{table}" p WHERE p.id = l.id)',
        t=Sql("%s", (tenant_id,)),
        m=Sql("%s", (highest,)),
        s=Sql("%s", (current.refreshed_at - SLACK,)),
    )
    columns = ", ".join([*KEPT, *current.facts])
    statement = sql(f'INSERT INTO "{table}" ({columns}) {{q}}', q=_select(current.facts, source))
    database.execute_sql(statement.text, statement.params)
    LeadProjection.update(refreshed_at=now).where(LeadProjection.tenant == tenant_id).execute()


def rows(
    table: str, stored: Mapping[str, str], computed: Mapping[str, Sql], scope: Sql, alias: str
) -> Sql:
    """Return the subquery of the projected rows `scope` keeps (a WHERE over `l`), its
    columns named as the query's `RowValues` named them (see `plan`)."""
    parts = [Sql(f"l.{column} AS {name}") for name, column in stored.items()]
    parts += [sql(f"{{e}} AS {name}", e=e) for name, e in computed.items()]
    parts.append(Sql("clock_timestamp() AS _once"))  # not merged into the query above
    columns = join(parts, ", ")
    return sql(f'(SELECT {{c}} FROM "{table}" l WHERE {{w}}) {alias}', c=columns, w=scope)
