"""The database: a peewee proxy bound by `init_app`, a connection per request.

On PostgreSQL a request's connection comes from a pool and goes back to it afterwards, so a
gunicorn worker keeps one open connection instead of opening one (a server process) per
request; on SQLite opening is cheap and each request opens its own.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
import peewee
import psycopg2.extensions
from playhouse.pool import PooledPostgresqlDatabase

database = peewee.DatabaseProxy()

POOL_SIZE = 20  # connections per process; a sync worker uses one
POOL_RECYCLE_SECONDS = 300  # a pooled connection is replaced after this long
POOL_WAIT_SECONDS = 10  # a request waits this long for a free connection
PREPARED_PER_CONNECTION = 500  # then the connection's prepared statements are all dropped
_PREPARABLE = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%[%s]")
_PASSWORD_OPTION = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
_statement_names = itertools.count(1)


class _Connection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers the statements prepared on its session."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: dict[str, str] = {}  # SQL text -> name of its prepared statement


def _numbered(sql: str) -> str:
    """Return the statement with its %s placeholders as $1, $2, ... (for PREPARE)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: m[0] if m[0] == "%%" else f"${next(numbers)}", sql)


class PooledPostgres(PooledPostgresqlDatabase):
    """Pooled PostgreSQL connections; one the server has closed is never handed out.

    BEGIN is not sent on its own but in front of the transaction's first statement, and a
    transaction that ran nothing sends neither COMMIT nor ROLLBACK: a round trip less for
    every transaction.

    `execute_together` runs the hand-written statements of the hot path as server-side
    prepared statements: each SQL text is parsed, analysed (and, once PostgreSQL settles
    on a generic plan, planned) once per connection instead of on every request, which was
    about half of PostgreSQL's CPU per lead (docs/architecture.md, "The hot path").
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("connection_factory", _Connection)
        super().__init__(*args, **kwargs)

    def execute_together(self, statements: Sequence[tuple[str, Sequence[Any]]], commit=False):
        """Run the statements in one round trip, prepared once per connection; return the
        cursor of the last. With `commit`, COMMIT in the same round trip (outermost
        transaction only).

        A statement is prepared (PREPARE ... AS, in front of its first EXECUTE) under a name
        never used before, and remembered only once its round trip succeeded: a prepared
        statement survives its transaction's rollback, so one whose round trip failed is at
        worst left unused, never prepared twice under one name.
        """
        parts, params, new = self._compose([*self._take_deferred(), *statements])
        committing = commit and self.transaction_depth() == 1
        if committing:
            parts.append("COMMIT")
        cursor = self._send("; ".join(parts), params, new)
        if committing:
            self._state.committed = True  # the transaction's own COMMIT is not sent again
        return cursor

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Send a statement in front of the transaction's next one, its result unread.

        For a lock, or a check that raises when it fails: a round trip less. Only inside a
        transaction; one that ends before sending anything else never sends it.
        """
        if not self.in_transaction():
            raise RuntimeError("defer() is for a statement inside a transaction")
        self._state.deferred = [*getattr(self._state, "deferred", ()), (sql, list(params))]

    def execute_sql(self, sql, params=None):
        deferred = self._take_deferred()
        if not deferred:
            return self._send(sql, params)
        parts, values, new = self._compose(deferred)
        return self._send("; ".join([*parts, sql]), [*values, *(params or ())], new)

    def _compose(self, statements) -> tuple[list[str], list, dict[str, str]]:
        """Return the statements as query parts (EXECUTE, after PREPARE when new), their
        parameters, and the statements prepared by these parts."""
        prepared = getattr(self.connection(), "prepared", None)
        parts, params, new = [], [], {}
        if prepared is not None and len(prepared) >= PREPARED_PER_CONNECTION:
            parts.append("DEALLOCATE ALL")
            prepared.clear()
        for sql, values in statements:
            name = None
            if prepared is not None and _PREPARABLE.match(sql):
                name = prepared.get(sql) or new.get(sql)
                if name is None:
                    name = new[sql] = f"sluice_{next(_statement_names)}"
                    parts.append(f"PREPARE {name} AS {_numbered(sql)}")
            if name is None:
                parts.append(sql)
            elif values:
                parts.append(f"EXECUTE {name}({repeat('%s', len(values))})")
            else:
                parts.append(f"EXECUTE {name}")
            params.extend(values)
        return parts, params, new

    def _send(self, sql, params, prepared_now: dict[str, str] | None = None):
        if self._take_pending_begin():
            sql = "BEGIN; " + sql
        cursor = super().execute_sql(sql, params)
        if prepared_now:
            self.connection().prepared.update(prepared_now)
        return cursor

    def begin(self, isolation_level=None):
        if isolation_level or self._isolation_level:
            return super().begin(isolation_level)
        if self.is_closed():  # as peewee's begin would, before the transaction is pushed
            self.connect()
        self._state.begin_pending = True
        return None

    def commit(self):
        if not self._end_transaction():
            super().commit()

    def rollback(self):
        if not self._end_transaction():
            super().rollback()

    def connect(self, reuse_if_open=False):
        self._end_transaction()
        return super().connect(reuse_if_open)

    def close(self):
        self._end_transaction()
        return super().close()

    def _end_transaction(self) -> bool:
        """Forget the transaction's unsent statements; tell whether the server has nothing
        to end (BEGIN never sent, or COMMIT already sent with the last statement)."""
        self._take_deferred()
        never_began = self._take_pending_begin()
        committed = self._take_committed()
        return never_began or committed

    def _take_deferred(self) -> list:
        deferred = getattr(self._state, "deferred", None) or []
        self._state.deferred = []
        return deferred

    def _take_pending_begin(self) -> bool:
        pending = getattr(self._state, "begin_pending", False)
        self._state.begin_pending = False
        return pending

    def _take_committed(self) -> bool:
        committed = getattr(self._state, "committed", False)
        self._state.committed = False
        return committed

    def _is_closed(self, conn) -> bool:
        # peewee's own check sends SELECT 1, a round trip on every request. Instead: a
        # connection handed back idle (check-in rolls back any other) has nothing to read
        # unless the server closed it (restart, administrator, idle timeout).
        if conn.closed or self._adapter.txn_status(conn) != self._adapter.txn_idle:
            return True
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable)


SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),  # readers never wait for the writer
    ("foreign_keys", 1),
    ("synchronous", "normal"),
)


def open_database(url: str) -> peewee.Database:
    """Return an unconnected peewee database for a `sqlite:///path` or `postgresql://` URL."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc:  # sqlite://relative/path
            path = f"{parts.netloc}/{path}"
        path = path or ":memory:"
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Writers take the lock when the transaction starts (BEGIN IMMEDIATE): a read
        # followed by a write can then never see stale data nor fail with SQLITE_BUSY.
        return peewee.SqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            timeout=float(options.get("timeout", 30)),
            lock_type="IMMEDIATE",
        )
    if parts.scheme in ("postgres", "postgresql"):
        # An unreachable server must fail a request in seconds (a 503), not hang it.
        options.setdefault("connect_timeout", "5")
        return PooledPostgres(
            unquote(parts.path.lstrip("/")),
            max_connections=POOL_SIZE,
            stale_timeout=POOL_RECYCLE_SECONDS,
            timeout=POOL_WAIT_SECONDS,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname,
            port=parts.port,
            **options,
        )
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r}: use sqlite or postgresql")


def redact_url(url: str) -> str:
    """Return a database URL fit to print: its password, if any, replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        url = url.replace(parts.netloc, f"{userinfo.split(':', 1)[0]}:***@{host}", 1)
    return _PASSWORD_OPTION.sub(r"\1***", url)


def is_postgresql() -> bool:
    """Tell whether the bound database is PostgreSQL."""
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def execute(sql: str, params: Sequence[Any] = ()):
    """Run SQL written with %s placeholders on either database; return the cursor.

    For the statements of the intake's hot path, written by hand: building a query with
    peewee costs more than running it (docs/architecture.md, "The hot path").
    """
    return execute_together([(sql, params)])


