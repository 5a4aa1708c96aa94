"""What every `sluice` command shares: an app context, store errors, --json output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from app.domain.errors import StoreError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def with_app(command: Callable) -> Callable:
    """Run the command inside an app context with a database connection."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from app import create_app
        from app.store.db import database

        app = create_app()
        with app.app_context():
            database.connect(reuse_if_open=True)
            try:
                return command(*args, **kwargs)
            except StoreError as error:
                fail(error.message, kwargs.get("as_json", False), getattr(error, "details", None))
            finally:
                database.close()

    return wrapper


def fail(message: str, as_json: bool, details: Any = None) -> None:
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
