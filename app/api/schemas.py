"""Marshmallow schemas of the API's bodies: they shape responses and the OpenAPI document."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.domain.clock import aware
from app.domain.money import as_number
from app.domain.status import STATUSES
from app.dsl.fieldtypes import format_datetime
from app.store.tenants import ROLES


class UtcDateTime(fields.Field):
    """A stored naive-UTC datetime, written as `YYYY-MM-DDTHH:MM:SSZ`."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_datetime(aware(value))


class Cents(fields.Field):
    """Integer cents, written as a decimal number of dollars."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else as_number(value)


def _cents(attribute: str, **kwargs):
    return Cents(attribute=attribute, metadata={"type": "number", **kwargs.pop("metadata", {})})


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


class TenantSchema(Schema):
    code = fields.String()
    slug = fields.String()
    name = fields.String()
    created_at = UtcDateTime()


class UserSchema(Schema):
    id = fields.String(attribute="public_id")
    email = fields.String()
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    created_at = UtcDateTime()


class CustomerSchema(Schema):
    id = fields.String(attribute="public_id")
    slug = fields.String()
    name = fields.String()
    balance = _cents("balance_cents")
    active = fields.Boolean()
    created_at = UtcDateTime()


class SourceSchema(Schema):
    id = fields.String(attribute="public_id")
    name = fields.String()
    category = fields.String(metadata={"description": "`*`: any category with a plan (Routio)."})
    api_style = fields.String(validate=validate.OneOf(("native", "routio")))
    # A native source's key is its public half; a Routio-style source's keys are secrets
    # (its bearer credentials), stored hashed and shown once.
    api_key = fields.Function(
        lambda source: source.api_key if source.api_style == "native" else None,
        metadata={"type": "string", "nullable": True},
    )
    rate_limit = fields.Integer(
        allow_none=True, metadata={"description": "Requests per minute; null: the default."}
    )
    test_mode = fields.Boolean()
    active = fields.Boolean()
    created_at = UtcDateTime()


class RuleVersionSchema(Schema):
    version = fields.Integer(attribute="number")
    content_hash = fields.String()
    active = fields.Boolean()
    created_at = UtcDateTime()
    created_by = fields.String()
    activated_at = UtcDateTime()
    activated_by = fields.String()
    files = fields.Function(lambda v: sorted(v.files), metadata={"type": "array"})


class LeadEventSchema(Schema):
    at = UtcDateTime()
    kind = fields.String()
    message = fields.String()
    details = fields.Raw(allow_none=True)


class LeadSummarySchema(Schema):
    uuid = fields.UUID()
    id = fields.String(attribute="public_id")
    status = fields.String(validate=validate.OneOf(STATUSES))
    category = fields.String()
    lead_type = fields.String(allow_none=True)
    price = _cents("price_cents")
    source = fields.Function(lambda lead: lead.source.public_id)
    customer = fields.Function(lambda lead: lead.customer.slug if lead.customer_id else None)
    partner_id = fields.String(allow_none=True)
    is_test = fields.Boolean()
    received_at = UtcDateTime()


class LeadDetailSchema(LeadSummarySchema):
    data = fields.Dict()
    bid_id = fields.String(allow_none=True)
    post = fields.Function(lambda lead: lead.post.public_id if lead.post_id else None)
    rule_version = fields.Function(
        lambda lead: lead.rule_version.number if lead.rule_version_id else None
    )
    updated_at = UtcDateTime()
    assigned_at = UtcDateTime(allow_none=True)
    timeline = fields.List(fields.Nested(LeadEventSchema), attribute="timeline")


class PostSummarySchema(Schema):
    id = fields.String(attribute="public_id")
    date = UtcDateTime(attribute="received_at")
    source = fields.Function(lambda post: post.source.name)
    source_id = fields.Function(lambda post: post.source.public_id)
    status = fields.Function(lambda post: "Accepted" if post.accepted else "Rejected")
    status_code = fields.Integer()
    lead = fields.Function(lambda post: str(post.lead.uuid) if post.lead else None)
    lead_public_id = fields.Function(lambda post: post.lead.public_id if post.lead else None)


class PostDetailSchema(PostSummarySchema):
    request_id = fields.String()
    payload = fields.Raw()
    headers = fields.Dict()
    errors = fields.Raw(allow_none=True)
