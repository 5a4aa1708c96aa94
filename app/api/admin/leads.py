"""/api/admin/leads and /api/admin/posts: lists, details, explanations, reprocessing (one
lead now, many as a background job), audit reviews, returns, edits and reclassifications,
deletions."""

from __future__ import annotations

from datetime import UTC

from flask import Response, current_app, g, stream_with_context
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.api.auth import require
from app.api.schemas import PageSchema, ReturnRequestSchema
from app.domain.clock import naive
from app.domain.money import to_cents
from app.domain.reprocess import START_STAGES
from app.domain.review import APPROVED, NOTE_CHARS, REJECTED
from app.domain.status import STATUS_FILTERS
from app.schemas import (
    DeletedSchema,
    EditResultSchema,
    JobSchema,
    LeadDetailSchema,
    LeadExplanationSchema,
    LeadSummarySchema,
    PostDetailSchema,
    PostSummarySchema,
    ReclassificationSchema,
    ReprocessBreakdownSchema,
    ReturnedSchema,
    ReviewedSchema,
)
from app.services import deletion, editing, exports, leads, posts, reprocess, returns, review
from app.services.exports import EXPORT_FIELDS
from app.services.leads import TEST_LEADS, LeadFilter
from app.services.posts import POST_STATUSES
from app.services.review import MAX_LEADS

blp = Blueprint("admin_leads", __name__, url_prefix="/api/admin", description="Leads and posts.")


class LeadFilterSchema(Schema):
    """The filters of a lead list, also those of its export."""

    status = fields.String(validate=validate.OneOf(STATUS_FILTERS))
    category = fields.String()
    lead_type = fields.String()
    source = fields.String(metadata={"description": "A source id (src_...)."})
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "ISO 8601, UTC"})
    until = fields.AwareDateTime(default_timezone=UTC)
    test = fields.String(
        load_default="false",
        validate=validate.OneOf(list(TEST_LEADS)),
        metadata={"description": "false: hide test leads (default); true: only them; all."},
    )
    where = fields.String(
        metadata={
            "description": "Only leads for which this rules expression holds, typed by the "
            "category's fields in the active rule set (analyst and up)."
        }
    )


class LeadQuerySchema(LeadFilterSchema, PageSchema):
    """A page of the lead list."""


class LeadExportQuerySchema(LeadFilterSchema):
    fields = fields.String(
        load_default="all",
        validate=validate.OneOf(EXPORT_FIELDS),
        metadata={
            "description": "all: every field of the leads' categories (the default); "
            "deliverable: the public facts and deliverable fields only, as a buyer sees them."
        },
    )


class PostQuerySchema(PageSchema):
    source = fields.String()
    status = fields.String(validate=validate.OneOf(list(POST_STATUSES)))


def lead_filter(args: dict) -> LeadFilter:
    """Return the lead filter of the query arguments."""
    return LeadFilter(
        status=args.get("status"),
        category=args.get("category"),
        lead_type=args.get("lead_type"),
        source=args.get("source"),
        since=naive(args["since"]) if args.get("since") else None,
        until=naive(args["until"]) if args.get("until") else None,
        test=TEST_LEADS[args["test"]],
    )


@blp.route("/leads", methods=["GET"])
@require("leads.read")
@blp.arguments(LeadQuerySchema, location="query")
@blp.response(200, LeadSummarySchema(many=True))
def list_leads(args):
    """List leads, newest first (test leads hidden unless asked for); `where=` filters by rule."""
    return leads.list_leads(
        g.actor,
        lead_filter(args),
        where=args.get("where"),
        limit=args["limit"],
        offset=args["offset"],
    )


