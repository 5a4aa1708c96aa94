"""/api/customer/leads: the leads sold to you, with their deliverable fields only; returns."""

from __future__ import annotations

from datetime import UTC

from flask import Response, g, stream_with_context
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import customer_access
from app.api.schemas import PageSchema, ReturnRequestSchema
from app.domain.clock import naive
from app.domain.status import STATUSES
from app.schemas import CustomerLeadDetailSchema, CustomerLeadSchema, ReturnReasonsSchema
from app.services import customer_portal
from app.services.leads import LeadFilter

blp = Blueprint(
    "customer_leads",
    __name__,
    url_prefix="/api/customer",
    description="Customer API: the leads sold to you (docs/customers.md).",
)


def _moment(description: str) -> fields.AwareDateTime:
    return fields.AwareDateTime(default_timezone=UTC, metadata={"description": description})


class CustomerLeadFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    category = fields.String(validate=validate.Length(max=64))
    lead_type = fields.String(validate=validate.Length(max=64))
    since = _moment("Received at or after (ISO 8601, UTC).")
    until = _moment("Received before.")
    assigned_since = _moment("Sold to you at or after.")
    assigned_until = _moment("Sold to you before.")


class CustomerLeadQuerySchema(CustomerLeadFilterSchema, PageSchema):
    """A page of your leads."""


def lead_filter(args: dict) -> LeadFilter:
    """Return the lead filter of the query arguments."""
    moments = {
        name: naive(args[name]) if args.get(name) else None
        for name in ("since", "until", "assigned_since", "assigned_until")
    }
    return LeadFilter(
        status=args.get("status"),
        category=args.get("category"),
        lead_type=args.get("lead_type"),
        **moments,
    )


@blp.route("/leads", methods=["GET"])
@customer_access
@blp.arguments(CustomerLeadQuerySchema, location="query")
@blp.response(200, CustomerLeadSchema(many=True))
def list_leads(args):
    """List the leads sold to you, newest first, with their deliverable fields."""
    return customer_portal.list_leads(
        g.actor, lead_filter(args), limit=args["limit"], offset=args["offset"]
    )


@blp.route("/leads/export.csv", methods=["GET"])
@customer_access
@blp.arguments(CustomerLeadFilterSchema, location="query")
@blp.response(200, content_type="text/csv")
@blp.doc(
    responses={
        "200": {
            "description": "Your leads as CSV (UTF-8), streamed: public facts, then the "
            "deliverable fields (docs/customers.md).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
def export_leads(args):
    """Download the leads a list with these filters shows, as CSV, newest first."""
    export = customer_portal.export_leads(g.actor, lead_filter(args))
    return Response(
        stream_with_context(export.csv()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@blp.route("/leads/<ref>", methods=["GET"])
@customer_access
@blp.response(200, CustomerLeadDetailSchema)
def show_lead(ref: str):
    """Show a lead sold to you, with its deliveries to your destinations and their attempts."""
    return customer_portal.show_lead(g.actor, ref)


@blp.route("/return-reasons", methods=["GET"])
@customer_access
@blp.response(200, ReturnReasonsSchema)
def return_reasons():
    """List the reasons a return may give, in order."""
    return {"reasons": customer_portal.own_return_reasons(g.actor)}


@blp.route("/leads/<ref>/return", methods=["POST"])
@customer_access
@blp.arguments(ReturnRequestSchema)
@blp.response(200, CustomerLeadSchema)
def return_lead(args, ref: str):
    """Return a lead sold to you, within your return policy: its price is credited to your
    wallet and it becomes `returned` (you keep its data)."""
    return customer_portal.return_own_lead(
        g.actor, ref, reason=args["reason"], note=args.get("note")
    )
