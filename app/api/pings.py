"""`POST /api/pings`: a source pings a lead without the person's identity and gets the bids
that would buy it (docs/ping-post.md); the post naming the ping is `POST /api/leads`.

A ping is an intake request: the same authentication, rate limit, Idempotency-Key and body
reading as `POST /api/leads` (app/api/intake.py); what is done with it is
app/services/pings.py's. Every ping, refused ones included, goes to the ping log. Native
sources only: Routio's API has no ping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, current_app, g, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.errors import ValidationFailed
from app.api.intake import (
    SUBMISSION_CONTENT,
    Reject,
    _answer_post,
    native_source,
    rate_limit_headers,
    read_submission,
)
from app.api.schemas import ErrorSchema, ValidationErrorSchema
from app.domain.errors import InvalidError
from app.domain.money import to_cents
from app.services.pings import ping_answer, record_refused_ping, take_ping
from app.store.models import Source

blp = Blueprint("pings", __name__, url_prefix="/api", description="Inbound pings (ping-post).")
NATIVE_ONLY = "Pings are taken from native sources (HTTP Basic or an sbt_ token)."


blp.after_request(rate_limit_headers)


class PingBidSchema(Schema):
    bid_id = fields.String(required=True)
    price = fields.Float(required=True, metadata={"example": 45.0})
    expires_at = fields.String(required=True, metadata={"format": "date-time"})


class PingAnswerSchema(Schema):
    ping_id = fields.String(required=True, metadata={"example": "png_01arz3ndektsv4rrffq69g5fav"})
    status = fields.String(required=True, validate=validate.OneOf(("accepted", "rejected")))
    bids = fields.List(
        fields.Nested(PingBidSchema),
        required=True,
        metadata={"description": "Best first; how many: the source's ping_bids_shown."},
    )
    expires_at = fields.String(
        required=True,
        metadata={"format": "date-time", "description": "Post against the ping before then."},
    )
    reason = fields.String(metadata={"description": "Why a rejected ping gets no bid."})


def _record(source: Source, request_id: str, payload: Any, headers, status: int, errors) -> None:
    record_refused_ping(source, request_id, payload, status, errors)


@blp.route("/pings", methods=["POST"])
@blp.doc(
    security=[{"basicAuth": []}, {"sourceBearer": []}],
    description="The lead's fields without the person's identity (names, email, phones, "
    "address lines, IP, date of birth...: a 422 names each one sent). The fields marked "
    "required for ping are required. The answer says whether bids would buy the lead and "
    "at what price; post the full lead to `POST /api/leads` with `ping_id` (and optionally "
    "`bid_id`) before `expires_at`. Nothing is charged and no cap is counted by a ping. "
    "Authentication, rate limit and Idempotency-Key are those of `POST /api/leads`.",
    requestBody={
        "required": True,
        "content": SUBMISSION_CONTENT,
    },
)
@blp.response(200, PingAnswerSchema, description="The ping's answer: accepted or rejected.")
@blp.alt_response(400, schema=ErrorSchema, description="Malformed body.")
@blp.alt_response(401, schema=ErrorSchema, description="Missing or invalid credentials.")
@blp.alt_response(403, schema=ErrorSchema, description="Not a native source.")
@blp.alt_response(409, schema=ErrorSchema, description="Same Idempotency-Key in progress.")
@blp.alt_response(413, schema=ErrorSchema, description="Body over the size limit.")
@blp.alt_response(415, schema=ErrorSchema, description="Body of another media type.")
@blp.alt_response(422, schema=ValidationErrorSchema, description="Invalid fields; key reused.")
@blp.alt_response(429, schema=ErrorSchema, description="Rate limited; see Retry-After.")
@blp.alt_response(503, schema=ErrorSchema, description="No active rules; retry.")
def ping():
    """Ping a lead (without the person's identity) for its bids."""
    return _answer_post(native_source(NATIVE_ONLY), _take_ping, _record)


def _take_ping(source: Source, headers, received_at: datetime, reject: Reject) -> Response:
    """Read, validate and bid on a ping; answer 200 with its bids, or 422."""
    submission, _, ruleset = read_submission(source, reject, "pings")
    try:
        pinged = take_ping(
            source,
            ruleset,
            submission.payload,
            submission.fields,
            g.request_id,
            received_at,
            test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
        )
    except InvalidError as error:  # stored in the ping log already
        raise ValidationFailed(error.details) from None
    return jsonify(ping_answer(pinged))
