"""Stored leads in SQL: metadata columns for rule expressions, scopes, counts and streaming.

Rule expressions compile to SQL with `app.dsl.sql.to_sql`; here their metadata (`@source`,
`@received_at`, ...) is mapped onto the lead's columns, so the SQL sees exactly what the
Python predicate sees through `build_lead`. `@received_at` is the canonical text
`YYYY-MM-DDTHH:MM:SSZ` (seconds truncated) on both databases.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from peewee import DatabaseError
from playhouse.pool import PooledDatabase

from app.analysis import projection
from app.analysis.fragments import join
from app.domain.status import statuses_of
from app.dsl import ast
from app.dsl.sql import RowValues, Sql, SqlWhere, sql, to_sql
from app.dsl.sqldialects import register_sqlite_functions
from app.store.db import database, is_postgresql, sqlstate
from app.store.listing import LeadFilter

try:  # orjson decodes lead data ~3x faster; the json module gives the same values
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    _loads = json.loads

FROM = '"lead" l'
#: SQLSTATEs of a database that will not take the projection's writes: read-only
#: transaction (a standby, default_transaction_read_only), insufficient privilege.
_CANNOT_WRITE = frozenset({"25006", "42501"})
#: The lead's source name, looked up only for the rows and clauses that read it (no join).
SOURCE_NAME = '(SELECT s.name FROM "source" s WHERE s.id = l.source_id)'
BATCH = 5000


def dialect() -> str:
    """Return the bound database's SQL dialect name, as `to_sql` takes it."""
    return "postgresql" if is_postgresql() else "sqlite"


def received_text(name: str = "postgresql") -> str:
    """Return SQL for `l.received_at` as the canonical `YYYY-MM-DDTHH:MM:SSZ` text."""
    if name == "postgresql":
        return 'to_char(l.received_at, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
    return "strftime('%Y-%m-%dT%H:%M:%SZ', l.received_at)"


def received_epoch(name: str) -> str:
    """Return SQL for `l.received_at` as seconds since 1970 (a float, microseconds kept)."""
    if name == "postgresql":
        # date_part() divides the microseconds as a float8, as exact as extract()'s numeric
        # cast to float8 (both correctly rounded), and twice as fast.
        return "date_part('epoch', l.received_at)"
    # peewee stores 'YYYY-MM-DD HH:MM:SS[.ffffff]': whole seconds, then the fraction.
    return (
        "(CAST(strftime('%s', l.received_at) AS REAL)"
        " + COALESCE(CAST(substr(l.received_at, 20) AS REAL), 0.0))"
    )


def meta_columns(name: str) -> dict[str, str]:
    """Return {metadata name: SQL over the lead `l`} for `to_sql(meta=...)`."""
    return {
        "category": "l.category",
        "source": SOURCE_NAME,
        "partner": "l.partner_id",
        "received_at": received_text(name),
        "is_test": "l.is_test",
    }


def where_sql(
    node: ast.Node, fields: Mapping[str, str], name: str, row: RowValues | None = None
) -> SqlWhere:
    """Compile a checked condition to a WHERE clause over stored leads (or their `row`)."""
    received = "l.received_at" if name == "postgresql" else None  # a UTC timestamp
    return to_sql(
        node, fields, name, column="l.data", meta=meta_columns(name), received=received, row=row
    )


class Shared:
    """The conditions of one PostgreSQL query, translated over values read once per row.

    `test(category, where)` returns the condition (and its category test) over the row's
    columns; `expression()` adds any other per-row SQL over the lead `l`; `rows(where)` is
    the subquery to select FROM. A category test is left out when `only` is that category.
    """

    def __init__(self, only: str | None = None, row: RowValues | None = None):
        self.row = row if row is not None else RowValues("l.data")
        self.only = only

    def test(self, category: str, where: SqlWhere) -> Sql:
        if where.source is not None:
            node, fields = where.source
            where = where_sql(node, fields, "postgresql", self.row)
            condition = Sql(where.sql, where.params)
        else:  # written by hand over `l`: computed with the row
            condition = self.row.expression(
                sql("COALESCE(({w}), FALSE)", w=Sql(where.sql, where.params))
            )
        if category == self.only:
            return sql("({w})", w=condition)
        is_category = self.row.expression(sql("l.category = {c}", c=bind(category, "postgresql")))
        return sql("({c} AND ({w}))", c=is_category, w=condition)

    def expression(self, expression: Sql | str) -> Sql:
        return self.row.expression(Sql(expression) if isinstance(expression, str) else expression)

    def rows(self, where: Sql, order: Sequence[str] = ()) -> Sql:
        """Return the subquery of the leads `where` selects, ordered by `order` inside (as an
        index can deliver them; the query's own ORDER BY on the same columns is then free)."""
        source = sql(
            FROM + " WHERE {w}" + (" ORDER BY " + ", ".join(order) if order else ""), w=where
        )
        return self.row.rows(source, [self.expression(key) for key in order])


