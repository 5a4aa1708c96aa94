"""Output schemas: what the admin API answers and `sluice ... --json` prints, the same shapes."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump, pre_dump, validate

from app.domain.clock import aware
from app.domain.delivery import DELIVERY_STATUSES, PENDING
from app.domain.money import as_number
from app.domain.review import APPROVED, REJECTED
from app.domain.status import STATUSES
from app.dsl.fieldtypes import format_datetime
from app.store.destinations import masked, masked_headers, signing_secrets
from app.store.partners import header_names as partner_header_names
from app.store.sources import API_STYLES, token_id
from app.store.tenants import CUSTOMER_ROLE, ROLES

#: How much of a buyer's answer an attempt shows (what the worker keeps: the first 4 KB).
ANSWER_CHARS = 4096


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


class TenantSchema(Schema):
    code = fields.String()
    slug = fields.String()
    name = fields.String()
    created_at = UtcDateTime()
    monthly_lead_threshold = fields.Integer(
        allow_none=True,
        metadata={"description": "The most leads routed in a calendar month (UTC); null: none."},
    )


class UsageSchema(Schema):
    """A tenant's month against its monthly lead threshold (docs/leads.md)."""

    month = fields.Function(
        lambda usage: f"{usage.month:%Y-%m}", metadata={"type": "string", "example": "2026-12"}
    )
    counted = fields.Integer(metadata={"description": "Leads counted this month (UTC)."})
    threshold = fields.Integer(allow_none=True, metadata={"description": "null: no threshold."})
    remaining = fields.Integer(
        allow_none=True,
        metadata={"description": "Leads that may still be routed this month; null: no limit."},
    )
    withheld = fields.Integer(metadata={"description": "Leads withheld, waiting (any month)."})


class UserSchema(Schema):
    id = fields.String(attribute="public_id")
    email = fields.String()
    role = fields.String(validate=validate.OneOf((*ROLES, CUSTOMER_ROLE)))
    customer = fields.Function(
        lambda user: user.customer.slug if user.customer_id is not None else None,
        metadata={
            "type": ["string", "null"],
            "description": "A customer's own user (the customer API): that customer's slug.",
        },
    )
    active = fields.Boolean()
    created_at = UtcDateTime()


class CustomerSchema(Schema):
    id = fields.String(attribute="public_id")
    slug = fields.String()
    name = fields.String()
    balance = _cents("balance_cents")
    active = fields.Boolean()
    created_at = UtcDateTime()
    return_window_days = fields.Integer(
        metadata={"description": "Days after a sale its lead may be returned (docs/leads.md)."}
    )
    return_limit_percent = fields.Integer(
        allow_none=True,
        metadata={
            "description": "At most this percent of a month's leads may be returned; "
            "null: no limit."
        },
    )
    claims_per_day = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The most marketplace leads it may claim a UTC day; null: no limit."
        },
    )


class SuccessTestSchema(Schema):
    json_field = fields.String(allow_none=True, metadata={"example": "result.status"})
    equals = fields.Raw(allow_none=True, metadata={"example": "accepted"})
    pattern = fields.String(allow_none=True)


class DestinationSchema(Schema):
    """A delivery destination; its headers' values and signing secrets masked."""

    id = fields.String(attribute="public_id")
    customer = fields.Function(lambda row: row.customer.slug)
    name = fields.String()
    kind = fields.String(validate=validate.OneOf(("http", "email")))
    url = fields.String(allow_none=True)
    method = fields.String(allow_none=True)
    body_format = fields.String(allow_none=True)
    headers = fields.Method("dump_headers", metadata={"type": "object"})
    template = fields.String(allow_none=True)
    success = fields.Method("dump_success", allow_none=True, metadata={"type": "object"})
    signing_secrets = fields.Method(
        "dump_secrets",
        metadata={"type": "array", "description": "Masked; two while a rotation overlaps."},
    )
    previous_secret_expires_at = UtcDateTime(allow_none=True)
    retry_schedule = fields.List(fields.Integer(), allow_none=True)
    addresses = fields.List(fields.String(), allow_none=True)
    active = fields.Boolean()
    paused_reason = fields.String(allow_none=True)
    paused_at = UtcDateTime(allow_none=True)
    failures = fields.Integer(metadata={"description": "Failed attempts since the last success."})
    failing_since = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    def dump_headers(self, row) -> dict[str, str]:
        return masked_headers(row)

    def dump_success(self, row) -> dict | None:
        if row.success_field is None and row.success_pattern is None:
            return None
        return {
            "json_field": row.success_field,
            "equals": row.success_value,
            "pattern": row.success_pattern,
        }

    def dump_secrets(self, row) -> list[str]:
        return [masked(secret) for secret in signing_secrets(row)]


