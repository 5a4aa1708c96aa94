"""POST /api/leads: take a lead from a source, validate it, route it, answer the outcome.

The view only reads the request and shapes the response; validation is the schema's,
decisions are the pipeline's, persistence the store's. Two API styles share all of it and
differ in reading and answering: native (Juiced-like, 201) and Routio (app/api/routio.py,
200). Around both: rate limits (app/api/ratelimit.py) and Idempotency-Key replays
(app/api/idempotency.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, g, jsonify, request
from flask_smorest import Blueprint

from app.api import ratelimit, routio
from app.api.auth import find_calling_source, guess_api_style, unauthorized
from app.api.errors import (
    ApiError,
    Forbidden,
    IdempotencyKeyReused,
    InternalError,
    RequestInProgress,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
    respond,
)
from app.api.idempotency import HEADER, fingerprint, idempotency_key, replay
from app.api.schemas import ErrorSchema, LeadCreatedSchema, ValidationErrorSchema
from app.api.submission import Submission, parse_submission, raw_payload, safe_headers
from app.domain.clock import naive
from app.domain.errors import InvalidError
from app.domain.money import as_number, to_cents
from app.dsl.fieldtypes import is_blank
from app.dsl.ruleset import RuleSet
from app.pipeline.validation import validate_lead
from app.services.pings import PingPost, check_ping_post, take_pinged_lead
from app.services.routing import take_new_lead
from app.services.routio import ROUTIO_REQUIRED
from app.store.idempotency import claim_key, release_key, store_answer
from app.store.leads import keep_failed_submission, new_submission, record_rejected_post
from app.store.models import RuleSetVersion, Source
from app.store.rules import ruleset_of

log = logging.getLogger("sluice.intake")
blp = Blueprint("intake", __name__, url_prefix="/api", description="Lead intake for sources.")
MAX_PARTNER_ID = 100
Reject = Callable[[ApiError, Any], ApiError]
TakePost = Callable[[Source, dict[str, str], datetime, Reject], Response]
#: Records a refused request: (source, request id, payload, headers, status code, errors).
Record = Callable[[Source, str, Any, dict[str, str], int, Any], object]


@blp.record_once
def _set_up(state) -> None:
    ratelimit.init_app(state.app)


@blp.after_request
def rate_limit_headers(response: Response) -> Response:
    """Tell every intake answer (a lead's, a ping's, an auction fill's; errors included)
    where the caller stands against its limit."""
    state = g.get("rate_limit")
    if state is not None:
        response.headers.update(state.headers())
    return response


#: The body of every native submission (a lead, a ping, an auction's fill), as documented.
SUBMISSION_CONTENT = {
    "application/json": {"schema": {"type": "object", "additionalProperties": True}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
    "multipart/form-data": {"schema": {"type": "object"}},
}


@blp.route("/leads", methods=["POST"])
@blp.doc(
    security=[{"basicAuth": []}, {"sourceBearer": []}],
    description="Native sources answer 201 with the outcome; Routio-style sources (bearer "
    "API key, `seller` and `category` in the request, camelCase names) answer 200 "
    '`{"success": true, ...}` and their errors as `{"success": false, "error": ...}`. '
    "Every answer carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset.",
    requestBody={
        "required": True,
        "content": SUBMISSION_CONTENT,
        "description": "The lead's fields, per the source's field reference. "
        "Query-string fields are merged in; the body wins.",
    },
    parameters=[
        {
            "in": "header",
            "name": "X-Partner-Id",
            "schema": {"type": "string", "maxLength": MAX_PARTNER_ID},
            "description": "Public id of the partner the submission is attributed to.",
        },
        {
            "in": "header",
            "name": HEADER,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "Makes a retry safe: the same key from the same source within 24 "
            "hours gets the first answer again (Idempotent-Replayed: true) and creates "
            "nothing; with another request, 422.",
        },
    ],
)
@blp.response(201, LeadCreatedSchema, description="Native: the lead was accepted and routed.")
@blp.alt_response(200, schema=routio.RoutioLeadSchema, description="Routio style: accepted.")
@blp.alt_response(400, schema=ErrorSchema, description="Malformed body (Routio: also fields).")
@blp.alt_response(401, schema=ErrorSchema, description="Missing or invalid credentials.")
@blp.alt_response(409, schema=ErrorSchema, description="Same Idempotency-Key in progress.")
@blp.alt_response(413, schema=ErrorSchema, description="Body over the size limit.")
@blp.alt_response(
    415, schema=ErrorSchema, description="Body not JSON, form-urlencoded or multipart."
)
@blp.alt_response(422, schema=ValidationErrorSchema, description="Invalid fields; key reused.")
@blp.alt_response(429, schema=ErrorSchema, description="Rate limited; see Retry-After.")
@blp.alt_response(500, schema=ErrorSchema, description="Kept, not distributed.")
@blp.alt_response(
    503,
    schema=ErrorSchema,
    description="No active rules for the category, or the database is unavailable; retry.",
)
def submit_lead():
    """Submit a lead."""
    return _answer_post(calling_source())


def calling_source() -> Source:
    """Return the authenticated source; count a failure against the caller's address (401,
    or 429 past the limit)."""
    g.api_style = guess_api_style()
    source = find_calling_source()
    if source is None:
        g.rate_limit = ratelimit.hit_auth_failure(request)
        if g.rate_limit is not None and not g.rate_limit.allowed:
            raise TooManyRequests(
                g.rate_limit.retry_after(time.time()),
                "Too many failed authentications from your address: wait before retrying.",
            )
        raise unauthorized(g.api_style)
    g.source = source
    g.api_style = source.api_style
    return source


def _answer_post(
    source: Source, take: TakePost | None = None, record: Record = record_rejected_post
) -> Response:
    """Answer an authenticated source's post: rate limit, Idempotency-Key, then its style
    (or `take`: a reverse auction's fill, app/api/auctions.py; a ping, app/api/pings.py,
    whose refusals `record` keeps in the ping log)."""
    received_at = datetime.now(UTC)
    headers = safe_headers(request)

    def reject(error: ApiError, payload: Any = None) -> ApiError:
        if payload is None:
            payload = _payload_for_the_record()
        errors = getattr(error, "errors", None) or error.extra.get("errors")
        errors = errors or {"_request": [error.message]}
        status = error.status_for(source.api_style)
        record(source, g.request_id, payload, headers, status, errors)
        return error

    g.rate_limit = ratelimit.hit_source(source)
    if g.rate_limit is not None and not g.rate_limit.allowed:
        raise reject(TooManyRequests(g.rate_limit.retry_after(time.time())))
    take_post = take or (_take_routio_post if source.api_style == "routio" else _take_native_post)
    try:
        key = idempotency_key(request)
        claim = claim_key(source, key, fingerprint(request), g.request_id) if key else None
    except ApiError as error:
        raise reject(error) from None
    if claim is None:
        return take_post(source, headers, received_at, reject)
    if claim.outcome == "replay":
        log.info("idempotent replay", extra={"original_request_id": claim.row.request_id})
        return replay(claim.row)
    if claim.outcome == "mismatch":
        raise reject(IdempotencyKeyReused())
    if claim.outcome == "in_progress":
        raise reject(RequestInProgress())
    try:
        response = take_post(source, headers, received_at, reject)
    except ApiError as error:
        if error.transient:
            release_key(claim.row)
            raise
        response = respond(error)
    except BaseException:
        release_key(claim.row)
        raise
    store_answer(claim.row, response.status_code, response.content_type, response.get_data())
    return response


def _payload_for_the_record() -> Any:
    try:
        return parse_submission(request).payload
    except ApiError:
        return raw_payload(request)


def native_source(refusal: str) -> Source:
    """Return the authenticated source, which must be native (Forbidden with `refusal`)."""
    source = calling_source()
    if source.api_style != "native":
        raise Forbidden(refusal)
    return source


def read_submission(
    source: Source, reject: Reject, taken: str = "leads"
) -> tuple[Submission, RuleSetVersion | None, RuleSet]:
    """Parse a native source's submission and return it with the active rules, which must
    have the source's category (`reject` a malformed body, or 503 without rules)."""
    try:
        submission = parse_submission(request)
    except ApiError as error:
        raise reject(error, raw_payload(request)) from None
    version, ruleset = ruleset_of(source.active_rules)
    if ruleset is None or source.category not in ruleset.categories:
        unavailable = ServiceUnavailable(
            f"Category {source.category!r} has no active rules: {taken} cannot be taken now."
        )
        raise reject(unavailable, submission.payload)
    return submission, version, ruleset