def bind(value: Any, name: str) -> Sql:
    """Return a placeholder for one value in the dialect."""
    if isinstance(value, datetime) and name == "sqlite":
        value = value.isoformat(sep=" ")  # as peewee stores it; compares as text
    return Sql("%s" if name == "postgresql" else "?", (value,))


def scope_sql(tenant_id: int, filters: LeadFilter, name: str) -> Sql:
    """Return the WHERE clause selecting the tenant's leads that the filters keep."""
    parts = [sql("l.tenant_id = {v}", v=bind(tenant_id, name))]
    if filters.status:
        statuses = [bind(status, name) for status in statuses_of(filters.status)]
        parts.append(sql("l.status IN ({v})", v=join(statuses, ", ")))
    columns = {
        "category": "l.category = {v}",
        "lead_type": "l.lead_type = {v}",
        "source": 'l.source_id IN (SELECT s.id FROM "source" s WHERE s.public_id = {v})',
    }
    for attribute, template in columns.items():
        value = getattr(filters, attribute)
        if value:
            parts.append(sql(template, v=bind(value, name)))
    if filters.since:
        parts.append(sql("l.received_at >= {v}", v=bind(filters.since, name)))
    if filters.until:
        parts.append(sql("l.received_at < {v}", v=bind(filters.until, name)))
    if filters.test is not None:
        parts.append(sql("l.is_test = {v}", v=bind(filters.test, name)))
    if filters.before:
        at, lead_id = filters.before
        parts.append(
            sql(
                "l.received_at <= {a} AND (l.received_at < {a} OR l.id < {i})",
                a=bind(at, name),
                i=bind(lead_id, name),
            )
        )
    return join(parts, " AND ")


def execute(statement: Sql):
    """Run a statement on the bound database (SQLite gets the rule functions); return a cursor."""
    if not is_postgresql():
        register_sqlite_functions(database.connection())
    return database.execute_sql(statement.text, statement.params)


def _count_columns(shared: Shared, conditions: Sequence[tuple[str, SqlWhere]]) -> Sql:
    """Return `count(*)`, then one `count(*) FILTER (WHERE ...)` per condition, over the
    shared row values (asking them for the values the conditions read)."""
    counts = [
        sql("count(*) FILTER (WHERE {t})", t=shared.test(category, where))
        for category, where in conditions
    ]
    return join([Sql("count(*)"), *counts], ", ")


def _counted(statement: Sql) -> tuple[int, list[int]]:
    """Run a counting query; return (its first count, [the others])."""
    row = execute(statement).fetchone()
    return int(row[0]), [int(value) for value in row[1:]]


#: Decode JSON text (or bytes): what `Window.stream` yields as a row's data.
decode_text = _loads


def decode(data: Any) -> Any:
    """Return stored lead data as a dict (PostgreSQL may hand it over decoded already)."""
    if isinstance(data, str | bytes):
        return _loads(data)
    return data


