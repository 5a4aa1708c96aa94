"""Sources: creation, credentials and authentication of intake requests."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.errors import InvalidError, NotFoundError
from app.store.db import columns, database, select_rows
from app.store.models import VERSION_FIELDS, RuleSetVersion, Source, SourceToken, Tenant
from app.store.secrets import hash_secret, new_secret, public_id, secret_matches

API_STYLES = ("native", "routio")
ANY_CATEGORY = "*"  # a Routio-style source that may post to any category with a plan
MAX_RATE_LIMIT = 100_000
#: Bearer credential prefix of each API style: a credential only works in its own style.
TOKEN_PREFIXES = {"native": "sbt", "routio": "srk"}
_UNCHANGED: Any = object()

# Compared against when the key is unknown, so both paths cost one hash and one compare.
_NO_SECRET_HASH = hash_secret("no such source")


def create_source(
    tenant: Tenant,
    name: str,
    category: str | None,
    test_mode: bool = False,
    *,
    api_style: str = "native",
    rate_limit: int | None = None,
):
    """Create a source; return (source, its credential: API secret, or Routio API key).

    A native source posts to one category and authenticates with its API key and secret
    (or bearer tokens). A Routio-style source names seller and category in each request and
    authenticates with `Authorization: Bearer <Routio API key>`; without a category it may
    post to any category that has a plan in the active rules.
    """
    name = name.strip()
    if not name:
        raise InvalidError("a source needs a name")
    if api_style not in API_STYLES:
        raise InvalidError(f"unknown API style {api_style!r}: one of {', '.join(API_STYLES)}")
    category = (category or "").strip()
    if not category:
        if api_style == "native":
            raise InvalidError("a source needs a category")
        category = ANY_CATEGORY
    check_rate_limit(rate_limit)
    secret = new_secret("sks")
    with database.atomic():
        source = Source.create(
            public_id=public_id("src"),
            tenant=tenant,
            name=name,
            category=category,
            api_key=new_secret("skk")[:36],
            secret_hash=hash_secret(secret),
            test_mode=test_mode,
            api_style=api_style,
            rate_limit=rate_limit,
        )
        if api_style == "routio":
            # Its only credential is a bearer key; the secret above is never shown.
            _, secret = create_token(source)
    return source, secret


MAX_PING_BIDS_SHOWN = 20
MAX_PING_TTL_SECONDS = 86_400


def check_rate_limit(rate_limit: int | None) -> None:
    """Refuse a per-source rate limit that is not a whole number of requests per minute."""
    if rate_limit is not None and not (1 <= rate_limit <= MAX_RATE_LIMIT):
        raise InvalidError(f"a rate limit is 1 to {MAX_RATE_LIMIT} requests per minute")


def find_source(ref: str, tenant: Tenant | None = None) -> Source:
    """Return the source with this public id or API key (in the tenant, when given)."""
    query = Source.select(Source, Tenant).join(Tenant)
    query = query.where((Source.public_id == ref) | (Source.api_key == ref))
    if tenant is not None:
        query = query.where(Source.tenant == tenant)
    source = query.first()
    if source is None:
        raise NotFoundError(f"no source {ref!r}")
    return source


def list_sources(tenant: Tenant) -> list[Source]:
    """Return the tenant's sources, oldest first."""
    return list(Source.select().where(Source.tenant == tenant).order_by(Source.id))


def update_source(
    source: Source,
    *,
    test_mode: bool | None = None,
    active: bool | None = None,
    rate_limit: int | None = _UNCHANGED,
    ping_bids_shown: int | None = None,
    ping_ttl_seconds: int | None = None,
    internal: bool | None = None,
) -> Source:
    """Switch a source's test mode or active flag, or set its rate limit (None: default)
    or its ping settings."""
    if ping_bids_shown is not None:
        if not 1 <= ping_bids_shown <= MAX_PING_BIDS_SHOWN:
            raise InvalidError(
                f"ping_bids_shown is 1 to {MAX_PING_BIDS_SHOWN}",
                {"ping_bids_shown": ["Out of range."]},
            )
        source.ping_bids_shown = ping_bids_shown
    if ping_ttl_seconds is not None:
        if not 1 <= ping_ttl_seconds <= MAX_PING_TTL_SECONDS:
            raise InvalidError(
                f"ping_ttl_seconds is 1 to {MAX_PING_TTL_SECONDS}",
                {"ping_ttl_seconds": ["Out of range."]},
            )
        source.ping_ttl_seconds = ping_ttl_seconds
    if internal is not None:
        source.internal = internal
    if test_mode is not None:
        source.test_mode = test_mode
    if active is not None:
        source.active = active
    if rate_limit is not _UNCHANGED:
        check_rate_limit(rate_limit)
        source.rate_limit = rate_limit
    source.save()
    return source


def create_token(source: Source) -> tuple[SourceToken, str]:
    """Create a bearer token (a Routio API key for Routio-style sources); return (row, token)."""
    token = new_secret(TOKEN_PREFIXES[source.api_style])
    row = SourceToken.create(source=source, token_hash=hash_secret(token))
    return row, token


#: A bearer token's id: `tok_` and the start of its SHA-256, which says nothing of the token.
TOKEN_ID_PREFIX = "tok_"
_TOKEN_ID_HEX = 16


def token_id(row: SourceToken) -> str:
    """Return the id a token is shown and revoked by."""
    return TOKEN_ID_PREFIX + row.token_hash[:_TOKEN_ID_HEX]


