"""The API's own bodies: the error shape and the intake's answer (admin bodies: app.schemas)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

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


class LeadCreatedSchema(Schema):
    lead_uuid = fields.UUID(required=True)
    lead_public_id = fields.String(
        required=True, metadata={"example": "lead_01arz3ndektsv4rrffq69g5fav"}
    )
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    price = fields.Float(required=True, metadata={"example": 45.0})