def _revealed_secret() -> fields.Field:
    return fields.String(
        attribute="revealed_secret",
        allow_none=True,
        metadata={"description": "Shown once: keep it to verify our signatures."},
    )


class RevealedDestinationSchema(DestinationSchema):
    """A destination just created or rotated: its new signing secret in clear, shown once."""

    signing_secret = _revealed_secret()


class WebhookSchema(DestinationSchema):
    """A tenant's webhook (docs/webhooks.md): a destination of the tenant's own, for events;
    its headers' values and signing secrets masked."""

    class Meta:
        exclude = ("customer", "kind", "addresses")

    events = fields.List(fields.String(), metadata={"example": ["lead.sold", "delivery.failed"]})


class RevealedWebhookSchema(WebhookSchema):
    """A webhook just created or rotated: its new signing secret in clear, shown once."""

    signing_secret = _revealed_secret()


class SourceSchema(Schema):
    id = fields.String(attribute="public_id")
    name = fields.String()
    category = fields.String(metadata={"description": "`*`: any category with a plan (Routio)."})
    api_style = fields.String(validate=validate.OneOf(API_STYLES))
    # A native source's key is its public half; a Routio-style source's keys are secrets
    # (its bearer credentials), stored hashed and shown once.
    api_key = fields.Function(
        lambda source: source.api_key if source.api_style == "native" else None,
        metadata={"type": ["string", "null"]},
    )
    rate_limit = fields.Integer(
        allow_none=True, metadata={"description": "Requests per minute; null: the default."}
    )
    test_mode = fields.Boolean()
    active = fields.Boolean()
    ping_bids_shown = fields.Integer(
        metadata={"description": "How many bids a ping's answer shows, best first."}
    )
    ping_ttl_seconds = fields.Integer(
        metadata={"description": "How long after a ping a post may name it."}
    )
    internal = fields.Boolean(
        metadata={"description": "The tenant's own source: may post a bid_id without a ping."}
    )
    previous_secret_expires_at = UtcDateTime(
        metadata={
            "description": "After a rotation with an overlap: until when the old secret"
            " works too (null: no old secret works)."
        }
    )
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


def delivery_url(public_id: str) -> str:
    """Return the admin API's address of a delivery, as timelines and lists link it."""
    return f"/api/admin/deliveries/{public_id}"


class DeliverySummarySchema(Schema):
    """A delivery: one message to one destination (its id is the `webhook-id`)."""

    id = fields.String(attribute="public_id", metadata={"example": "msg_01j..."})
    event = fields.String(metadata={"example": "lead.sold"})
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    destination = fields.Function(
        lambda d: d.destination.public_id,
        metadata={
            "type": "string",
            "description": "A customer's destination (dst_...) or a webhook (whk_...).",
        },
    )
    destination_name = fields.Function(lambda d: d.destination.name, metadata={"type": "string"})
    customer = fields.Function(
        lambda d: d.destination.customer.public_id if d.destination.customer_id else None,
        metadata={
            "type": ["string", "null"],
            "description": "The buyer's customer id; null for a tenant's webhook.",
        },
    )
    lead = fields.Function(
        lambda d: d.lead.public_id if d.lead_id else None,
        metadata={"type": ["string", "null"]},
    )
    attempts = fields.Integer(metadata={"description": "Attempts made in all."})
    tries = fields.Integer(
        metadata={"description": "Attempts in the current round of the retry schedule."}
    )
    next_attempt_at = fields.Function(
        lambda d: format_datetime(aware(d.next_attempt_at)) if d.status == PENDING else None,
        metadata={
            "type": ["string", "null"],
            "description": "When a pending delivery is attempted next; null otherwise.",
        },
    )
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    delivered_at = UtcDateTime(allow_none=True)
    url = fields.Function(
        lambda d: delivery_url(d.public_id),
        metadata={"type": "string", "description": "This delivery and its attempts."},
    )


