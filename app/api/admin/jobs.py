"""/api/admin/jobs: background jobs (bulk reprocessing) and their progress."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import require
from app.api.schemas import PageSchema
from app.schemas import JobSchema
from app.services import reprocess

blp = Blueprint(
    "admin_jobs",
    __name__,
    url_prefix="/api/admin",
    description="Background jobs (bulk reprocessing), run by the delivery workers.",
)


@blp.route("/jobs", methods=["GET"])
@require("leads.reprocess")
@blp.arguments(PageSchema, location="query")
@blp.response(200, JobSchema(many=True))
def list_jobs(args):
    """List the tenant's background jobs, newest first."""
    return reprocess.list_jobs(g.actor, limit=args["limit"], offset=args["offset"])


@blp.route("/jobs/<ref>", methods=["GET"])
@require("leads.reprocess")
@blp.response(200, JobSchema)
def show_job(ref: str):
    """Show a background job: its status and progress (done of total, succeeded, skipped,
    failed, the first errors)."""
    return reprocess.show_job(g.actor, ref)
