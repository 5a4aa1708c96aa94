"""The tables. Times are naive UTC; money is integer cents; lead data is JSON."""

from __future__ import annotations

import uuid

import peewee as pw

from app.domain.clock import utcnow
from app.domain.review import Review
from app.domain.status import Status
from app.store.db import database, json_text  # JSON written by orjson


class BaseModel(pw.Model):
    # For the type checker: peewee adds the id field and each foreign key's `<name>_id`.
    id: int

    class Meta:
        database = database
        legacy_table_names = False


class Tenant(BaseModel):
    code = pw.CharField(max_length=8, unique=True)
    slug = pw.CharField(max_length=64, unique=True)
    name = pw.CharField(max_length=200)
    created_at = pw.DateTimeField(default=utcnow)
    # The reasons a return may give (app/domain/returns.py); NULL: DEFAULT_REASONS.
    return_reasons = pw.JSONField(dumps=json_text, null=True)
    # The most leads routed in a calendar month (UTC), set by the operator; None: no limit.
    # Leads over it are withheld (docs/leads.md, "Withheld leads").
    monthly_lead_threshold = pw.IntegerField(null=True)


class Customer(BaseModel):
    tenant_id: int
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="customers", on_delete="CASCADE")
    slug = pw.CharField(max_length=64)
    name = pw.CharField(max_length=200)
    balance_cents = pw.BigIntegerField(default=0)
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    # Its return policy: days after a sale, and a percent of the month's leads (NULL: none).
    return_window_days = pw.IntegerField(default=7, constraints=[pw.SQL("DEFAULT 7")])
    return_limit_percent = pw.IntegerField(
        null=True, default=15, constraints=[pw.SQL("DEFAULT 15")]
    )
    claims_per_day = pw.IntegerField(null=True)  # marketplace claims a day; NULL: no limit

    class Meta:
        indexes = ((("tenant", "slug"), True),)
        constraints = [pw.Check("balance_cents >= 0")]


