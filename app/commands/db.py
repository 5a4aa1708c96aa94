"""`sluice db upgrade|status`: create or upgrade the schema."""

from __future__ import annotations

import click

from app.commands.common import emit, json_option, with_database


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@json_option
@with_database
def upgrade_command(as_json: bool) -> None:
    """Create the tables or apply pending migrations (safe to run again)."""
    from app.store.migrations import upgrade

    applied = upgrade()
    text = "\n".join(f"applied {name}" for name in applied) or "schema is up to date"
    emit({"applied": applied}, as_json, text)


@db_group.command("status")
@json_option
@with_database
def status_command(as_json: bool) -> None:
    """Show the migrations not yet applied."""
    from app.store.migrations import pending

    waiting = pending()
    emit({"pending": waiting}, as_json, "\n".join(waiting) or "schema is up to date")
