"""Every HTTP error of the API, and the one JSON shape per API style they all have.

Native (and admin):

    {"error": "<code>", "message": "<sentence>", "request_id": "<id>", ...}

Routio style (intake of Routio-style sources, docs/api.md):

    {"success": false, "error": "<Routio's error text>", "message": "<sentence>",
     "request_id": "<id>", ...}

Validation errors add `"errors": {field: [messages]}`; rule set refusals add
`"diagnostics": [...]`. Raise an ApiError subclass anywhere below a view; the style of the
answer is the request's (`g.api_style`, set by the intake), native by default.
"""

from __future__ import annotations

import logging
from typing import Any

import peewee
from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.domain.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    StoreError,
    UnavailableError,
)

log = logging.getLogger("sluice.api")


class ApiError(Exception):
    """Root of the API's errors: an HTTP status, a code and a message."""

    status = 500
    code = "internal_error"
    message = "Something went wrong."
    #: A refusal that may not hold later (no active rules): never replayed for an
    #: Idempotency-Key, so a retry is served afresh.
    transient = False

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def status_for(self, style: str = "native") -> int:
        """Return the HTTP status of the error in an API style."""
        if style == "routio":
            return ROUTIO_ERRORS.get(self.code, (self.status, ""))[0]
        return self.status

    def body(self, style: str = "native") -> dict[str, Any]:
        """Return the JSON body of the error in an API style."""
        if style == "routio":
            text = ROUTIO_ERRORS.get(self.code, (0, self.message))[1]
            body = {"success": False, "error": text, "message": self.message}
        else:
            body = {"error": self.code, "message": self.message}
        body.update(self.extra)
        body["request_id"] = g.get("request_id")
        return body


class BadRequest(ApiError):
    status, code, message = 400, "bad_request", "The request is malformed."


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Missing or invalid credentials."

    def __init__(self, message: str | None = None, realm: str = "sluice", **extra: Any) -> None:
        super().__init__(message, **extra)
        self.headers["WWW-Authenticate"] = f'Basic realm="{realm}", Bearer realm="{realm}"'


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "Your role does not allow this."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "No such resource."


class Conflict(ApiError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"
    message = "Send application/json, application/x-www-form-urlencoded or multipart/form-data."


class ValidationFailed(ApiError):
    status, code, message = 422, "validation_failed", "The request has invalid fields."

    def __init__(self, errors: dict[str, list[str]], message: str | None = None, **extra):
        if errors:
            extra["errors"] = errors
        super().__init__(message, **extra)
        self.errors = errors


class ServiceUnavailable(ApiError):
    status, code, message = 503, "unavailable", "The service cannot take this request now."
    transient = True


class InternalError(ApiError):
    status, code = 500, "internal_error"
    message = "The lead was kept but could not be distributed; quote the request id."


class NoMatchingCampaign(ApiError):
    """A Routio-style post names a category that has no plan in the active rules."""

    status, code = 400, "no_matching_campaign"
    message = "The category matches no category with an active plan."
    transient = True


class TooManyRequests(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests: slow down."

    def __init__(self, retry_after: int, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, retry_after=retry_after, **extra)
        self.headers["Retry-After"] = str(retry_after)


class RequestInProgress(ApiError):
    status, code = 409, "request_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.headers["Retry-After"] = "1"


class IdempotencyKeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request in the last 24 hours."


#: Routio's status and error text for each of our codes (its documented ones first).
ROUTIO_ERRORS: dict[str, tuple[int, str]] = {
    "unauthorized": (401, "Invalid API Key"),
    "no_matching_campaign": (400, "No matching campaign"),
    "validation_failed": (400, "Missing required field"),
    "rate_limited": (429, "Rate limit exceeded"),
    "internal_error": (500, "Internal error"),
    "bad_request": (400, "Invalid request"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "request_in_progress": (409, "Request in progress"),
    "idempotency_key_reused": (422, "Idempotency key reused"),
    "unavailable": (503, "Service unavailable"),
}


_HTTP_CODES = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def from_store_error(error: StoreError) -> ApiError:
    """Return the API error for a refusal of a service or the store."""
    if isinstance(error, ForbiddenError):
        return Forbidden(error.message)
    if isinstance(error, NotFoundError):
        return NotFound(error.message)
    if isinstance(error, UnavailableError):
        return ServiceUnavailable(error.message)
    if isinstance(error, ConflictError):
        if isinstance(error.details, dict):  # {what: [why]}, e.g. per lead of a bulk action
            return Conflict(error.message, errors=error.details)
        return Conflict(error.message)
    if isinstance(error, InvalidError):
        if isinstance(error.details, dict):  # {field: [message]}
            return ValidationFailed(error.details, error.message)
        if error.details is not None:
            return ValidationFailed({}, error.message, diagnostics=error.details)
        return ValidationFailed({}, error.message)
    return ApiError(error.message)


def from_http_exception(error: HTTPException) -> ApiError:
    """Return the API error for a werkzeug (or webargs) HTTP exception."""
    status = error.code or 500
    if status == 422:
        messages = (getattr(error, "data", None) or {}).get("messages") or {}
        errors: dict[str, Any] = {}
        for location_errors in messages.values():  # {"json": {field: [...]}, "query": ...}
            errors.update(location_errors)
        return ValidationFailed(errors)
    cls = _HTTP_CODES.get(status)
    if cls is not None:
        # werkzeug's stock descriptions speak of browsers; keep ours for those.
        stock = error.description == type(error).description
        result = cls(None if stock or status == 413 else error.description)
    else:
        result = ApiError(error.description)
        result.status = status
        result.code = (error.name or "error").lower().replace(" ", "_")
    return result


def respond(error: ApiError, style: str | None = None):
    """Return the Flask response of an API error, in the request's API style."""
    if style is None:
        style = g.get("api_style", "native") if request else "native"
    response = jsonify(error.body(style))
    response.status_code = error.status_for(style)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Send every error as JSON in the one shape."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return respond(error)

    @app.errorhandler(StoreError)
    def _store_error(error: StoreError):
        return respond(from_store_error(error))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return respond(from_http_exception(error))

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def _database_unavailable(error: Exception):
        # Down, restarting, out of connections: a fast 503 the client may retry, and
        # the next request connects afresh (docs/reliability.md).
        log.warning("database unavailable", extra={"error": str(error).strip()[:300]})
        unavailable = ServiceUnavailable("The database is unavailable; retry shortly.")
        unavailable.headers["Retry-After"] = "2"
        return respond(unavailable)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return respond(ApiError("Something went wrong; quote the request id."))