class DeliveryAttemptSchema(Schema):
    number = fields.Integer()
    started_at = UtcDateTime()
    duration_ms = fields.Float()
    outcome = fields.String(validate=validate.OneOf(("delivered", "retry", "failed")))
    status_code = fields.Integer(allow_none=True)
    answer = fields.Function(
        lambda a: (a.answer or "")[:ANSWER_CHARS],
        metadata={"type": "string", "description": "The first 4 KB of the answer's body."},
    )
    error = fields.String(allow_none=True)


class DeliveryDetailSchema(DeliverySummarySchema):
    payload = fields.Raw(metadata={"description": "What is sent (the body's data)."})
    history = fields.List(
        fields.Nested(DeliveryAttemptSchema),
        metadata={"description": "Every attempt, oldest first."},
    )


class DeliveryReplaySchema(Schema):
    replayed = fields.List(
        fields.String(),
        metadata={"description": "Dead deliveries set to pending: a new round of retries."},
    )
    rescheduled = fields.List(
        fields.String(),
        metadata={"description": "Pending deliveries whose next attempt was moved to now."},
    )
    count = fields.Function(
        lambda r: len(r.replayed) + len(r.rescheduled),
        metadata={"type": "integer", "description": "How many deliveries will be attempted now."},
    )


class ReviewSchema(Schema):
    """An audit lead's review."""

    decision = fields.String(validate=validate.OneOf((APPROVED, REJECTED)))
    by = fields.String(metadata={"description": "Who reviewed: a user's email, or cli:<login>."})
    at = UtcDateTime()
    note = fields.String(allow_none=True)


class ReviewedSchema(Schema):
    """What a bulk review did to one lead."""

    id = fields.String(metadata={"example": "lead_01j..."})
    status = fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "The lead's status now."}
    )
    error = fields.String(
        allow_none=True,
        metadata={"description": "Why this lead was not reviewed (another review came first)."},
    )


class ReturnedSchema(Schema):
    """What a bulk return did to one lead."""

    id = fields.String(metadata={"example": "lead_01j..."})
    status = fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "The lead's status now."}
    )
    error = fields.String(
        allow_none=True,
        metadata={"description": "Why the lead was not returned (e.g. outside the policy)."},
    )


class ReturnReasonsSchema(Schema):
    """The reasons a return may give, in the order they are offered."""

    reasons = fields.List(
        fields.String(),
        required=True,
        metadata={"example": ["Invalid phone", "Duplicate", "Other"]},
    )


class DeletedSchema(Schema):
    """What a bulk deletion did to one lead."""

    id = fields.String(metadata={"example": "lead_01j..."})
    deleted_at = UtcDateTime()
    already = fields.Boolean(
        metadata={"description": "The lead was deleted before: this request changed nothing."}
    )


def _ping_of(lead) -> str | None:
    """Return the public id of the lead's ping: as a list set it, else read (one query)."""
    if "ping_ref" in vars(lead):
        return lead.ping_ref
    return lead.ping.public_id if lead.ping_id else None


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
    posted_partner = fields.String(
        allow_none=True,
        metadata={
            "description": "A posted lead: the partner a plan's ping_post or post stage sold"
            " it to (null: not posted)."
        },
    )
    is_test = fields.Boolean()
    received_at = UtcDateTime()
    deleted = fields.Function(
        lambda lead: lead.deleted_at is not None,
        metadata={
            "description": "Whether the lead was deleted: its data erased, its status and "
            "distribution history kept."
        },
    )
    deleted_at = UtcDateTime(allow_none=True)
    ping = fields.Function(
        lambda lead: _ping_of(lead),
        metadata={
            "type": ["string", "null"],
            "description": "The ping the lead was posted against (null: none).",
        },
    )
    review = fields.Nested(
        ReviewSchema,
        allow_none=True,
        dump_default=None,
        metadata={
            "description": "The audit review that approved or rejected the lead; null if none."
        },
    )


