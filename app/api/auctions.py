"""Reverse auctions for sources: `GET /api/auctions` lists the open auctions a source may fill,
`POST /api/auctions/<id>/leads` fills one with a lead (docs/imports.md).

A fill is an intake post: the same authentication, rate limit, Idempotency-Key, body
reading, validation and record as `POST /api/leads` (app/api/intake.py); only what is done
with the valid lead differs (app/services/auctions.py). Native sources only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Response, current_app, g, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.errors import (
    ApiError,
    InternalError,
    NotFound,
    ValidationFailed,
    respond,
)
from app.api.intake import (
    SUBMISSION_CONTENT,
    Reject,
    _answer_post,
    native_source,
    partner_header,
    rate_limit_headers,
    read_submission,
)
from app.api.schemas import ErrorSchema, ValidationErrorSchema
from app.domain.clock import naive
from app.domain.errors import InvalidError, NotFoundError
from app.domain.money import as_number, to_cents
from app.pipeline.validation import validate_lead
from app.schemas import SourceAuctionSchema
from app.services.auctions import Fill, auction_for, auctions_for, fill_auction, precheck
from app.store.leads import keep_failed_submission, new_submission
from app.store.models import Source

log = logging.getLogger("sluice.intake")
blp = Blueprint(
    "auctions", __name__, url_prefix="/api", description="Reverse auctions sources can fill."
)
NATIVE_ONLY = "Reverse auctions are filled by native sources (HTTP Basic or an sbt_ token)."


blp.after_request(rate_limit_headers)


class AuctionQuerySchema(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


@blp.route("/auctions", methods=["GET"])
@blp.doc(security=[{"basicAuth": []}, {"sourceBearer": []}])
@blp.arguments(AuctionQuerySchema, location="query")
@blp.response(200, SourceAuctionSchema(many=True))
@blp.alt_response(401, schema=ErrorSchema, description="Missing or invalid credentials.")
@blp.alt_response(403, schema=ErrorSchema, description="Not a native source.")
def list_auctions(args):
    """List the open reverse auctions of your category: criteria, price, fills left."""
    source = native_source(NATIVE_ONLY)
    return auctions_for(source, limit=args["limit"], offset=args["offset"])


@blp.route("/auctions/<ref>/leads", methods=["POST"])
@blp.doc(
    security=[{"basicAuth": []}, {"sourceBearer": []}],
    description="The body, validation, rate limit and Idempotency-Key of `POST /api/leads`. "
    "201: the lead filled the auction (sold to its customer at its price). 409 (the auction "
    "is filled, expired or canceled, or its customer cannot pay) and 422 with "
    '`"error": "auction_not_filled"` (the lead does not match a criterion, or the plan '
    "would not sell it) still keep the lead and route it by the tenant's plan: the body "
    "says how (`lead_public_id`, `status`, `price`).",
    requestBody={
        "required": True,
        "content": SUBMISSION_CONTENT,
    },
)
@blp.response(201, description="The lead filled the auction.")
@blp.alt_response(400, schema=ErrorSchema, description="Malformed body.")
@blp.alt_response(401, schema=ErrorSchema, description="Missing or invalid credentials.")
@blp.alt_response(403, schema=ErrorSchema, description="Not a native source.")
@blp.alt_response(404, schema=ErrorSchema, description="No such auction in your category.")
@blp.alt_response(409, schema=ErrorSchema, description="Kept, not filled: the auction's state.")
@blp.alt_response(413, schema=ErrorSchema, description="Body over the size limit.")
@blp.alt_response(415, schema=ErrorSchema, description="Body of another media type.")
@blp.alt_response(422, schema=ValidationErrorSchema, description="Invalid, or kept not filled.")
@blp.alt_response(429, schema=ErrorSchema, description="Rate limited; see Retry-After.")
@blp.alt_response(503, schema=ErrorSchema, description="No active rules; retry.")
def fill(ref: str):
    """Fill a reverse auction with a lead."""
    source = native_source(NATIVE_ONLY)

    def take(source: Source, headers, received_at: datetime, reject: Reject) -> Response:
        return _take_fill(ref, source, headers, received_at, reject)

    return _answer_post(source, take)


def _take_fill(
    ref: str, source: Source, headers: dict[str, str], received_at: datetime, reject: Reject
) -> Response:
    """Read and validate the lead as the intake does, then offer it to the auction."""
    submission, version, ruleset = read_submission(source, reject)
    try:
        auction = auction_for(source, ref)
    except NotFoundError:
        missing = NotFound(f"No auction {ref[:60]!r} in your category.")
        raise reject(missing, submission.payload) from None
    try:
        partner = partner_header()
        values, is_test, notes = validate_lead(
            submission.fields, ruleset, source.category, test_mode=source.test_mode
        )
    except ValidationFailed as error:
        raise reject(error, submission.payload) from None
    except InvalidError as error:
        raise reject(ValidationFailed(error.details), submission.payload) from None
    offer = precheck(auction, values)
    post, lead = new_submission(
        source,
        g.request_id,
        submission.payload,
        headers,
        values,
        category=source.category,
        partner_id=partner,
        is_test=is_test,
        received_at=naive(received_at),
        status_code=201,
    )
    try:
        done = fill_auction(
            offer,
            post,
            lead,
            version,
            ruleset,
            notes=notes,
            test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
        )
    except Exception as error:  # kept if the database can take it, as the intake does
        log.exception("distribution failed", extra={"lead": lead.public_id})
        message = f"{type(error).__name__}: {error}"
        keep_failed_submission(post, lead, notes, message, g.request_id)
        raise InternalError(lead_uuid=str(lead.uuid), lead_public_id=lead.public_id) from None
    return _answer(done, lead)


class AuctionNotFilled(ApiError):
    code = "auction_not_filled"


def _answer(done: Fill, lead) -> Response:
    decision = done.decision
    assert decision is not None
    body: dict[str, Any] = {
        "lead_uuid": str(lead.uuid),
        "lead_public_id": lead.public_id,
        "status": str(decision.status),
        "price": as_number(decision.price_cents),
    }
    auction = {
        "id": done.auction.public_id,
        "filled": done.filled,
        "fills_left": done.fills_left,
    }
    if done.filled:
        response = jsonify({**body, "auction": auction})
        response.status_code = 201
        return response
    refusal = AuctionNotFilled(
        done.reason, reason=done.refusal, **done.details, **body, auction=auction
    )
    refusal.status = done.status_code
    return respond(refusal)
