"""Reading an intake request: its fields (query string merged under the body) and headers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from app.store.storable import unstorable

#: Headers never stored with a post: they carry credentials.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_STORED_RAW = 10_000  # characters of an unparseable body kept with the post


@dataclass(frozen=True)
class Submission:
    fields: dict[str, Any]  # what the integrator sent: query string, then body on top
    payload: Any  # what the post records


def safe_headers(request: Request) -> dict[str, str]:
    """Return the request's headers without the ones that carry secrets."""
    return {
        name: value for name, value in request.headers.items() if name.lower() not in SECRET_HEADERS
    }


def raw_payload(request: Request) -> Any:
    """Return what to record of a body that could not be read as fields."""
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return {"omitted": f"body of {request.content_length} bytes is over the limit"}
    return data[:MAX_STORED_RAW].decode("utf-8", "replace")


def parse_submission(request: Request) -> Submission:
    """Return the submitted fields; raise 400, 413 or 415 when the body cannot be read."""
    query = request.args.to_dict(flat=True)
    mimetype = request.mimetype
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLarge() from None
    if not raw.strip():
        body: dict[str, Any] = {}
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            body = json.loads(raw, parse_constant=_not_a_json_number)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"The body is not valid JSON: {error}.") from None
        except RecursionError:
            raise BadRequest("The JSON body is nested too deeply.") from None
        if not isinstance(body, dict):
            raise BadRequest("The JSON body must be an object of fields.")
    elif mimetype in FORM_TYPES:
        try:
            body = request.form.to_dict(flat=True)
        except RequestEntityTooLarge:
            raise PayloadTooLarge() from None
    else:
        raise UnsupportedMediaType()
    fields = {**query, **body}
    problem = unstorable(fields)
    if problem is not None:
        raise BadRequest(f"The request holds {problem}, which cannot be stored.")
    return Submission(fields=fields, payload=fields)


def _not_a_json_number(constant: str):
    # Python's json takes NaN and Infinity; JSON (RFC 8259) and the database do not.
    raise ValueError(f"{constant} is not a JSON number")
