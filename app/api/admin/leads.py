"""/api/admin/leads and /api/admin/posts: lists, details, reprocessing."""

from __future__ import annotations

from datetime import UTC

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.analysis.explain import explain_stored_lead
from app.analysis.find import find_leads
from app.api.auth import require
from app.api.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from app.api.schemas import (
    LeadDetailSchema,
    LeadSummarySchema,
    PostDetailSchema,
    PostSummarySchema,
)
from app.domain.clock import naive
from app.domain.money import to_cents
from app.domain.status import REPROCESSABLE, STATUSES
from app.services.routing import reprocess_lead
from app.store.leads import get_lead, lead_events
from app.store.listing import LeadFilter, get_post, list_leads, list_posts
from app.store.rules import active_ruleset
from app.store.tenants import has_permission

blp = Blueprint("admin_leads", __name__, url_prefix="/api/admin", description="Leads and posts.")


class PageSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    # Bounded: a larger offset would overflow the database's integer.
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


class LeadQuerySchema(PageSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    category = fields.String()
    lead_type = fields.String()
    source = fields.String(metadata={"description": "A source id (src_...)."})
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "ISO 8601, UTC"})
    until = fields.AwareDateTime(default_timezone=UTC)
    test = fields.String(
        load_default="false",
        validate=validate.OneOf(["false", "true", "all"]),
        metadata={"description": "false: hide test leads (default); true: only them; all."},
    )
    where = fields.String(
        metadata={
            "description": "Only leads for which this rules expression holds, typed by the "
            "category's fields in the active rule set (analyst and up)."
        }
    )


class LeadExplanationSchema(Schema):
    """Why a lead went where it went; described in docs/analysts.md."""

    lead = fields.String()
    status = fields.String()
    category = fields.String()
    lead_type = fields.String(allow_none=True)
    received_at = fields.String()
    is_test = fields.Boolean()
    rule_set = fields.Dict(allow_none=True)
    lead_types = fields.List(fields.Dict())
    audits = fields.List(fields.Dict())
    dedupe = fields.List(fields.Dict())
    bidding = fields.List(fields.Dict())
    timeline = fields.List(fields.Dict())
    note = fields.String()


class PostQuerySchema(PageSchema):
    source = fields.String()
    status = fields.String(validate=validate.OneOf(["accepted", "rejected"]))


def lead_filter(args: dict) -> LeadFilter:
    """Return the store's filter for the query arguments."""
    return LeadFilter(
        status=args.get("status"),
        category=args.get("category"),
        lead_type=args.get("lead_type"),
        source=args.get("source"),
        since=naive(args["since"]) if args.get("since") else None,
        until=naive(args["until"]) if args.get("until") else None,
        test={"false": False, "true": True, "all": None}[args["test"]],
    )


@blp.route("/leads", methods=["GET"])
@require("leads.read")
@blp.arguments(LeadQuerySchema, location="query")
@blp.response(200, LeadSummarySchema(many=True))
def leads(args):
    """List leads, newest first (test leads hidden unless asked for); `where=` filters by rule."""
    if args.get("where") is None:
        return list_leads(g.tenant, lead_filter(args), args["limit"], args["offset"])
    if not has_permission(g.user, "leads.explain"):
        raise Forbidden(f"Your role ({g.user.role}) lacks the leads.explain permission.")
    found, _ = find_leads(
        g.tenant,
        args["where"],
        category=args.get("category"),
        filters=lead_filter(args),
        limit=args["limit"],
        offset=args["offset"],
    )
    return found


def _find_or_404(ref: str):
    lead = get_lead(g.tenant, ref)
    if lead is None:
        raise NotFound(f"No lead {ref}.")
    return lead


def _lead_or_404(ref: str):
    lead = _find_or_404(ref)
    lead.timeline = lead_events(lead)
    return lead


@blp.route("/leads/<ref>", methods=["GET"])
@require("leads.read")
@blp.response(200, LeadDetailSchema)
def lead(ref: str):
    """Show a lead: data, metadata, timeline and the rule set version that routed it."""
    return _lead_or_404(ref)


@blp.route("/leads/<ref>/explain", methods=["GET"])
@require("leads.explain")
@blp.response(200, LeadExplanationSchema)
def explain(ref: str):
    """Explain a lead: its rule set version, every clause, dedupe checks, every bid's fate."""
    return explain_stored_lead(_find_or_404(ref))


@blp.route("/leads/<ref>/reprocess", methods=["POST"])
@require("leads.reprocess")
@blp.response(200, LeadDetailSchema)
def reprocess(ref: str):
    """Route a pending, unassigned, uncategorized or errored lead again with the active rules."""
    found = _lead_or_404(ref)
    if found.status not in REPROCESSABLE:
        raise Conflict(f"A lead that is {found.status} cannot be reprocessed.")
    version, ruleset = active_ruleset(g.tenant)
    if ruleset is None or found.category not in ruleset.categories:
        raise ServiceUnavailable(f"Category {found.category!r} has no active rules.")
    reprocess_lead(
        found,
        version,
        ruleset,
        test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
        statuses=REPROCESSABLE,
    )
    return _lead_or_404(ref)


@blp.route("/posts", methods=["GET"])
@require("posts.read")
@blp.arguments(PostQuerySchema, location="query")
@blp.response(200, PostSummarySchema(many=True))
def posts(args):
    """List posts (every submission, accepted or rejected), newest first."""
    accepted = {"accepted": True, "rejected": False}.get(args.get("status"))
    rows = list_posts(g.tenant, args["limit"], args["offset"], args.get("source"), accepted)
    for post, found in rows:
        post.lead = found
    return [post for post, _ in rows]


@blp.route("/posts/<ref>", methods=["GET"])
@require("posts.read")
@blp.response(200, PostDetailSchema)
def post(ref: str):
    """Show a post: payload, headers (without credentials), validation errors, lead."""
    found = get_post(g.tenant, ref)
    if found is None:
        raise NotFound(f"No post {ref}.")
    row, row_lead = found
    row.lead = row_lead
    return row
