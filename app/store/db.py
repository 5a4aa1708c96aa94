"""The database: a peewee proxy bound by `init_app`, a connection per request."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee

database = peewee.DatabaseProxy()

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
        return peewee.PostgresqlDatabase(
            unquote(parts.path.lstrip("/")),
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
    if current is not None and not current.is_closed():
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
