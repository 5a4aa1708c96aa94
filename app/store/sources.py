"""Sources: creation, credentials and authentication of intake requests."""

from __future__ import annotations

import hmac

from app.store.clock import utcnow
from app.store.db import database
from app.store.errors import InvalidError, NotFoundError
from app.store.models import Source, SourceToken, Tenant
from app.store.secrets import hash_secret, new_secret, public_id, secret_matches

# Compared against when the key is unknown, so both paths cost one hash and one compare.
_NO_SECRET_HASH = hash_secret("no such source")


def create_source(tenant: Tenant, name: str, category: str, test_mode: bool = False):
    """Create a source; return (source, plain API secret)."""
    name = name.strip()
    if not name:
        raise InvalidError("a source needs a name")
    if not category.strip():
        raise InvalidError("a source needs a category")
    secret = new_secret("sks")
    source = Source.create(
        public_id=public_id("src"),
        tenant=tenant,
        name=name,
        category=category.strip(),
        api_key=new_secret("skk")[:36],
        secret_hash=hash_secret(secret),
        test_mode=test_mode,
    )
    return source, secret


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


def update_source(source: Source, *, test_mode: bool | None = None, active: bool | None = None):
    """Switch a source's test mode or active flag."""
    if test_mode is not None:
        source.test_mode = test_mode
    if active is not None:
        source.active = active
    source.save()
    return source


def create_token(source: Source) -> tuple[SourceToken, str]:
    """Create a bearer token for the source; return (token row, plain token)."""
    token = new_secret("sbt")
    row = SourceToken.create(source=source, token_hash=hash_secret(token))
    return row, token


def revoke_tokens(source: Source) -> int:
    """Revoke every bearer token of the source; return how many."""
    with database.atomic():
        return (
            SourceToken.update(revoked_at=utcnow())
            .where((SourceToken.source == source) & SourceToken.revoked_at.is_null())
            .execute()
        )


def authenticate_basic(api_key: str, secret: str) -> Source | None:
    """Return the active source with this key and secret, or None."""
    source = (
        Source.select(Source, Tenant)
        .join(Tenant)
        .where((Source.api_key == api_key) & (Source.active == True))  # noqa: E712
        .first()
    )
    stored = source.secret_hash if source is not None else _NO_SECRET_HASH
    matches = secret_matches(secret, stored)
    return source if source is not None and matches else None


def authenticate_bearer(token: str) -> Source | None:
    """Return the active source holding this unrevoked bearer token, or None."""
    digest = hash_secret(token)
    row = (
        SourceToken.select(SourceToken, Source, Tenant)
        .join(Source)
        .join(Tenant)
        .where(
            (SourceToken.token_hash == digest)
            & SourceToken.revoked_at.is_null()
            & (Source.active == True)  # noqa: E712
        )
        .first()
    )
    if row is None or not hmac.compare_digest(digest, row.token_hash):
        return None
    return row.source


def rotate_secret(source: Source) -> str:
    """Give the source a new API secret (the old one stops working); return it."""
    secret = new_secret("sks")
    Source.update(secret_hash=hash_secret(secret)).where(Source.id == source.id).execute()
    return secret