def list_tokens(source: Source) -> list[SourceToken]:
    """Return the source's bearer tokens, revoked ones included, oldest first."""
    return list(SourceToken.select().where(SourceToken.source == source).order_by(SourceToken.id))


def revoke_token(source: Source, ref: str) -> SourceToken:
    """Revoke one bearer token of the source by its id; return it (revoking twice is a no-op)."""
    digits = ref.removeprefix(TOKEN_ID_PREFIX).lower()
    if len(digits) != _TOKEN_ID_HEX or not all(c in "0123456789abcdef" for c in digits):
        raise NotFoundError(f"no token {ref!r}")
    row = (
        SourceToken.select()
        .where((SourceToken.source == source) & SourceToken.token_hash.startswith(digits))
        .first()
    )
    if row is None:
        raise NotFoundError(f"no token {ref!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        SourceToken.update(revoked_at=row.revoked_at).where(SourceToken.id == row.id).execute()
    return row


def revoke_tokens(source: Source) -> int:
    """Revoke every bearer token of the source; return how many."""
    with database.atomic():
        return (
            SourceToken.update(revoked_at=utcnow())
            .where((SourceToken.source == source) & SourceToken.revoked_at.is_null())
            .execute()
        )


_SOURCE_FIELDS = tuple(Source._meta.sorted_field_names)
_TENANT_FIELDS = tuple(Tenant._meta.sorted_field_names)
_TOKEN_FIELDS = tuple(SourceToken._meta.sorted_field_names)


# Authentication reads the source with its tenant and the tenant's active rule set version
# (without its files): the intake needs all three, and one query is one round trip.
_WITH_TENANT_AND_RULES = (
    f"{columns('s', Source, _SOURCE_FIELDS)}, {columns('t', Tenant, _TENANT_FIELDS)},"
    f" {columns('v', RuleSetVersion, VERSION_FIELDS)} FROM source s"
    " JOIN tenant t ON t.id = s.tenant_id"
    " LEFT JOIN rule_set_version v ON v.tenant_id = s.tenant_id AND v.active"
)
_LAYOUT = [(Source, _SOURCE_FIELDS), (Tenant, _TENANT_FIELDS), (RuleSetVersion, VERSION_FIELDS)]


def authenticate_basic(api_key: str, secret: str) -> Source | None:
    """Return the active native source with this key and secret, or None.

    The source comes with its tenant and `source.active_rules`, the tenant's active rule set
    version as `app.store.rules.ruleset_of` takes it.
    """
    rows = select_rows(
        _LAYOUT,
        f"SELECT {_WITH_TENANT_AND_RULES}"
        " WHERE s.api_key = %s AND s.active AND s.api_style = 'native'",
        [api_key],
    )
    source = _loaded(*rows[0]) if rows else None
    stored = source.secret_hash if source is not None else _NO_SECRET_HASH
    # The previous secret (a rotation's overlap) is compared on every path, so the timing
    # tells neither whether the key exists nor whether it has an overlapping secret.
    previous = _NO_SECRET_HASH
    if source is not None and source.previous_secret_hash is not None:
        expires = source.previous_secret_expires_at
        if expires is not None and expires > utcnow():
            previous = source.previous_secret_hash
    matches = secret_matches(secret, stored)
    matches_previous = secret_matches(secret, previous)
    return source if source is not None and (matches or matches_previous) else None


def authenticate_bearer(token: str) -> Source | None:
    """Return the active source holding this unrevoked bearer token, or None.

    The token is looked up by its SHA-256 (unique across every source and style), so the
    answer is unambiguous and its timing says nothing about the token. A native token
    (`sbt_`) only opens a native source, a Routio API key (`srk_`) only a Routio one.
    """
    digest = hash_secret(token)
    rows = select_rows(
        [(SourceToken, _TOKEN_FIELDS), *_LAYOUT],
        f"SELECT {columns('k', SourceToken, _TOKEN_FIELDS)}, {_WITH_TENANT_AND_RULES}"
        " JOIN source_token k ON k.source_id = s.id"
        " WHERE k.token_hash = %s AND k.revoked_at IS NULL AND s.active",
        [digest],
    )
    if not rows:
        return None
    row, source = rows[0][0], _loaded(*rows[0][1:])
    if not hmac.compare_digest(digest, row.token_hash):
        return None
    if not token.startswith(TOKEN_PREFIXES[source.api_style] + "_"):
        return None
    return source


def _loaded(source: Source, tenant: Tenant, version: RuleSetVersion) -> Source:
    source.tenant = tenant  # read with it: no query when the request needs its tenant
    source.active_rules = version if version.id is not None else None
    return source


def rotate_secret(source: Source, overlap: timedelta | None = None) -> str:
    """Give the source a new API secret; return it.

    Without `overlap` the old secret stops working at once (and any earlier overlap ends);
    with it, the old one keeps working beside the new one for that long.
    """
    secret = new_secret("sks")
    with database.atomic():
        current = Source.get_by_id(source.id)
        previous, expires = None, None
        if overlap is not None:
            previous, expires = current.secret_hash, utcnow() + overlap
        (
            Source.update(
                secret_hash=hash_secret(secret),
                previous_secret_hash=previous,
                previous_secret_expires_at=expires,
            )
            .where(Source.id == source.id)
            .execute()
        )
    source.previous_secret_hash, source.previous_secret_expires_at = previous, expires
    return secret
