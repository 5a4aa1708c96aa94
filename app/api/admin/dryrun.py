"""/api/admin/dry-run: what proposed rules would have done to the stored leads."""

from __future__ import annotations

from datetime import UTC

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.domain.clock import naive
from app.domain.status import STATUS_FILTERS
from app.schemas import DryRunResultSchema
from app.services import analysis
from app.services.analysis import SAMPLE_SIZE
from app.services.leads import LeadFilter

blp = Blueprint(
    "admin_dry_run", __name__, url_prefix="/api/admin", description="Dry-runs of proposed rules."
)


class DryRunSchema(Schema):
    files = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "The proposed rule files: {name: text}."},
    )
    baseline = fields.Integer(
        load_default=None, metadata={"description": "A stored version; default: the active one."}
    )
    since = fields.AwareDateTime(default_timezone=UTC, load_default=None)
    until = fields.AwareDateTime(default_timezone=UTC, load_default=None)
    category = fields.String(load_default=None)
    source = fields.String(load_default=None, metadata={"description": "A source id or name."})
    status = fields.String(load_default=None, validate=validate.OneOf(STATUS_FILTERS))
    where = fields.String(
        load_default=None, metadata={"description": "Only leads for which this expression holds."}
    )
    limit = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1),
        metadata={"description": "Only the newest N leads of the window."},
    )
    sample = fields.Integer(load_default=SAMPLE_SIZE, validate=validate.Range(min=0, max=100))
    counts_only = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Only each rule's matches, counted by the database (no "
            "replay): the answer holds baseline, proposed, counts_only, leads, rules "
            "and elapsed_seconds."
        },
    )


@blp.route("/dry-run", methods=["POST"])
@require("leads.explain")
@blp.arguments(DryRunSchema)
@blp.response(200, DryRunResultSchema)
def dry_run(body):
    """Compare proposed rules with the active (or a stored) version over stored leads.

    Reads only. Invalid rules answer 422 with the diagnostics of `sluice check`.
    """
    filters = LeadFilter(
        status=body["status"],
        category=body["category"],
        since=naive(body["since"]) if body["since"] else None,
        until=naive(body["until"]) if body["until"] else None,
    )
    return analysis.dry_run(
        g.actor,
        body["files"],
        filters,
        baseline=body["baseline"],
        source=body["source"],
        where=body["where"],
        limit=body["limit"],
        sample_size=body["sample"],
        counts_only=body["counts_only"],
        build_projection=False,  # a build takes ~13 s per million leads: the CLI's to do
    )