@dataclass(frozen=True)
class Window:
    """The stored leads an analysis reads: filters, categories, a WHERE, the newest `limit`."""

    tenant_id: int
    filters: LeadFilter
    where: SqlWhere | None = None
    limit: int | None = None
    categories: tuple[str, ...] | None = None

    def with_categories(self, categories: Sequence[str]) -> Window:
        """Return the window restricted to leads of these categories."""
        return replace(self, categories=tuple(categories))

    def only_category(self) -> str | None:
        """Return the category every lead of the window has, if the window names just one."""
        if self.categories is not None and len(self.categories) == 1:
            return self.categories[0]
        return self.filters.category

    def condition(self, name: str) -> Sql:
        """Return the WHERE clause of the window, the newest-`limit` cut included."""
        parts = [scope_sql(self.tenant_id, self.filters, name)]
        if self.categories is not None:
            names = join([bind(c, name) for c in self.categories] or [Sql("NULL")], ", ")
            parts.append(sql("l.category IN ({names})", names=names))
        if self.where is not None:
            parts.append(sql("({w})", w=Sql(self.where.sql, self.where.params)))
        scope = join(parts, " AND ")
        if self.limit is None:
            return scope
        statement = sql(
            "SELECT l.received_at, l.id FROM " + FROM + " WHERE {c} "
            "ORDER BY l.received_at DESC, l.id DESC LIMIT 1 OFFSET {n}",
            c=scope,
            n=bind(self.limit - 1, name),
        )
        row = execute(statement).fetchone()
        if row is None:  # fewer leads than the limit: all of them
            return scope
        at, lead_id = row
        cut = sql(
            "(l.received_at > {a} OR (l.received_at = {a} AND l.id >= {i}))",
            a=bind(at, name),
            i=bind(lead_id, name),
        )
        return sql("{s} AND {k}", s=scope, k=cut)

    def count(
        self,
        conditions: Sequence[tuple[str, SqlWhere]],
        *,
        projection: bool | None = None,
        build: bool = True,
    ) -> tuple[int, list[int]]:
        """Return (leads in the window, [leads of the category where the WHERE holds]).

        `conditions` are (category, where) pairs, all counted by one query (a single scan):
        `count(*) FILTER (WHERE ...)` on PostgreSQL, `sum(CASE ...)` on SQLite. On
        PostgreSQL the values are read from the tenant's projection (app/analysis/
        projection.py) when the window allows: built or extended for several conditions
        (or `projection=True`), used for one when it already holds its values;
        `projection=False` reads the leads themselves. `build=False`: never build or extend
        it here (a request that must not wait for a build).
        """
        name = dialect()
        if name == "postgresql" and conditions and projection is not False:
            build = build and (projection is True or len(conditions) > 1)
            counted = self._count_projected(conditions, build)
            if counted is not None:
                return counted
        if name == "postgresql" and conditions:
            shared = Shared(self.only_category())
            select = _count_columns(shared, conditions)
            return _counted(
                sql("SELECT {s} FROM {rows}", s=select, rows=shared.rows(self.condition(name)))
            )
        counts = []
        for category, where in conditions:
            test = sql(
                "l.category = {c} AND ({w})",
                c=bind(category, name),
                w=Sql(where.sql, where.params),
            )
            counts.append(sql("COALESCE(sum(CASE WHEN {t} THEN 1 ELSE 0 END), 0)", t=test))
        statement = sql(
            "SELECT {select} FROM " + FROM + " WHERE {scope}",
            select=join([Sql("count(*)"), *counts], ", "),
            scope=self.condition(name),
        )
        return _counted(statement)

    def _count_projected(
        self, conditions: Sequence[tuple[str, SqlWhere]], build: bool
    ) -> tuple[int, list[int]] | None:
        shared = Shared(self.only_category(), projection.ProjectedRowValues("l.data"))
        select = _count_columns(shared, conditions)  # asks shared.row for the values first
        scope = self.condition("postgresql")
        sorted_values = projection.plan(shared.row)
        if sorted_values is None or not projection.usable(scope):
            return None
        stored, computed, recipes = sorted_values
        for attempt in range(2):
            try:
                table = projection.ensure(self.tenant_id, recipes, build=build)
            except DatabaseError as error:
                if sqlstate(error) not in _CANNOT_WRITE:
                    raise
                return None  # a read-only database or role: count the leads themselves
            if table is None:
                return None
            rows = projection.rows(table, stored, computed, scope, shared.row.alias)
            try:
                return _counted(sql("SELECT {s} FROM {rows}", s=select, rows=rows))
            except DatabaseError as error:
                # Another count rebuilt the projection (dropping this table) meanwhile.
                if attempt or sqlstate(error) != "42P01":
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stream(
        self,
        batch: int = BATCH,
        *,
        masks: Sequence[tuple[str, SqlWhere]] = (),
        fields: Sequence[str] | None = None,
        lean: bool = False,
    ) -> Iterator[list[tuple]]:
        """Yield the window's leads oldest first, in lists of up to `batch` rows.

        A row is STREAM_COLUMNS, then one integer per 62 `masks` ((category, where) pairs, at
        least one column):
        bit i holds when the lead is of the category and the WHERE holds. `data` is the
        lead's JSON text, or with `fields` (PostgreSQL only) a JSON object of just those
        fields (null when missing), much less for the database to write and for Python to
        decode.
        `lean` leaves received_at (text), source_id, partner_id and is_test NULL.

        On PostgreSQL the rows come from a server-side cursor on a connection of its own, in
        a read-only transaction, fetched by a thread one batch ahead (the database works
        while Python evaluates); on SQLite from an ordinary cursor, which steps through the
        result. Either way only a few batches are in memory at once.
        """
        name = dialect()
        if fields is None:
            data = Sql("l.data::text" if name == "postgresql" else "l.data")
        elif fields:
            # The object's text put together (half what jsonb_build_object()::text costs):
            # each key (JSON-quoted in Python, bound) and the value's own JSON text, or null.
            pairs = [
                sql(
                    "{p} || COALESCE((l.data -> {k})::text, 'null')",
                    p=bind(("{" if i == 0 else ",") + json.dumps(f) + ":", name),
                    k=bind(f, name),
                )
                for i, f in enumerate(fields)
            ]
            data = sql("({pairs} || '}')", pairs=join(pairs, " || "))
        else:
            data = Sql("'{}'")
        metadata = ["NULL"] * 3 if lean else [received_text(name), "l.source_id", "l.partner_id"]
        names = [
            "l.id",
            received_epoch(name),
            *metadata,
            "l.category",
            "l.status",
            "NULL" if lean else "l.is_test",
        ]
        columns = [Sql(c) for c in names] + [data]
        if name == "postgresql" and masks:  # the masks share the values they read
            shared = Shared(self.only_category())
            columns = [shared.expression(c) for c in columns]
            order = ("l.received_at", "l.id")
            statement = sql(
                "SELECT {columns} FROM {rows} ORDER BY {order}",
                columns=join(columns + _masks(masks, name, shared), ", "),
                rows=shared.rows(self.condition(name), order),
                order=join([shared.expression(key) for key in order], ", "),
            )
        else:
            statement = sql(
                "SELECT {columns} FROM " + FROM + " WHERE {c} ORDER BY l.received_at, l.id",
                columns=join(columns + _masks(masks, name), ", "),
                c=self.condition(name),
            )
        if name == "postgresql":
            yield from _stream_postgresql(statement, batch)
            return
        cursor = execute(statement)
        try:
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()