def execute_together(statements: Sequence[tuple[str, Sequence[Any]]], *, commit=False):
    """Run statements written with %s placeholders; return the cursor of the last.

    On PostgreSQL they go in one round trip as prepared statements, with the COMMIT when
    `commit` (see `execute_and_commit` for when that is allowed); on SQLite one by one, and
    the caller's block commits.
    """
    if isinstance(database.obj, PooledPostgres):
        return database.obj.execute_together(statements, commit=commit)
    cursor = None
    for sql, params in statements:
        if not is_postgresql():
            sql = sql.replace("%s", "?")
        cursor = database.execute_sql(sql, params)
    return cursor


def select_rows(models: Sequence[tuple[type, Sequence[str]]], query: str, params: Sequence[Any]):
    """Run a hand-written SELECT of these models' fields, in order; return the rows' instances.

    `models` is [(Model, field names)], the query's columns being those fields, model after
    model. Each row becomes a tuple of model instances, values converted as peewee would.
    """
    layout = [
        (model, [(name, model._meta.fields[name].python_value) for name in names])
        for model, names in models
    ]
    rows = []
    for values in execute(query, params).fetchall():
        position, instances = 0, []
        for model, fields in layout:
            data = {}
            for name, convert in fields:
                data[name] = convert(values[position])
                position += 1
            instances.append(model(__no_default__=1, **data))  # no defaults made for a read row
        rows.append(tuple(instances))
    return rows


def columns(alias: str, model: type, names: Sequence[str]) -> str:
    """Return `alias.column, ...` for these fields of the model (bare names if no alias)."""
    fields = model._meta.fields
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{fields[name].column_name}" for name in names)


def repeat(mark: str, count: int) -> str:
    """Return `mark, mark, ...`, count times: placeholders of a list or of VALUES rows."""
    return ", ".join([mark] * count)


def defer(sql: str, params: Sequence[Any] = ()) -> None:
    """Run a statement whose result is not needed: on PostgreSQL, in front of the
    transaction's next statement (a round trip less); on SQLite, now."""
    if isinstance(database.obj, PooledPostgres):
        database.obj.defer(sql, params)
    else:
        execute(sql, params)


def execute_and_commit(sql: str, params: Sequence[Any] = ()):
    """Run a statement that ends the transaction; on PostgreSQL, COMMIT in its round trip.

    Only for the last statement of a `database.atomic()` block that the caller opened
    outside any transaction (`not database.in_transaction()` before it; peewee does not
    count the savepoints of nested blocks, so this cannot be checked here): the block's
    commit then sends nothing more. On SQLite the statement runs alone.
    """
    return execute_together([(sql, params)], commit=True)


def sqlstate(error: Exception) -> str | None:
    """Return the PostgreSQL SQLSTATE of a database error peewee raised, if any."""
    return getattr(getattr(error, "orig", None), "pgcode", None)


def json_param(value: Any) -> tuple[str, Any]:
    """Return (placeholder, parameter) storing `value` in a JSON column as peewee would."""
    if value is None:
        return "%s", None
    return ("%s::jsonb" if is_postgresql() else "json(%s)"), json_text(value)


def json_text(value: Any) -> str:
    """Return the JSON text of a value for a JSON column: by orjson (a lead's payload, data
    and timeline in a few microseconds), or by the json module for what orjson refuses
    (integers beyond 64 bits). The database stores the same document either way."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


def bind(url: str) -> peewee.Database:
    """Bind the proxy to the database at `url` and return it."""
    current = database.obj
    if isinstance(current, PooledPostgres):
        current.close_all()
    elif current is not None and not current.is_closed():
        current.close()
    db = open_database(url)
    database.initialize(db)
    return db


def init_app(app) -> None:
    """Bind the database and open a connection for each request."""
    bind(app.config["DATABASE_URL"])

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc) -> None:
        if not database.is_closed():
            database.close()


def database_file() -> str | None:
    """Return the bound SQLite database's file path; None on PostgreSQL or in memory."""
    if is_postgresql():
        return None
    name = database.obj.database
    return None if not name or name == ":memory:" else os.path.abspath(name)