def partner_header() -> str | None:
    """Return the X-Partner-Id the submission names (ValidationFailed when too long)."""
    partner = request.headers.get("X-Partner-Id", "").strip() or None
    if partner is not None and len(partner) > MAX_PARTNER_ID:
        raise ValidationFailed({"X-Partner-Id": [f"Must be at most {MAX_PARTNER_ID} characters."]})
    return partner


def _take_native_post(source: Source, headers, received_at: datetime, reject: Reject) -> Response:
    """Read, validate and route a native post; answer 201 with the outcome."""
    submission, version, ruleset = read_submission(source, reject)
    submitted = submission.fields
    pinged = "ping_id" in submitted or "bid_id" in submitted
    ping_ref = bid_ref = None
    if pinged:  # a post against a ping (docs/ping-post.md): the controls are not lead data
        submitted = dict(submitted)
        ping_ref, bid_ref = submitted.pop("ping_id", None), submitted.pop("bid_id", None)
    try:
        partner = partner_header()
        values, is_test, notes = validate_lead(
            submitted, ruleset, source.category, test_mode=source.test_mode
        )
        ping_post = None
        if pinged and not (is_blank(ping_ref) and is_blank(bid_ref)):
            ping_post = check_ping_post(
                source,
                ruleset,
                None if is_blank(ping_ref) else ping_ref,
                None if is_blank(bid_ref) else bid_ref,
                values,
                received_at,
            )
    except ValidationFailed as error:
        raise reject(error, submission.payload) from None
    except InvalidError as error:
        raise reject(ValidationFailed(error.details), submission.payload) from None
    try:
        lead, outcome = _accept_and_route(
            source,
            version,
            ruleset,
            submission.payload,
            headers,
            received_at,
            category=source.category,
            values=values,
            is_test=is_test,
            notes=notes,
            partner=partner,
            status_code=201,
            ping_post=ping_post,
        )
    except InvalidError as error:
        if ping_post is None:
            raise
        # The ping was used or expired meanwhile: its claim rolled everything back.
        raise reject(ValidationFailed(error.details), submission.payload) from None
    answer = {
        "lead_uuid": str(lead.uuid),
        "lead_public_id": lead.public_id,
        "status": outcome.status,
        "price": as_number(outcome.price_cents),
    }
    if outcome.posted is not None and outcome.posted.redirect_url is not None:
        answer["redirect_url"] = outcome.posted.redirect_url
    if ping_post is not None:
        answer["ping"] = ping_post.answer()
    response = jsonify(answer)
    response.status_code = 201
    return response