class OfferSchema(Schema):
    """A lead on the marketplace as buyers see it: its price and teaser, no personal data."""

    id = fields.String()
    category = fields.String()
    lead_type = fields.String(allow_none=True)
    received_at = UtcDateTime()
    price = _cents("price_cents", metadata={"description": "What a claim charges."})
    teaser = fields.Dict(
        metadata={"description": "The deliverable fields the rules' marketplace stage shows."}
    )


class LeadDetailSchema(LeadSummarySchema):
    data = fields.Dict()
    enriched = fields.Dict(
        allow_none=True,
        metadata={
            "description": "What the plan's enrich stages' providers answered, by provider"
            " (null: none called). The lead's declared fields they filled are in `data`."
        },
    )
    bid_id = fields.String(allow_none=True)
    offer = _cents(
        "offer_cents",
        metadata={
            "description": "The marketplace price it was placed at, what a claim charges "
            "(null: never placed on the marketplace)."
        },
    )
    post = fields.Function(lambda lead: lead.post.public_id if lead.post_id else None)
    rule_version = fields.Function(
        lambda lead: lead.rule_version.number if lead.rule_version_id else None
    )
    updated_at = UtcDateTime()
    assigned_at = UtcDateTime(allow_none=True)
    timeline = fields.List(fields.Nested(LeadEventSchema), attribute="timeline")
    deliveries = fields.List(
        fields.Nested(DeliverySummarySchema),
        attribute="delivery_list",
        metadata={"description": "The lead's deliveries (to its buyer, to webhooks)."},
    )


class ReclassificationSchema(Schema):
    """A lead classified against the active rules: its lead type before and after."""

    category = fields.String(
        metadata={"description": "The lead's category: the source's, it never changes."}
    )
    old_lead_type = fields.String(allow_none=True)
    new_lead_type = fields.String(
        allow_none=True, metadata={"description": "None: no lead type holds, and no fallback."}
    )
    changed = fields.Boolean(metadata={"description": "The lead type differs."})
    applied = fields.Boolean(
        metadata={
            "description": "The new lead type was written (false: a dry classification, "
            "or no change)."
        }
    )


class FieldChangeSchema(Schema):
    old = fields.Raw(allow_none=True, metadata={"description": "None: the field was absent."})
    new = fields.Raw(allow_none=True, metadata={"description": "None: the field was removed."})


class EditResultSchema(Schema):
    """What an edit did: the lead now, its changed fields, its reclassification."""

    lead = fields.Nested(LeadDetailSchema)
    changes = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(FieldChangeSchema),
        metadata={
            "description": "Each field whose value changed; empty: no change, nothing was written."
        },
    )
    reclassification = fields.Nested(ReclassificationSchema)


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


class PingBidOfferSchema(Schema):
    bid_id = fields.String()
    price = _cents("price_cents")


class PingSummarySchema(Schema):
    id = fields.String(attribute="public_id")
    date = UtcDateTime(attribute="received_at")
    source = fields.Function(lambda ping: ping.source.name)
    source_id = fields.Function(lambda ping: ping.source.public_id)
    status = fields.String(validate=validate.OneOf(("accepted", "rejected")))
    status_code = fields.Integer()
    reason = fields.String(allow_none=True)
    bids = fields.List(fields.Nested(PingBidOfferSchema), metadata={"description": "Best first."})
    expires_at = UtcDateTime()
    used_at = UtcDateTime(allow_none=True)
    lead_public_id = fields.String(
        attribute="used_by",
        allow_none=True,
        metadata={"description": "The lead posted against the ping (null: not posted)."},
    )