@blp.route("/leads/export.csv", methods=["GET"])
@require("leads.export")
@blp.arguments(LeadExportQuerySchema, location="query")
@blp.response(200, content_type="text/csv")
@blp.doc(
    responses={
        "200": {
            "description": "The leads as CSV (UTF-8), streamed; docs/analysts.md has the columns.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
def export_leads(args):
    """Download the leads a list with these filters shows, as CSV, newest first."""
    export = exports.export_leads(
        g.actor, lead_filter(args), where=args.get("where"), fields=args["fields"]
    )
    return Response(
        stream_with_context(export.csv()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@blp.route("/leads/<ref>", methods=["GET"])
@require("leads.read")
@blp.response(200, LeadDetailSchema)
def show_lead(ref: str):
    """Show a lead: data, metadata, timeline and the rule set version that routed it."""
    return leads.show_lead(g.actor, ref)


@blp.route("/leads/<ref>/explain", methods=["GET"])
@require("leads.explain")
@blp.response(200, LeadExplanationSchema)
def explain(ref: str):
    """Explain a lead: its rule set version, every clause, dedupe checks, every bid's fate."""
    return leads.explain_lead(g.actor, ref)


_FROM = fields.String(
    data_key="from",
    validate=validate.OneOf(list(START_STAGES)),
    metadata={
        "description": "The stage to start at: bidding (the whole distribution, the default) "
        "or marketplace (straight onto the plan's first marketplace stage)."
    },
)


class ReprocessSchema(Schema):
    start = _FROM


class ReprocessFilterSchema(LeadFilterSchema):
    class Meta:
        exclude = ("where",)


class BulkReprocessSchema(Schema):
    """The leads of a bulk reprocess: named ones, or those a list with the filters shows."""

    leads = fields.List(
        fields.String(),
        validate=validate.Length(min=1, max=reprocess.MAX_LEADS),
        metadata={"description": "Ids of the leads (lead_... or UUIDs)."},
    )
    filters = fields.Nested(ReprocessFilterSchema)
    start = _FROM

    @validates_schema
    def _leads_or_filters(self, data, **kwargs):
        if ("leads" in data) == ("filters" in data):
            raise ValidationError("give either leads or filters", "leads")


class ConfirmedReprocessSchema(BulkReprocessSchema):
    confirm = fields.Boolean(
        required=True,
        metadata={"description": "Must be true: the breakdown (preview) was seen."},
    )

    @validates_schema
    def _confirmed(self, data, **kwargs):
        if data.get("confirm") is not True:
            raise ValidationError("must be true: preview the breakdown first", "confirm")


@blp.route("/leads/<ref>/reprocess", methods=["POST"])
@require("leads.reprocess")
@blp.arguments(ReprocessSchema, required=False)
@blp.response(200, LeadDetailSchema)
def reprocess_one(args, ref: str):
    """Route an unassigned, uncategorized, pending or errored lead (or an approved audit)
    again with the active rules, from a stage (`from`: bidding, the default)."""
    return leads.reprocess_lead(
        g.actor,
        ref,
        start=(args or {}).get("start"),
        test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
    )


def _bulk(args: dict) -> dict:
    """Return the service's arguments for the leads of a bulk reprocess."""
    if "leads" in args:
        return {"refs": args["leads"], "start": args.get("start")}
    return {"filters": lead_filter(args["filters"]), "start": args.get("start")}


@blp.route("/leads/reprocess/preview", methods=["POST"])
@require("leads.reprocess")
@blp.arguments(BulkReprocessSchema)
@blp.response(200, ReprocessBreakdownSchema)
def reprocess_preview(args):
    """Show which leads a bulk reprocess would take and why the others not; nothing done."""
    return reprocess.plan_reprocess(g.actor, **_bulk(args))


@blp.route("/leads/reprocess", methods=["POST"])
@require("leads.reprocess")
@blp.arguments(ConfirmedReprocessSchema)
@blp.response(202, JobSchema)
def reprocess_many(args):
    """Queue a background job reprocessing the eligible leads; follow it at /jobs/<id>."""
    return reprocess.start_reprocess(
        g.actor, **_bulk(args), test_price_cents=to_cents(current_app.config["TEST_PRICE"])
    )


class ReviewNoteSchema(Schema):
    note = fields.String(
        validate=validate.Length(max=NOTE_CHARS),
        allow_none=True,
        metadata={"description": "Why (required to reject, optional to approve)."},
    )


class BulkReviewSchema(ReviewNoteSchema):
    approve = fields.List(
        fields.String(),
        validate=validate.Length(min=1, max=MAX_LEADS),
        metadata={"description": "Ids of the leads to approve (lead_... or UUIDs)."},
    )
    reject = fields.List(
        fields.String(),
        validate=validate.Length(min=1, max=MAX_LEADS),
        metadata={"description": "Ids of the leads to reject; `note` is then required."},
    )

    @validates_schema
    def _one_decision(self, data, **kwargs):
        if ("approve" in data) == ("reject" in data):
            raise ValidationError("give either approve or reject", "approve")


@blp.route("/leads/<ref>/approve", methods=["POST"])
@require("leads.review")
@blp.arguments(ReviewNoteSchema, required=False)
@blp.response(200, LeadDetailSchema)
def approve(args, ref: str):
    """Approve a lead held for audit: it is routed on with the active rules, audits skipped."""
    return review.approve_lead(g.actor, ref, note=(args or {}).get("note"))


@blp.route("/leads/<ref>/reject", methods=["POST"])
@require("leads.review")
@blp.arguments(ReviewNoteSchema)
@blp.response(200, LeadDetailSchema)
def reject(args, ref: str):
    """Reject a lead held for audit: it stays `audit`, marked rejected, never distributed."""
    return review.reject_lead(g.actor, ref, note=args.get("note"))


@blp.route("/leads/review", methods=["POST"])
@require("leads.review")
@blp.arguments(BulkReviewSchema)
@blp.response(200, ReviewedSchema(many=True))
def review_many(args):
    """Approve or reject many leads held for audit: all are checked first, then each is done."""
    decision = APPROVED if "approve" in args else REJECTED
    refs = args["approve"] if decision == APPROVED else args["reject"]
    return review.review_leads(g.actor, decision, refs, note=args.get("note"))


class ReturnSchema(ReturnRequestSchema):
    override = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Return it even outside the customer's return policy "
            "(leads.return_override; recorded on the timeline)."
        },
    )


class BulkReturnSchema(ReturnSchema):
    ids = fields.List(
        fields.String(),
        required=True,
        validate=validate.Length(min=1, max=returns.MAX_LEADS),
        metadata={"description": "Ids of the leads to return (lead_... or UUIDs)."},
    )


@blp.route("/leads/<ref>/return", methods=["POST"])
@require("leads.return")
@blp.arguments(ReturnSchema)
@blp.response(200, LeadDetailSchema)
def return_lead(args, ref: str):
    """Return a sold lead for its buyer: its price credited, its cap and budget units freed."""
    return returns.return_lead(
        g.actor, ref, reason=args["reason"], note=args.get("note"), override=args["override"]
    )


@blp.route("/leads/return", methods=["POST"])
@require("leads.return")
@blp.arguments(BulkReturnSchema)
@blp.response(200, ReturnedSchema(many=True))
def return_many(args):
    """Return many sold leads with one reason: all are looked up first, then each is done."""
    return returns.return_leads(
        g.actor,
        args["ids"],
        reason=args["reason"],
        note=args.get("note"),
        override=args["override"],
    )


class LeadChangesSchema(Schema):
    """An edit: the lead's field names to their new values, as a source posts them."""

    class Meta:
        unknown = INCLUDE


class ReclassifySchema(Schema):
    apply = fields.Boolean(
        load_default=False,
        metadata={"description": "Write the new lead type (false: a dry classification)."},
    )


@blp.route("/leads/<ref>", methods=["PATCH"])
@require("leads.edit")
@blp.arguments(
    LeadChangesSchema,
    description="Field names to new values (a blank value or null removes the field).",
)
@blp.response(200, EditResultSchema)
def edit(changes, ref: str):
    """Edit an unsold lead's fields: validated as an intake, then the lead is reclassified."""
    return editing.edit_lead(g.actor, ref, changes)


@blp.route("/leads/<ref>/reclassify", methods=["POST"])
@require("leads.explain")
@blp.arguments(ReclassifySchema, required=False)
@blp.response(200, ReclassificationSchema)
def reclassify(args, ref: str):
    """Classify a lead against the active rules; with apply, write its new lead type."""
    return editing.reclassify_lead(g.actor, ref, apply=(args or {}).get("apply", False))


class BulkDeleteSchema(Schema):
    ids = fields.List(
        fields.String(),
        required=True,
        validate=validate.Length(min=1, max=deletion.MAX_LEADS),
        metadata={"description": "Ids of the leads to delete (lead_... or UUIDs)."},
    )


@blp.route("/leads/<ref>", methods=["DELETE"])
@require("leads.delete")
@blp.response(200, LeadDetailSchema)
def delete(ref: str):
    """Delete a lead: its personal data is erased, its status and history kept; idempotent."""
    return deletion.delete_lead(g.actor, ref)


@blp.route("/leads/delete", methods=["POST"])
@require("leads.delete")
@blp.arguments(BulkDeleteSchema)
@blp.response(200, DeletedSchema(many=True))
def delete_many(args):
    """Delete many leads at once: all are looked up first, an unknown id deletes none."""
    return deletion.delete_leads(g.actor, args["ids"])


@blp.route("/posts", methods=["GET"])
@require("posts.read")
@blp.arguments(PostQuerySchema, location="query")
@blp.response(200, PostSummarySchema(many=True))
def list_posts(args):
    """List posts (every submission, accepted or rejected), newest first."""
    return posts.list_posts(
        g.actor,
        source=args.get("source"),
        status=args.get("status"),
        limit=args["limit"],
        offset=args["offset"],
    )


@blp.route("/posts/<ref>", methods=["GET"])
@require("posts.read")
@blp.response(200, PostDetailSchema)
def show_post(ref: str):
    """Show a post: payload, headers (without credentials), validation errors, lead."""
    return posts.show_post(g.actor, ref)