def _take_routio_post(source: Source, headers, received_at: datetime, reject: Reject) -> Response:
    """Read a Routio-style post (seller, category, camelCase), validate and route it."""
    try:
        submission = parse_submission(request)
    except ApiError as error:
        raise reject(error, raw_payload(request)) from None
    payload = submission.payload
    version, ruleset = ruleset_of(source.active_rules)
    seller, category_text = routio.controls(submission.fields)
    errors: dict[str, list[str]] = {}
    if seller is None:
        errors["seller"] = [routio.REQUIRED]
    else:
        try:
            routio.check_seller(source, seller)
        except ApiError as error:
            raise reject(error, payload) from None
    category = None
    if category_text is None:
        errors["category"] = [routio.REQUIRED]
    else:
        try:
            category = routio.resolve_category(ruleset, source, category_text)
        except ApiError as error:
            raise reject(error, payload) from None
    if category is None:  # without a category, Routio's own required list is all we know
        declared = tuple(sorted(ROUTIO_REQUIRED))
    else:
        declared = tuple(f.name for f in ruleset.categories[category].fields)
    seen = routio.read_fields(submission.fields, declared)
    errors.update(seen.errors)
    partner = request.headers.get("X-Partner-Id", "").strip() or None
    if partner is not None and len(partner) > MAX_PARTNER_ID:
        errors["X-Partner-Id"] = [f"Must be at most {MAX_PARTNER_ID} characters."]
    values: dict[str, Any] = {}
    is_test, notes = source.test_mode, []
    if category is None:
        for name in declared:
            if is_blank(seen.values.get(name)):
                errors[seen.name_of(name)] = [routio.REQUIRED]
    else:
        try:
            values, is_test, notes = validate_lead(
                seen.values,
                ruleset,
                category,
                test_mode=source.test_mode,
                extra_required=ROUTIO_REQUIRED,
                require_zip=False,
            )
        except InvalidError as error:
            for name, messages in error.details.items():
                errors[seen.name_of(name)] = messages
    if errors:
        named = ", ".join(sorted(errors))
        failed = ValidationFailed(dict(sorted(errors.items())), f"Missing or invalid: {named}.")
        raise reject(failed, payload)
    lead, outcome = _accept_and_route(
        source,
        version,
        ruleset,
        payload,
        headers,
        received_at,
        category=category,
        values=values,
        is_test=is_test,
        notes=notes,
        partner=partner,
        status_code=200,
    )
    return jsonify(routio.answer(lead, outcome))


def _accept_and_route(
    source: Source,
    version,
    ruleset,
    payload: Any,
    headers: dict[str, str],
    received_at: datetime,
    *,
    category: str,
    values: dict[str, Any],
    is_test: bool,
    notes: list[str],
    partner: str | None,
    status_code: int,
    ping_post: PingPost | None = None,
):
    """Route the new lead and store it with its post in one transaction; if routing fails,
    keep the submission as `distribution_error` (reprocessable) and answer 500. With
    `ping_post`, the post is against a ping: InvalidError when the ping cannot be claimed."""
    post, lead = new_submission(
        source,
        g.request_id,
        payload,
        headers,
        values,
        category=category,
        partner_id=partner,
        is_test=is_test,
        received_at=naive(received_at),
        status_code=status_code,
    )
    try:
        if ping_post is None:
            outcome = take_new_lead(
                post,
                lead,
                version,
                ruleset,
                notes=notes,
                test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
            )
        else:
            outcome = take_pinged_lead(
                ping_post,
                post,
                lead,
                version,
                ruleset,
                notes=notes,
                test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
            )
    except Exception as error:
        if ping_post is not None and isinstance(error, InvalidError):
            raise  # the ping was used or expired meanwhile: a 422, nothing stored
        # kept if the database can take it; if not, that error (a 503)
        log.exception("distribution failed", extra={"lead": lead.public_id})
        message = f"{type(error).__name__}: {error}"
        keep_failed_submission(post, lead, notes, message, g.request_id)
        if source.api_style == "routio":
            raise InternalError(lead_id=lead.public_id) from None
        raise InternalError(lead_uuid=str(lead.uuid), lead_public_id=lead.public_id) from None
    return lead, outcome