class PingDetailSchema(PingSummarySchema):
    request_id = fields.String()
    category = fields.String()
    lead_type = fields.String(allow_none=True)
    payload = fields.Raw(metadata={"description": "As received, identity fields left out."})
    data = fields.Raw(allow_none=True, metadata={"description": "The normalized values."})
    errors = fields.Raw(allow_none=True)


class DiagnosticSchema(Schema):
    path = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    column = fields.Integer(allow_none=True)
    severity = fields.String(validate=validate.OneOf(("error", "warning")))
    code = fields.String()
    message = fields.String()
    hint = fields.String(allow_none=True)


def _attach(row, **shown):
    """Return the row with values it does not store (a credential shown once) set on it."""
    for name, value in shown.items():
        setattr(row, name, value)
    return row


class CreatedUserSchema(UserSchema):
    token = fields.String(metadata={"description": "Shown once."})

    @pre_dump
    def show_token(self, created, **kwargs):
        """Dump a CreatedUser: the user with its token."""
        return _attach(created.user, token=created.token)


class CreatedTenantSchema(Schema):
    tenant = fields.Nested(TenantSchema)
    admin = fields.Nested(CreatedUserSchema)


class MeSchema(Schema):
    user = fields.Nested(UserSchema)
    tenant = fields.Nested(TenantSchema)
    permissions = fields.List(fields.String())


class CreatedSourceSchema(SourceSchema):
    api_key = fields.Function(
        lambda s: s.routio_api_key if s.api_style == "routio" else s.api_key,
        metadata={
            "type": "string",
            "description": "Native: the key (Basic user name). Routio style: the API key "
            "integrators send as Bearer, shown once.",
        },
    )
    api_secret = fields.String(metadata={"description": "Native sources only; shown once."})

    @pre_dump
    def show_credential(self, created, **kwargs):
        """Dump a CreatedSource: the source with its secret, or its Routio API key."""
        native = created.source.api_style == "native"
        return _attach(
            created.source,
            api_secret=created.credential if native else None,
            routio_api_key=None if native else created.credential,
        )

    @post_dump
    def drop_missing_secret(self, data, **kwargs):
        """A Routio-style source has no API secret: leave the key out rather than null."""
        if data.get("api_secret") is None:
            data.pop("api_secret", None)
        return data


class SourceTokenSchema(Schema):
    id = fields.Function(token_id, metadata={"type": "string", "example": "tok_3f9a0c1d2e4b5a6c"})
    created_at = UtcDateTime()
    revoked_at = UtcDateTime(allow_none=True)


class NewTokenSchema(Schema):
    source = fields.Function(lambda new: new.source.public_id, metadata={"type": "string"})
    id = fields.Function(lambda new: token_id(new.row), metadata={"type": "string"})
    token = fields.String(metadata={"description": "Shown once."})


class RotatedSecretSchema(Schema):
    source = fields.Function(lambda new: new.source.public_id, metadata={"type": "string"})
    api_key = fields.Function(lambda new: new.source.api_key, metadata={"type": "string"})
    api_secret = fields.String(
        attribute="secret",
        metadata={
            "description": "Shown once; the old one stops working at once, or with an"
            " overlap when `previous_secret_expires_at` says."
        },
    )
    previous_secret_expires_at = UtcDateTime(
        metadata={"description": "Until when the old secret works too; null: no longer."}
    )


class RotateSecretSchema(Schema):
    overlap_hours = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=720),
        metadata={
            "description": "Keep the old secret working this long beside the new one (at"
            " most 30 days); 0 (the default): it stops at once.",
            "example": 24,
        },
    )


class RuleVersionDetailSchema(RuleVersionSchema):
    files = fields.Dict(keys=fields.String(), values=fields.String())


class PushedRulesSchema(RuleVersionSchema):
    warnings = fields.List(
        fields.Nested(DiagnosticSchema),
        metadata={"description": "What `sluice check` warns of; the version is stored anyway."},
    )

    @pre_dump
    def show_warnings(self, pushed, **kwargs):
        """Dump a PushedRules: the version with the rule set's warnings."""
        return _attach(pushed.version, warnings=list(pushed.warnings))


