"""/api/admin/dry-run: what proposed rules would have done to the stored leads."""

from __future__ import annotations

from datetime import UTC

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.analysis.dryrun import SAMPLE_SIZE, dry_run_for_tenant
from app.api.auth import require
from app.domain.clock import naive
from app.domain.status import STATUSES
from app.store.listing import LeadFilter

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
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
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


class DryRunResultSchema(Schema):
    """The comparison; every part is described in docs/analysts.md."""

    baseline = fields.Dict()
    proposed = fields.Dict()
    window = fields.Dict()
    leads = fields.Integer()
    changed = fields.Integer()
    categories = fields.Dict()
    lead_types = fields.Dict()
    uncategorized = fields.Dict()
    statuses = fields.Dict()
    audits = fields.List(fields.Dict())
    duplicates = fields.Dict()
    bids = fields.List(fields.Dict())
    revenue = fields.Dict()
    rules = fields.List(fields.Dict())
    baseline_replay = fields.Dict()
    sample = fields.List(fields.Dict())
    counts_only = fields.Boolean()
    elapsed_seconds = fields.Float()


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
    return dry_run_for_tenant(
        g.tenant,
        body["files"],
        baseline=body["baseline"],
        filters=filters,
        source=body["source"],
        where=body["where"],
        limit=body["limit"],
        sample_size=body["sample"],
        counts_only=body["counts_only"],
        build_projection=False,  # a build takes ~13 s per million leads: the CLI's to do
    )