class User(BaseModel):
    tenant_id: int
    customer_id: int | None
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="users", on_delete="CASCADE")
    email = pw.CharField(max_length=254)
    role = pw.CharField(max_length=20)
    # A customer's own user (role `customer`, the customer API) acts for this customer alone.
    customer = pw.ForeignKeyField(Customer, null=True, backref="users", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tenant", "email"), True),)


class RuleSetVersion(BaseModel):
    tenant_id: int
    tenant = pw.ForeignKeyField(Tenant, backref="rule_versions", on_delete="CASCADE")
    number = pw.IntegerField()
    files = pw.JSONField(dumps=json_text)  # {file name: text}
    content_hash = pw.CharField(max_length=64)
    created_at = pw.DateTimeField(default=utcnow)
    created_by = pw.CharField(max_length=254)
    active = pw.BooleanField(default=False)
    activated_at = pw.DateTimeField(null=True)
    activated_by = pw.CharField(max_length=254, null=True)

    class Meta:
        indexes = ((("tenant", "number"), True),)


#: A version's fields but its files (the rules' text), as the intake reads it on every request.
VERSION_FIELDS = tuple(name for name in RuleSetVersion._meta.sorted_field_names if name != "files")


class Source(BaseModel):
    tenant_id: int
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="sources", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    category = pw.CharField(max_length=64)
    api_key = pw.CharField(max_length=64, unique=True)
    secret_hash = pw.CharField(max_length=64)
    test_mode = pw.BooleanField(default=False)
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    # "native" (Basic or sbt_ bearer tokens, fixed category) or "routio" (srk_ keys as
    # bearer, seller and category in the request; category "*" = any with a plan).
    api_style = pw.CharField(
        max_length=16, default="native", constraints=[pw.SQL("DEFAULT 'native'")]
    )
    rate_limit = pw.IntegerField(null=True)  # requests per minute; NULL: SLUICE_RATE_LIMIT
    # After a rotation with an overlap, the old secret opens the intake too until it expires.
    previous_secret_hash = pw.CharField(max_length=64, null=True)
    previous_secret_expires_at = pw.DateTimeField(null=True)
    # Ping-post (docs/ping-post.md): how many bids a ping's answer shows, how long a ping
    # stays postable, and whether the source is the tenant's own (may post a bid_id alone).
    ping_bids_shown = pw.IntegerField(default=1, constraints=[pw.SQL("DEFAULT 1")])
    ping_ttl_seconds = pw.IntegerField(default=300, constraints=[pw.SQL("DEFAULT 300")])
    internal = pw.BooleanField(default=False, constraints=[pw.SQL("DEFAULT false")])


class SourceToken(BaseModel):
    source_id: int
    source = pw.ForeignKeyField(Source, backref="tokens", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = pw.DateTimeField(default=utcnow)
    revoked_at = pw.DateTimeField(null=True)


class Post(BaseModel):
    """One submission to the intake API, accepted or rejected."""

    tenant_id: int
    source_id: int
    lead: Lead | None  # set by the services that show a post
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="posts", on_delete="CASCADE")
    source = pw.ForeignKeyField(Source, backref="posts", on_delete="CASCADE")
    received_at = pw.DateTimeField(default=utcnow, index=True)
    request_id = pw.CharField(max_length=64)
    payload = pw.JSONField(dumps=json_text)
    headers = pw.JSONField(dumps=json_text)
    accepted = pw.BooleanField()
    status_code = pw.IntegerField()
    errors = pw.JSONField(dumps=json_text, null=True)

    class Meta:
        indexes = ((("tenant", "received_at"), False),)


class Ping(BaseModel):
    """One ping to the intake API (the lead without the person's identity) and its answer:
    the ping log. Written in one statement; marked used by the post that names it."""

    tenant_id: int
    source_id: int
    lead: Lead | None  # set by the service that shows a ping
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="pings", on_delete="CASCADE")
    source = pw.ForeignKeyField(Source, backref="pings", on_delete="CASCADE")
    received_at = pw.DateTimeField(default=utcnow)
    request_id = pw.CharField(max_length=64)
    category = pw.CharField(max_length=64)
    payload = pw.JSONField(dumps=json_text)  # as received, identity fields left out
    data = pw.JSONField(dumps=json_text, null=True)  # normalized values (accepted or not)
    status = pw.CharField(max_length=16)  # accepted | rejected
    status_code = pw.IntegerField()  # of the ping's answer
    reason = pw.TextField(null=True)
    errors = pw.JSONField(dumps=json_text, null=True)  # a refused ping's {field: [messages]}
    lead_type = pw.CharField(max_length=64, null=True)
    bids = pw.JSONField(dumps=json_text)  # [{bid_id, price_cents}] best first
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)  # posted: set once, by the post's transaction
    used_by = pw.CharField(max_length=31, null=True)  # the public id of the posted lead

    class Meta:
        indexes = ((("tenant", "received_at"), False),)