class RulesCheckSchema(Schema):
    """A checked RuleSet: what it defines and what it warns of."""

    categories = fields.Function(
        lambda ruleset: sorted(ruleset.categories), metadata={"type": "array"}
    )
    content_hash = fields.String()
    warnings = fields.List(fields.Nested(DiagnosticSchema))


class LeadExplanationSchema(Schema):
    """Why a lead went where it went; described in docs/analysts.md."""

    lead = fields.String()
    status = fields.String()
    category = fields.String()
    lead_type = fields.String(allow_none=True)
    received_at = fields.String()
    is_test = fields.Boolean()
    rule_set = fields.Dict(allow_none=True)
    lead_types = fields.List(fields.Dict())
    audits = fields.List(fields.Dict())
    dedupe = fields.List(fields.Dict())
    bidding = fields.List(fields.Dict())
    alter = fields.List(
        fields.List(fields.Dict()),
        metadata={"description": "Each alter stage's lines as recorded (absent: none ran)."},
    )
    outbound = fields.List(
        fields.Dict(),
        metadata={
            "description": "The timeline steps of the stages that called out (calls, the"
            " comparison of offers with why each lost, posted, enriched); absent: none."
        },
    )
    timeline = fields.List(fields.Dict())
    review = fields.Dict(
        metadata={"description": "The audit review, when there was one: decision, by, at, note."}
    )
    note = fields.String()


class DryRunResultSchema(Schema):
    """The comparison; every part is described in docs/analysts.md."""

    baseline = fields.Dict()
    proposed = fields.Dict()
    window = fields.Dict()
    leads = fields.Integer()
    changed = fields.Integer()
    categories = fields.Dict()
    lead_types = fields.Dict()
    uncategorized = fields.Dict()
    statuses = fields.Dict()
    audits = fields.List(fields.Dict())
    duplicates = fields.Dict()
    bids = fields.List(fields.Dict())
    revenue = fields.Dict()
    rules = fields.List(fields.Dict())
    baseline_replay = fields.Dict()
    sample = fields.List(fields.Dict())
    outbound = fields.Dict(
        metadata={
            "description": "The stages that call out (ping_post, post, enrich) on each side"
            " (`before`, `after`), each with the leads that reached it: a dry-run never calls"
            " a partner or a provider."
        }
    )
    counts_only = fields.Boolean()
    elapsed_seconds = fields.Float()


class PartnerSchema(Schema):
    """A partner or enrichment provider; its headers (credentials) shown by name only."""

    id = fields.String(attribute="public_id")
    name = fields.String(metadata={"description": "What rules name it by."})
    kind = fields.String(validate=validate.OneOf(("partner", "enrichment")))
    ping_url = fields.String(allow_none=True)
    post_url = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    method = fields.String()
    body_format = fields.String()
    field_map = fields.Dict(allow_none=True)
    template = fields.String(allow_none=True)
    headers = fields.Method(
        "dump_headers",
        metadata={"type": "array", "description": "The headers' names; values never shown."},
    )
    timeout_ms = fields.Integer()
    accepted_path = fields.String(allow_none=True)
    accepted_pattern = fields.String(allow_none=True)
    price_path = fields.String(allow_none=True)
    price_pattern = fields.String(allow_none=True)
    reason_path = fields.String(allow_none=True)
    reason_pattern = fields.String(allow_none=True)
    redirect_path = fields.String(allow_none=True)
    redirect_pattern = fields.String(allow_none=True)
    reference_path = fields.String(allow_none=True)
    reference_pattern = fields.String(allow_none=True)
    data_path = fields.String(allow_none=True)
    required_fields = fields.List(fields.String(), allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    def dump_headers(self, row) -> list[str]:
        return partner_header_names(row)


class LeadEligibilitySchema(Schema):
    """Whether one lead of a bulk reprocess may be reprocessed, and why not."""

    id = fields.String(metadata={"example": "lead_01j..."})
    status = fields.String(allow_none=True)
    eligible = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"description": "Why it may not be."})


