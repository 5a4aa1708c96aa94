"""The API's own bodies: the error shape, the intake's answer, the admin lists' paging
(the admin's answers: app.schemas)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.domain.returns import NOTE_CHARS as RETURN_NOTE_CHARS
from app.domain.status import STATUSES


class ErrorSchema(Schema):
    class Meta:
        # Errors add what they need (errors, diagnostics, the kept lead's ids, ...):
        # the document must not promise there is nothing more.
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"example": "unauthorized"})
    message = fields.String(required=True)
    request_id = fields.String(metadata={"example": "req_01hzx3ndektsv4rrffq69g5fav"})


class ValidationErrorSchema(ErrorSchema):
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"example": {"email": ["Must be a valid email address."]}},
    )


class PageSchema(Schema):
    """A page of an admin list."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    # Bounded: a larger offset would overflow the database's integer.
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


class LeadCreatedSchema(Schema):
    lead_uuid = fields.UUID(required=True)
    lead_public_id = fields.String(
        required=True, metadata={"example": "lead_01arz3ndektsv4rrffq69g5fav"}
    )
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    price = fields.Float(required=True, metadata={"example": 45.0})
    redirect_url = fields.String(
        metadata={
            "description": "A lead `posted` to a partner whose answer gave a URL to send the"
            " person to (their thank-you or offer page); absent otherwise.",
            "example": "https://partner.example/thanks/8812",
        }
    )


class ReturnRequestSchema(Schema):
    """A return's reason and note, as a tenant or a buyer gives them."""

    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "One of the tenant's return reasons, by its text (any case): "
            "GET /api/admin/return-reasons (a buyer: /api/customer/return-reasons) lists them.",
            "example": "Invalid phone",
        },
    )
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=RETURN_NOTE_CHARS),
        metadata={"description": "Free text kept with the return."},
    )