class Lead(BaseModel):
    tenant_id: int
    source_id: int
    post_id: int | None
    rule_version_id: int | None
    customer_id: int | None
    ping_id: int | None
    timeline: list[LeadEvent]  # set by the services that show a lead
    delivery_list: list[Delivery]  # set by the services that show a lead
    review: Review | None  # set by the services that show or list leads
    ping_ref: str | None  # its ping's public id, set by the services that list leads
    uuid = pw.UUIDField(unique=True, default=uuid.uuid4)
    public_id = pw.CharField(max_length=31, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="leads", on_delete="CASCADE")
    source = pw.ForeignKeyField(Source, backref="leads", on_delete="CASCADE")
    post = pw.ForeignKeyField(Post, null=True, backref="leads", on_delete="SET NULL")
    rule_version = pw.ForeignKeyField(RuleSetVersion, null=True, on_delete="SET NULL")
    category = pw.CharField(max_length=64)
    lead_type = pw.CharField(max_length=64, null=True)
    status = pw.CharField(max_length=32, default=Status.PENDING)
    data = pw.JSONField(dumps=json_text)  # normalized values, exactly as the rules saw them
    price_cents = pw.BigIntegerField(default=0)
    customer = pw.ForeignKeyField(Customer, null=True, backref="leads", on_delete="SET NULL")
    bid_id = pw.CharField(max_length=64, null=True)
    partner_id = pw.CharField(max_length=100, null=True)
    is_test = pw.BooleanField(default=False)
    received_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    assigned_at = pw.DateTimeField(null=True)
    deleted_at = pw.DateTimeField(null=True)  # its personal data erased; history kept
    offer_cents = pw.BigIntegerField(null=True)  # on the marketplace: its claim price
    ping = pw.ForeignKeyField(Ping, null=True, backref="leads", on_delete="SET NULL")
    posted_partner = pw.CharField(max_length=100, null=True)  # posted: the partner that took it
    enriched = pw.JSONField(dumps=json_text, null=True)  # enrich stages' answers, by provider

    class Meta:
        indexes = (
            (("tenant", "received_at"), False),
            (("tenant", "status"), False),
        )


class LeadEvent(BaseModel):
    """One entry of a lead's timeline."""

    lead_id: int
    lead = pw.ForeignKeyField(Lead, backref="events", on_delete="CASCADE")
    at = pw.DateTimeField(default=utcnow)
    kind = pw.CharField(max_length=40)
    message = pw.TextField()
    details = pw.JSONField(dumps=json_text, null=True)


class WalletEntry(BaseModel):
    """One movement of a customer's wallet: a deposit (+), a charge for a lead (-) or a
    credit of a returned lead (+)."""

    customer_id: int
    lead_id: int | None
    customer = pw.ForeignKeyField(Customer, backref="wallet_entries", on_delete="CASCADE")
    kind = pw.CharField(max_length=20)  # deposit | charge | credit (a returned lead's)
    amount_cents = pw.BigIntegerField()
    balance_after_cents = pw.BigIntegerField()
    lead = pw.ForeignKeyField(Lead, null=True, on_delete="SET NULL")
    note = pw.CharField(max_length=200, default="")
    created_at = pw.DateTimeField(default=utcnow)


class DedupeKey(BaseModel):
    """The last distributed lead with a dedupe key; its row is the lock for that key."""

    tenant_id: int
    lead_id: int | None
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE")
    key_hash = pw.CharField(max_length=64)
    last_seen_at = pw.DateTimeField(null=True)
    lead = pw.ForeignKeyField(Lead, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("tenant", "key_hash"), True),)


class BidCounter(BaseModel):
    """Leads won and cents spent by a bid in one cap/budget period."""

    tenant_id: int
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE")
    bid_id = pw.CharField(max_length=64)
    period = pw.CharField(max_length=8)
    period_start = pw.DateTimeField()
    leads = pw.IntegerField(default=0)
    spent_cents = pw.BigIntegerField(default=0)

    class Meta:
        indexes = ((("tenant", "bid_id", "period", "period_start"), True),)


class LeadUsage(BaseModel):
    """Leads counted against a tenant's monthly threshold in one calendar month (UTC)."""

    tenant_id: int
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE")
    month = pw.DateField()  # the month's first day
    leads = pw.IntegerField(default=0)

    class Meta:
        table_name = "lead_usage"
        indexes = ((("tenant", "month"), True),)


class BidState(BaseModel):
    """When a bid last won, for least-recently-won ties and round robin."""

    tenant_id: int
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE")
    bid_id = pw.CharField(max_length=64)
    last_won_at = pw.DateTimeField()

    class Meta:
        indexes = ((("tenant", "bid_id"), True),)


