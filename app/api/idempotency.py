"""The Idempotency-Key header: a retried POST gets the first answer instead of a new lead.

A key is claimed by the first request that brings it (app/store/idempotency.py). The
request is identified by a canonical fingerprint of its query string and body, so a retry
of the same lead matches even if a client reorders JSON keys or query parameters, and the
same key with another lead is refused (422). The stored answer is replayed byte for byte
with its original status; `Idempotent-Replayed: true` tells it apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import Request, Response
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import BadRequest, PayloadTooLarge
from app.api.submission import FORM_TYPES

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as Stripe and the IETF draft allow


def idempotency_key(request: Request) -> str | None:
    """Return the request's Idempotency-Key (quotes of a structured-header string removed)."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.fullmatch(key):
        raise BadRequest(f"{HEADER} must be 1 to 255 visible ASCII characters.")
    return key


def fingerprint(request: Request) -> str:
    """Return the SHA-256 of the request's canonical form: query, media type and body."""
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLarge() from None
    body: Any = {"raw": hashlib.sha256(raw).hexdigest()}
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            body = {"json": json.loads(raw)}
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
    elif mimetype in FORM_TYPES:
        try:
            form = sorted((str(name), str(value)) for name, value in request.form.items(multi=True))
        except RequestEntityTooLarge:
            raise PayloadTooLarge() from None
        files = sorted(
            (str(name), str(upload.filename), hashlib.sha256(upload.read()).hexdigest())
            for name, upload in request.files.items(multi=True)
        )
        body = {"form": form, "files": files}
    canonical = json.dumps(
        {
            "path": request.path,
            "query": sorted((str(k), str(v)) for k, v in request.args.items(multi=True)),
            "type": mimetype,
            "body": body,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def replay(row) -> Response:
    """Return the stored answer of a key, as it was first given."""
    response = Response(bytes(row.body), status=row.status_code, content_type=row.content_type)
    response.headers[REPLAYED] = "true"
    return response