class ReprocessBreakdownSchema(Schema):
    """The leads a bulk reprocess would take and those it would not, nothing done yet."""

    start = fields.String(data_key="from", metadata={"description": "The stage it starts at."})
    eligible = fields.Integer()
    ineligible = fields.Integer()
    reasons = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "How many leads are ineligible, by reason."},
    )
    leads = fields.List(fields.Nested(LeadEligibilitySchema))


class JobErrorSchema(Schema):
    lead = fields.String(allow_none=True)
    outcome = fields.String(metadata={"description": "skipped or failed"})
    error = fields.String(allow_none=True)


class JobSchema(Schema):
    """A background job (a bulk reprocess) and its progress."""

    id = fields.String(attribute="public_id", metadata={"example": "job_01j..."})
    kind = fields.String(metadata={"example": "reprocess"})
    status = fields.String(validate=validate.OneOf(["queued", "running", "done", "failed"]))
    created_by = fields.String()
    params = fields.Dict(metadata={"description": "from (the start stage), filters, ..."})
    total = fields.Integer()
    done = fields.Integer(metadata={"description": "Leads handled so far."})
    succeeded = fields.Integer()
    skipped = fields.Integer(metadata={"description": "No longer eligible at their turn."})
    failed = fields.Integer()
    errors = fields.List(
        fields.Nested(JobErrorSchema), metadata={"description": "The first skipped or failed."}
    )
    created_at = UtcDateTime()
    started_at = UtcDateTime()
    finished_at = UtcDateTime()


# The customer API (/api/customer): a buyer's own view, deliverable fields only.


def customer_delivery_url(public_id: str) -> str:
    """Return the customer API's address of a delivery."""
    return f"/api/customer/deliveries/{public_id}"


class CustomerMeSchema(Schema):
    """The customer a token acts for, and its wallet's balance."""

    id = fields.String(attribute="public_id", metadata={"example": "cus_01j..."})
    slug = fields.String()
    name = fields.String()
    balance = _cents("balance_cents")
    active = fields.Boolean(
        metadata={"description": "False: the tenant paused your buying; you still see this."}
    )
    return_window_days = fields.Integer(
        metadata={"description": "Days after a sale you may return its lead."}
    )
    return_limit_percent = fields.Integer(
        allow_none=True,
        metadata={"description": "At most this percent of a month's leads; null: no limit."},
    )
    claims_per_day = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The most marketplace leads you may claim a UTC day; null: no limit."
        },
    )
    created_at = UtcDateTime()


class CustomerLeadSchema(Schema):
    """A lead sold to you: public facts and the fields the rules deliver, nothing more."""

    id = fields.Function(lambda c: c.payload["id"], metadata={"type": "string"})
    category = fields.Function(lambda c: c.payload["category"], metadata={"type": "string"})
    lead_type = fields.Function(
        lambda c: c.payload["lead_type"], metadata={"type": ["string", "null"]}
    )
    status = fields.Function(
        lambda c: c.lead.status, metadata={"type": "string", "enum": list(STATUSES)}
    )
    price = fields.Function(
        lambda c: c.payload["price"],
        metadata={"type": "number", "description": "What you paid for it."},
    )
    is_test = fields.Function(
        lambda c: c.lead.is_test,
        metadata={"type": "boolean", "description": "A test lead: nothing was charged."},
    )
    received_at = fields.Function(lambda c: c.payload["received_at"], metadata={"type": "string"})
    assigned_at = fields.Function(
        lambda c: format_datetime(aware(c.lead.assigned_at)) if c.lead.assigned_at else None,
        metadata={"type": ["string", "null"], "description": "When it was sold to you."},
    )
    deleted = fields.Function(
        lambda c: c.lead.deleted_at is not None,
        metadata={"type": "boolean", "description": "Its personal data was erased: no fields."},
    )
    fields_ = fields.Function(
        lambda c: c.fields,
        data_key="fields",
        metadata={"type": "object", "description": "The deliverable fields (empty if deleted)."},
    )