class IdempotencyKey(BaseModel):
    """A source's Idempotency-Key: the request it first came with, then the answer given."""

    source_id: int
    source = pw.ForeignKeyField(Source, on_delete="CASCADE")
    key = pw.CharField(max_length=255)
    fingerprint = pw.CharField(max_length=64)  # SHA-256 of the canonical request
    request_id = pw.CharField(max_length=64)  # of the request that holds or answered it
    owner = pw.CharField(max_length=32)  # random token of that request's claim
    state = pw.CharField(max_length=16)  # in_progress | done
    status_code = pw.IntegerField(null=True)
    content_type = pw.CharField(max_length=100, null=True)
    body = pw.BlobField(null=True)  # the answer, byte for byte
    created_at = pw.DateTimeField(default=utcnow)
    locked_at = pw.DateTimeField(default=utcnow)  # when its current request started
    expires_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = ((("source", "key"), True),)


class LeadProjection(BaseModel):
    """A tenant's stored lead values kept in typed columns of a table of their own, for
    counting conditions over many leads (PostgreSQL; app/analysis/projection.py)."""

    tenant_id: int
    tenant = pw.ForeignKeyField(Tenant, primary_key=True, on_delete="CASCADE")
    table = pw.CharField(max_length=63)
    facts = pw.JSONField(dumps=json_text)  # {column: [method, *arguments]} (app.dsl.sql.RowValues)
    refreshed_at = pw.DateTimeField()  # the database's clock


class DeliveryDestination(BaseModel):
    """Where deliveries go: a customer's destination (the leads it buys) or, without a
    customer, a tenant's webhook (the events it subscribes to); secrets encrypted
    (app/store/crypto.py)."""

    tenant_id: int
    customer_id: int | None
    revealed_secret: str | None  # set once, by the services that create or rotate a secret
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="destinations", on_delete="CASCADE")
    customer = pw.ForeignKeyField(Customer, null=True, backref="destinations", on_delete="CASCADE")
    events = pw.JSONField(dumps=json_text, null=True)  # a webhook's events; NULL: a customer's
    name = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=10)  # http | email
    url = pw.TextField(null=True)
    method = pw.CharField(max_length=8, default="POST")
    body_format = pw.CharField(max_length=8, default="json")
    headers_encrypted = pw.TextField(null=True)  # Fernet of a JSON object {name: value}
    template = pw.TextField(null=True)
    success_field = pw.CharField(max_length=200, null=True)
    success_value = pw.JSONField(dumps=json_text, null=True)
    success_pattern = pw.TextField(null=True)
    secret_encrypted = pw.TextField(null=True)  # whsec_..., Fernet
    previous_secret_encrypted = pw.TextField(null=True)  # signs too until it expires
    previous_secret_expires_at = pw.DateTimeField(null=True)
    retry_schedule = pw.JSONField(dumps=json_text, null=True)  # seconds; NULL: the default
    addresses = pw.JSONField(dumps=json_text, null=True)  # email
    active = pw.BooleanField(default=True)
    paused_reason = pw.TextField(null=True)
    paused_at = pw.DateTimeField(null=True)
    failures = pw.IntegerField(default=0)  # failed attempts since its last delivered one
    failing_since = pw.DateTimeField(null=True)  # the first of those
    removed_at = pw.DateTimeField(null=True)  # removed: kept for its deliveries' history
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("customer", "created_at"), False),
            (("tenant", "created_at"), False),
        )


class DeliveryWorker(BaseModel):
    """A running (or gone) `sluice worker`: its id marks the deliveries it claims."""

    host = pw.CharField(max_length=200)
    pid = pw.IntegerField()
    started_at = pw.DateTimeField(default=utcnow)
    seen_at = pw.DateTimeField(default=utcnow)  # its last claim or wait
    stopped_at = pw.DateTimeField(null=True)


