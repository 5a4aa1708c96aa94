"""What every `sluice` command shares: settings, a database, refusals, --json output."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

import click
import peewee

from app.config import load_config
from app.domain.clock import naive
from app.domain.errors import InvalidError, NotFoundError, StoreError
from app.services.actor import Actor, operator_actor
from app.store.crypto import use_keys
from app.store.db import bind, database, redact_url

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_CONFIG = "sluice.config"


def with_database(command: Callable) -> Callable:
    """Run the command with the settings loaded and a connection to the configured database.

    The web app is not built: a command reaches the services, never the API.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        as_json = kwargs.get("as_json", False) or kwargs.get("output") == "json"
        try:
            config = load_config()
            use_keys(config["SECRET_KEY"])
        except ValueError as error:  # a SLUICE_* variable of the wrong type, a malformed key
            fail(str(error), as_json)
        click.get_current_context().meta[_CONFIG] = config
        bind(config["DATABASE_URL"])
        try:
            database.connect(reuse_if_open=True)
            return command(*args, **kwargs)
        except StoreError as error:
            fail(error.message, as_json, refusal_details(error))
        except (peewee.OperationalError, peewee.ProgrammingError) as error:
            where = database_named(config["DATABASE_URL"])
            fail(f"the database {where} cannot answer: {str(error).strip()}", as_json)
        finally:
            if not database.is_closed():
                database.close()

    return wrapper


def refusal_details(error: StoreError) -> Any:
    """Return what --json adds to a refusal, as the API does: an invalid rule set's diagnostics."""
    if isinstance(error, InvalidError) and isinstance(error.details, dict):
        return {"errors": error.details}  # {field: [message]}
    if isinstance(error, InvalidError) and error.details is not None:
        return {"diagnostics": error.details}
    return error.details


def settings() -> dict[str, Any]:
    """Return the settings the running command loaded (SLUICE_* variables, defaults)."""
    return click.get_current_context().meta[_CONFIG]


def database_named(url: str) -> str:
    """Return the database URL for a message: no password, a hint when it is the default."""
    shown = redact_url(url)
    if not os.environ.get("SLUICE_DATABASE_URL"):
        shown += " (set SLUICE_DATABASE_URL)"
    return shown


def operator(tenant: str | None = None) -> Actor:
    """Return the operator acting in the tenant; a missing tenant names the database looked in."""
    try:
        return operator_actor(tenant)
    except NotFoundError as error:
        where = database_named(settings()["DATABASE_URL"])
        raise NotFoundError(f"no tenant {tenant!r} in {where}") from error


def parse_moment(value: str | None) -> datetime | None:
    """Return an ISO 8601 date or datetime (UTC unless it says otherwise) as naive UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or datetime") from None
    return naive(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def fail(message: str, as_json: bool, details: Any = None) -> NoReturn:
    """Print an error (JSON on stdout with --json, text on stderr) and exit 1."""
    if as_json:
        body: dict[str, Any] = {"error": message}
        if details is not None:
            body["details"] = details
        click.echo(json.dumps(body, indent=2, default=str))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(1)


def emit(data: Any, as_json: bool, text: str | Callable[[], str]) -> None:
    """Print `data` as JSON, or the human-readable text."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text() if callable(text) else text)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Return rows as a plain text table with the given columns."""
    if not rows:
        return "(none)"
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def pairs(data: dict[str, Any]) -> str:
    """Return a dict as aligned `key: value` lines."""
    width = max((len(k) for k in data), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in data.items())
