"""The database: a peewee proxy bound by `init_app`, a connection per request.

On PostgreSQL a request's connection comes from a pool and goes back to it afterwards, so a
gunicorn worker keeps one open connection instead of opening one (a server process) per
request; on SQLite opening is cheap and each request opens its own.
"""

from __future__ import annotations

import os
import select
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase

database = peewee.DatabaseProxy()

POOL_SIZE = 20  # connections per process; a sync worker uses one
POOL_RECYCLE_SECONDS = 300  # a pooled connection is replaced after this long
POOL_WAIT_SECONDS = 10  # a request waits this long for a free connection


class PooledPostgres(PooledPostgresqlDatabase):
    """Pooled PostgreSQL connections; one the server has closed is never handed out."""

    def _is_closed(self, conn) -> bool:
        if super()._is_closed(conn):
            return True
        # An idle connection has nothing to read unless the server closed it (restart,
        # administrator, idle timeout): checking costs no round trip.
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


def is_postgresql() -> bool:
    """Tell whether the bound database is PostgreSQL."""
    return isinstance(database.obj, peewee.PostgresqlDatabase)


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