class Delivery(BaseModel):
    """One message to one destination, written in the transaction of what it tells (a sale,
    a lead's outcome) and sent by a worker until delivered or dead (app/store/deliveries.py).
    Its public id is the `webhook-id`: the same on every attempt."""

    tenant_id: int
    destination_id: int
    lead_id: int | None
    claimed_by_id: int | None
    history: list[DeliveryAttempt]  # its attempts, set by the store when one is shown
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    destination = pw.ForeignKeyField(DeliveryDestination, backref="deliveries", on_delete="CASCADE")
    lead = pw.ForeignKeyField(Lead, null=True, backref="deliveries", on_delete="CASCADE")
    event = pw.CharField(max_length=40)
    payload = pw.JSONField(dumps=json_text)
    status = pw.CharField(max_length=16, default="pending")  # app.domain.delivery.DELIVERY_STATUSES
    attempts = pw.IntegerField(default=0)  # made in all
    tries = pw.IntegerField(default=0)  # made in the current round of the schedule
    next_attempt_at = pw.DateTimeField()
    claimed_by = pw.ForeignKeyField(DeliveryWorker, null=True, on_delete="SET NULL", index=False)
    claimed_until = pw.DateTimeField(null=True)
    last_status_code = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    delivered_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("tenant", "status", "created_at"), False),
        )


class DeliveryAttempt(BaseModel):
    """One attempt of a delivery: when, how long, what came back."""

    delivery_id: int
    delivery = pw.ForeignKeyField(Delivery, backref="attempt_rows", on_delete="CASCADE")
    number = pw.IntegerField()
    worker = pw.IntegerField(null=True)
    started_at = pw.DateTimeField()
    duration_ms = pw.FloatField()
    outcome = pw.CharField(max_length=10)  # delivered | retry | failed
    status_code = pw.IntegerField(null=True)
    answer = pw.TextField(default="")  # the first 4 KB
    error = pw.TextField(null=True)

    class Meta:
        indexes = ((("delivery", "number"), False),)


class Job(BaseModel):
    """A background job of a tenant (kind `reprocess`), run by the delivery workers
    (app/store/jobs.py): its leads are handled in order, `done` of them so far."""

    tenant_id: int
    claimed_by_id: int | None
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="jobs", on_delete="CASCADE")
    kind = pw.CharField(max_length=32)
    created_by = pw.CharField(max_length=200)
    params = pw.JSONField(dumps=json_text)  # the start stage, filters, test price...
    lead_ids = pw.JSONField(dumps=json_text)  # the leads eligible at the start, in order
    total = pw.IntegerField()
    done = pw.IntegerField(default=0)  # lead_ids[:done] were handled
    succeeded = pw.IntegerField(default=0)
    skipped = pw.IntegerField(default=0)  # no longer eligible at their turn
    failed = pw.IntegerField(default=0)
    errors = pw.JSONField(dumps=json_text, default=list)  # [{lead, error}], the first few
    status = pw.CharField(max_length=16, default="queued")  # app.domain.reprocess
    claimed_by = pw.ForeignKeyField(DeliveryWorker, null=True, on_delete="SET NULL", index=False)
    claimed_until = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    started_at = pw.DateTimeField(null=True)
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("status", "created_at"), False),
            (("tenant", "created_at"), False),
        )


class LeadImport(BaseModel):
    """One CSV import on behalf of a customer: who, when, what file, what came of its rows."""

    tenant_id: int
    customer_id: int
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE")
    customer = pw.ForeignKeyField(Customer, on_delete="CASCADE")
    category = pw.CharField(max_length=64)
    file_name = pw.CharField(max_length=255)
    mapping = pw.JSONField(dumps=json_text)  # {column: field}
    criteria = pw.JSONField(dumps=json_text)  # [field, ...]
    rows = pw.IntegerField()  # data rows in the file
    imported = pw.IntegerField()  # auctions created
    errors = pw.JSONField(dumps=json_text)  # [{line, field, message}, ...]
    created_by = pw.CharField(max_length=254)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tenant", "created_at"), False),)