class CustomerDeliverySchema(DeliverySummarySchema):
    """A delivery to one of your destinations."""

    class Meta:
        exclude = ("customer",)

    url = fields.Function(
        lambda d: customer_delivery_url(d.public_id),
        metadata={"type": "string", "description": "This delivery and its attempts."},
    )


class CustomerLeadDeliverySchema(CustomerDeliverySchema):
    """A lead's delivery to one of your destinations, with its attempts."""

    history = fields.List(
        fields.Nested(DeliveryAttemptSchema),
        metadata={"description": "Every attempt, oldest first."},
    )


class CustomerDeliveryDetailSchema(CustomerLeadDeliverySchema):
    payload = fields.Raw(metadata={"description": "What was sent (the body's data)."})


class CustomerLeadDetailSchema(CustomerLeadSchema):
    deliveries = fields.List(
        fields.Nested(CustomerLeadDeliverySchema),
        metadata={"description": "Its deliveries to your destinations, with their attempts."},
    )


class WalletEntrySchema(Schema):
    """One movement of your wallet: a deposit (+), a charge for a lead (-), a credit (+)."""

    kind = fields.String(metadata={"example": "charge"})
    amount = _cents("amount_cents", metadata={"description": "Signed: a charge is negative."})
    balance_after = _cents("balance_after_cents")
    lead = fields.Function(
        lambda e: e.lead.public_id if e.lead_id is not None else None,
        metadata={"type": ["string", "null"], "description": "The lead charged or credited."},
    )
    note = fields.String()
    created_at = UtcDateTime()


class WalletSchema(Schema):
    balance = fields.Function(
        lambda w: as_number(w.customer.balance_cents), metadata={"type": "number"}
    )
    entries = fields.List(
        fields.Nested(WalletEntrySchema), metadata={"description": "Newest first."}
    )
    total = fields.Integer(metadata={"description": "Entries in all, every page together."})


class SourceAuctionSchema(Schema):
    """A reverse auction as sources see it: its criteria, never the want's other fields."""

    id = fields.String(attribute="public_id")
    category = fields.String()
    criteria = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Fields a filling lead must equal, after normalization."},
    )
    price = _cents("price_cents", metadata={"description": "Paid per lead that fills it."})
    fills_wanted = fields.Integer()
    fills_left = fields.Method("_fills_left")
    expires_at = UtcDateTime()

    def _fills_left(self, auction) -> int:
        return max(auction.fills_wanted - auction.fills, 0)


class AuctionSchema(SourceAuctionSchema):
    """A reverse auction as its tenant sees it: the want's row, buyer, state and history."""

    customer = fields.Function(lambda auction: auction.customer.public_id)
    status = fields.String()
    fills = fields.Integer()
    data = fields.Dict(metadata={"description": "The imported row, normalized; {} once erased."})
    lead_import = fields.Function(
        lambda auction: auction.lead_import.public_id if auction.lead_import_id else None,
        data_key="import",
    )
    line = fields.Integer(allow_none=True)
    created_by = fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    erased_at = UtcDateTime()


class RowErrorSchema(Schema):
    line = fields.Integer(metadata={"description": "The file's line the row starts on."})
    field = fields.String(metadata={"description": "The category's field; empty: the row."})
    message = fields.String()


class ImportReportSchema(Schema):
    id = fields.String(allow_none=True, metadata={"description": "None for a dry run."})
    dry_run = fields.Boolean()
    file_name = fields.String()
    category = fields.String()
    customer = fields.String()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    unmapped = fields.List(fields.String())
    criteria = fields.List(fields.String())
    rows = fields.Integer()
    imported = fields.Integer()
    auctions = fields.List(fields.Nested(AuctionSchema))
    errors = fields.List(fields.Nested(RowErrorSchema))


class LeadImportSchema(Schema):
    """An import's record: who imported which file for whom, and what came of its rows."""

    id = fields.String(attribute="public_id")
    customer = fields.Function(lambda batch: batch.customer.public_id)
    category = fields.String()
    file_name = fields.String()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    criteria = fields.List(fields.String())
    rows = fields.Integer()
    imported = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    created_by = fields.String()
    created_at = UtcDateTime()
