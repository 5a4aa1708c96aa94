"""CSV imports and the reverse auctions they create, for tenant users (docs/imports.md)."""

from __future__ import annotations

import json
from typing import Any

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.auth import require
from app.api.errors import PayloadTooLarge, ValidationFailed
from app.api.schemas import PageSchema
from app.domain.wants import AUCTION_STATUSES
from app.pipeline.csvimport import MAX_BYTES, MAX_ROWS
from app.schemas import AuctionSchema, ImportReportSchema, LeadImportSchema
from app.services import imports
from app.store.storable import unstorable

blp = Blueprint(
    "admin_imports",
    __name__,
    url_prefix="/api/admin",
    description="CSV imports on behalf of customers, and the reverse auctions they create.",
)
#: Room for the form's other fields around the file.
FORM_ROOM = 64 * 1024
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}

_IMPORT_FORM = {
    "type": "object",
    "required": ["file", "customer", "category", "price"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The CSV, UTF-8."},
        "customer": {"type": "string", "description": "The customer's slug or id."},
        "category": {"type": "string"},
        "price": {"type": "string", "description": "Paid per filled lead, e.g. 25.00."},
        "mapping": {
            "type": "string",
            "description": 'JSON {"column": "field"} (null skips a column); other columns '
            "map to the field of the same name.",
        },
        "match": {"type": "string", "description": "Criteria, comma-separated."},
        "fills": {"type": "integer", "default": 1},
        "expires_in": {"type": "integer", "default": 7, "description": "Days."},
        "dry_run": {"type": "boolean", "default": False},
    },
}


@blp.route("/imports", methods=["POST"])
@require("leads.import")
@blp.doc(
    description=f"Import a CSV (at most {MAX_BYTES // (1024 * 1024)} MB and {MAX_ROWS:,} rows) "
    "for a customer: every row is validated first; each valid row becomes an open reverse "
    "auction, all in one transaction; the invalid rows are listed with their line, field "
    "and message. A dry run writes nothing. 413: the file is too large; 422: the file, the "
    "mapping or an option is wrong (nothing written).",
    requestBody={"required": True, "content": {"multipart/form-data": {"schema": _IMPORT_FORM}}},
)
@blp.response(201, ImportReportSchema, description="Imported (or, dry, checked).")
def create_import():
    """Import a CSV of leads as reverse auctions for a customer."""
    request.max_content_length = MAX_BYTES + FORM_ROOM
    try:
        form, upload = request.form, request.files.get("file")
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"An import takes a file of at most {MAX_BYTES:,} bytes.") from None
    errors: dict[str, list[str]] = {}
    if upload is None:
        errors["file"] = ["Attach the CSV as the multipart field `file`."]
    for name in ("customer", "category", "price"):
        if not form.get(name, "").strip():
            errors[name] = ["This field is required."]
    for name, value in form.items():
        problem = unstorable(value)
        if problem is not None:
            errors[name] = [f"contains {problem}"]
    mapping = _mapping(form.get("mapping"), errors)
    fills = _integer(form, "fills", 1, errors)
    expires_in = _integer(form, "expires_in", imports.DEFAULT_EXPIRY_DAYS, errors)
    dry_run = _boolean(form, "dry_run", errors)
    if errors:
        raise ValidationFailed(errors)
    assert upload is not None
    try:
        data = upload.read(MAX_BYTES + 1)
    finally:
        upload.close()  # a large upload is spooled to a temporary file
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"An import takes a file of at most {MAX_BYTES:,} bytes.")
    match = form.get("match")
    report = imports.import_leads(
        g.actor,
        form["customer"].strip(),
        form["category"].strip(),
        data,
        price=form["price"].strip(),
        file_name=upload.filename or "import.csv",
        mapping=mapping,
        match=match.split(",") if match is not None and match.strip() else None,
        fills=fills,
        expires_in_days=expires_in,
        dry_run=dry_run,
    )
    return report, 200 if dry_run else 201


def _mapping(text: str | None, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        mapping = json.loads(text)
    except ValueError as error:
        errors["mapping"] = [f"Not JSON: {error}."]
        return None
    if not isinstance(mapping, dict) or not all(
        isinstance(value, str | None) for value in mapping.values()
    ):
        errors["mapping"] = ['A JSON object {"column": "field" or null}.']
        return None
    return mapping


def _integer(form, name: str, default: int, errors: dict[str, list[str]]) -> int:
    text = form.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or len(text) > 9:
        errors[name] = ["A whole number."]
        return default
    return int(text)


def _boolean(form, name: str, errors: dict[str, list[str]]) -> bool:
    text = form.get(name, "").strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    errors[name] = ["true or false."]
    return False


class AuctionQuerySchema(PageSchema):
    status = fields.String(validate=validate.OneOf(AUCTION_STATUSES))
    customer = fields.String(metadata={"description": "A customer's slug or id."})
    lead_import = fields.String(data_key="import", metadata={"description": "An import id."})


@blp.route("/auctions", methods=["GET"])
@require("leads.read")
@blp.arguments(AuctionQuerySchema, location="query")
@blp.response(200, AuctionSchema(many=True))
def list_auctions(args):
    """List the reverse auctions, newest first."""
    return imports.list_auctions(g.actor, **args)


@blp.route("/auctions/<ref>", methods=["DELETE"])
@require("leads.import")
@blp.response(200, AuctionSchema)
def cancel_auction(ref: str):
    """Cancel a reverse auction (if open) and erase its row's data; idempotent."""
    return imports.cancel_auction(g.actor, ref)


@blp.route("/imports", methods=["GET"])
@require("leads.read")
@blp.arguments(PageSchema, location="query")
@blp.response(200, LeadImportSchema(many=True))
def list_imports(args):
    """List the imports, newest first: who, when, which file, counts and errors."""
    return imports.list_imports(g.actor, **args)


@blp.route("/imports/<ref>", methods=["GET"])
@require("leads.read")
@blp.response(200, LeadImportSchema)
def show_import(ref: str):
    """Show an import's record, with its rows' errors."""
    return imports.show_import(g.actor, ref)
