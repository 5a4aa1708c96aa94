"""`sluice job list|show` (also `sluice jobs ...`): background jobs (bulk reprocessing)."""

from __future__ import annotations

import click

from app.commands.common import emit, json_option, operator, pairs, table, with_database
from app.schemas import JobSchema
from app.services import reprocess

JOB_COLUMNS = ["created_at", "id", "kind", "status", "done", "total", "failed", "created_by"]


@click.group("job")
def job_group() -> None:
    """Background jobs (bulk reprocessing): list them, follow one's progress."""


@job_group.command("list")
@click.argument("tenant")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@json_option
@with_database
def list_command(tenant: str, limit: int, offset: int, as_json: bool) -> None:
    """List the tenant's background jobs, newest first."""
    found = reprocess.list_jobs(operator(tenant), limit=limit, offset=offset)
    data = JobSchema(many=True).dump(found)
    emit(data, as_json, lambda: table(data, JOB_COLUMNS))


@job_group.command("show")
@click.argument("tenant")
@click.argument("job")
@json_option
@with_database
def show_command(tenant: str, job: str, as_json: bool) -> None:
    """Show a background job: status, progress, the first errors."""
    data = JobSchema().dump(reprocess.show_job(operator(tenant), job))

    def text() -> str:
        summary = {k: v for k, v in data.items() if k != "errors"}
        errors = table(data["errors"], ["lead", "outcome", "error"]) if data["errors"] else ""
        return pairs(summary) + ("\n\n" + errors if errors else "")

    emit(data, as_json, text)
