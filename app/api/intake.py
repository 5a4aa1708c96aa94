"""POST /api/leads: take a lead from a source, validate it, route it, answer the outcome.

The view only reads the request and shapes the response; validation is the schema's,
decisions are the pipeline's, persistence the store's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app, g, request
from flask_smorest import Blueprint

from app.api.auth import authenticate_source
from app.api.errors import ApiError, InternalError, ServiceUnavailable, ValidationFailed
from app.api.lead_schema import validate_lead
from app.api.schemas import ErrorSchema, LeadCreatedSchema, ValidationErrorSchema
from app.api.submission import parse_submission, raw_payload, safe_headers
from app.pipeline import route_lead
from app.store.clock import naive
from app.store.leads import accept_submission, mark_distribution_error, record_rejected_post
from app.store.money import as_number, to_cents
from app.store.rules import active_ruleset

log = logging.getLogger("sluice.intake")
blp = Blueprint("intake", __name__, url_prefix="/api", description="Lead intake for sources.")
MAX_PARTNER_ID = 100


@blp.route("/leads", methods=["POST"])
@blp.doc(
    security=[{"basicAuth": []}, {"sourceBearer": []}],
    requestBody={
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
        "description": "The lead's fields, per the source's field reference. "
        "Query-string fields are merged in; the body wins.",
    },
    parameters=[
        {
            "in": "header",
            "name": "X-Partner-Id",
            "schema": {"type": "string", "maxLength": MAX_PARTNER_ID},
            "description": "Public id of the partner the submission is attributed to.",
        }
    ],
)
@blp.response(201, LeadCreatedSchema, description="The lead was accepted and routed.")
@blp.alt_response(400, schema=ErrorSchema, description="Malformed JSON.")
@blp.alt_response(401, schema=ErrorSchema, description="Missing or invalid credentials.")
@blp.alt_response(413, schema=ErrorSchema, description="Body over the size limit.")
@blp.alt_response(422, schema=ValidationErrorSchema, description="Invalid fields.")
@blp.alt_response(500, schema=ErrorSchema, description="Kept, not distributed.")
def submit_lead():
    """Submit a lead."""
    source = authenticate_source()
    received_at = datetime.now(UTC)
    headers = safe_headers(request)

    def reject(error: ApiError, payload) -> ApiError:
        errors = getattr(error, "errors", None) or {"_request": [error.message]}
        record_rejected_post(source, g.request_id, payload, headers, error.status, errors)
        return error

    try:
        submission = parse_submission(request)
    except ApiError as error:
        raise reject(error, raw_payload(request)) from None
    version, ruleset = active_ruleset(source.tenant_id)
    if ruleset is None or source.category not in ruleset.categories:
        unavailable = ServiceUnavailable(
            f"Category {source.category!r} has no active rules: leads cannot be taken now."
        )
        raise reject(unavailable, submission.payload)
    partner = request.headers.get("X-Partner-Id", "").strip() or None
    try:
        if partner is not None and len(partner) > MAX_PARTNER_ID:
            raise ValidationFailed(
                {"X-Partner-Id": [f"Must be at most {MAX_PARTNER_ID} characters."]}
            )
        values, is_test, notes = validate_lead(
            submission.fields, ruleset, source.category, test_mode=source.test_mode
        )
    except ValidationFailed as error:
        raise reject(error, submission.payload) from None
    post, lead = accept_submission(
        source,
        g.request_id,
        submission.payload,
        headers,
        values,
        category=source.category,
        partner_id=partner,
        is_test=is_test,
        received_at=naive(received_at),
        notes=notes,
    )
    try:
        outcome = route_lead(
            lead,
            version,
            ruleset,
            test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
        )
    except Exception as error:
        log.exception("distribution failed", extra={"lead": lead.public_id})
        mark_distribution_error(lead, post, f"{type(error).__name__}: {error}", g.request_id)
        raise InternalError(lead_uuid=str(lead.uuid), lead_public_id=lead.public_id) from None
    return {
        "lead_uuid": str(lead.uuid),
        "lead_public_id": lead.public_id,
        "status": outcome.status,
        "price": as_number(outcome.price_cents),
    }