#: The columns `Window.stream` yields, in order, before the masks.
STREAM_COLUMNS = (
    "id",
    "epoch",
    "received_at",
    "source_id",
    "partner_id",
    "category",
    "status",
    "is_test",
    "data",
)
MASK_BITS = 62


def _masks(
    masks: Sequence[tuple[str, SqlWhere]], name: str, shared: Shared | None = None
) -> list[Sql]:
    """Return one integer expression per MASK_BITS conditions: the sum of the bits that hold."""
    columns = []
    for first in range(0, len(masks), MASK_BITS):
        terms = []
        for bit, (category, where) in enumerate(masks[first : first + MASK_BITS]):
            if shared is not None:
                test = shared.test(category, where)
            else:
                test = sql(
                    "l.category = {c} AND ({w})",
                    c=bind(category, name),
                    w=Sql(where.sql, where.params),
                )
            terms.append(sql("CASE WHEN {t} THEN " + str(1 << bit) + " ELSE 0 END", t=test))
        columns.append(sql("({terms})", terms=join(terms, " + ")))
    return columns or [Sql("0")]


_DONE = object()


def _stream_postgresql(statement: Sql, batch: int) -> Iterator[list[tuple]]:
    connection = database.obj._connect()  # a connection of its own: a real transaction
    connection.autocommit = False
    connection.set_session(readonly=True)
    with connection.cursor() as cursor:
        # Stream in index order from the first row on, on one backend: a parallel sort would
        # evaluate every row before the first arrives, and take the core Python runs on.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute("SET LOCAL enable_sort = off")
        # No JIT: compiling the masks' expressions held the first row back ~0.3 s (with
        # Python idle) to save about half that over a million rows, while Python is slower.
        cursor.execute("SET LOCAL jit = off")
    batches: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            with connection.cursor(name="sluice_stream") as cursor:
                cursor.itersize = batch
                cursor.execute(statement.text, statement.params)
                while not stop.is_set():
                    rows = cursor.fetchmany(batch)
                    if not rows:
                        break
                    batches.put(rows)
        except Exception as error:  # handed to the consumer, raised there
            batches.put(error)
        finally:
            batches.put(_DONE)

    thread = threading.Thread(target=fetch, name="sluice-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is _DONE:
                break
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                batches.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
        connection.rollback()
        _release(connection)


def _release(connection) -> None:
    """Close a connection of our own; a pool that handed it out forgets it (else every
    stream would keep one of its slots, and the process would run out of connections)."""
    if isinstance(database.obj, PooledDatabase):
        database.obj._close(connection, close_conn=True)  # read-only: not for reuse
    else:
        connection.close()