class Auction(BaseModel):
    """A reverse auction: a customer's want ("a lead like this one") that sources fill, each
    fill a lead sold to the customer at the auction's price (app/store/auctions.py)."""

    tenant_id: int
    customer_id: int
    lead_import_id: int | None
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, on_delete="CASCADE")
    customer = pw.ForeignKeyField(Customer, backref="auctions", on_delete="CASCADE")
    lead_import = pw.ForeignKeyField(
        LeadImport, null=True, backref="auctions", on_delete="SET NULL"
    )
    category = pw.CharField(max_length=64)
    line = pw.IntegerField(null=True)  # the row's line in the imported file
    data = pw.JSONField(dumps=json_text)  # the row, normalized as the intake would; {} erased
    criteria = pw.JSONField(dumps=json_text)  # {field: normalized value} a fill must equal
    price_cents = pw.BigIntegerField()  # paid per fill
    fills_wanted = pw.IntegerField(default=1)
    fills = pw.IntegerField(default=0)
    status = pw.CharField(max_length=16, default="open")  # app.domain.wants.AUCTION_STATUSES
    expires_at = pw.DateTimeField()
    created_by = pw.CharField(max_length=254)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    erased_at = pw.DateTimeField(null=True)  # deleted: its data erased, its history kept

    class Meta:
        indexes = (
            (("tenant", "category", "status", "expires_at"), False),
            (("tenant", "created_at"), False),
        )
        constraints = [pw.Check("fills >= 0 AND fills <= fills_wanted")]


class Partner(BaseModel):
    """A tenant's partner (another platform or buyer pinged and posted to) or enrichment
    provider, named in rules by `name`; its headers (credentials) encrypted
    (app/store/crypto.py)."""

    tenant_id: int
    public_id = pw.CharField(max_length=40, unique=True)
    tenant = pw.ForeignKeyField(Tenant, backref="partners", on_delete="CASCADE")
    name = pw.CharField(max_length=64)  # a rules identifier, unique among the kept ones
    kind = pw.CharField(max_length=12)  # partner | enrichment
    ping_url = pw.TextField(null=True)  # a partner without one takes direct posts only
    post_url = pw.TextField(null=True)  # a partner's
    url = pw.TextField(null=True)  # a provider's
    method = pw.CharField(max_length=8, default="POST")
    body_format = pw.CharField(max_length=8, default="json")
    field_map = pw.JSONField(dumps=json_text, null=True)  # {their name: our field | {value}}
    template = pw.TextField(null=True)
    headers_encrypted = pw.TextField(null=True)  # Fernet of a JSON object {name: value}
    timeout_ms = pw.IntegerField(default=2000)
    # How to read an answer: a JMESPath or a regular expression for each (app/delivery/partners.py).
    accepted_path = pw.TextField(null=True)
    accepted_pattern = pw.TextField(null=True)
    price_path = pw.TextField(null=True)
    price_pattern = pw.TextField(null=True)
    reason_path = pw.TextField(null=True)
    reason_pattern = pw.TextField(null=True)
    redirect_path = pw.TextField(null=True)
    redirect_pattern = pw.TextField(null=True)
    reference_path = pw.TextField(null=True)
    reference_pattern = pw.TextField(null=True)
    data_path = pw.TextField(null=True)  # a provider's: the object to take (NULL: the answer)
    required_fields = pw.JSONField(dumps=json_text, null=True)  # a provider's
    removed_at = pw.DateTimeField(null=True)  # removed: kept for the timelines naming it
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


# A name is unique in its tenant among the partners not removed: rules name them by it.
Partner.add_index(
    Partner.index(Partner.tenant, Partner.name, unique=True, where=Partner.removed_at.is_null())
)


MODELS = (
    Tenant,
    Customer,
    User,
    RuleSetVersion,
    Source,
    SourceToken,
    Post,
    Ping,
    Lead,
    LeadEvent,
    WalletEntry,
    DedupeKey,
    BidCounter,
    LeadUsage,
    BidState,
    IdempotencyKey,
    LeadProjection,
    DeliveryDestination,
    DeliveryWorker,
    Delivery,
    DeliveryAttempt,
    LeadImport,
    Auction,
    Job,
    Partner,
)
