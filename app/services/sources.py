"""Sources: where leads come from, their credentials and their API specification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.domain.errors import InvalidError
from app.services.actor import Actor
from app.services.destinations import check_overlap
from app.services.spec import source_spec
from app.store import sources as store
from app.store.models import Source, SourceToken
from app.store.rules import active_ruleset

#: Leave a setting as it is (`update_source`): None means "back to the default" there.
UNCHANGED: Any = object()


@dataclass(frozen=True)
class CreatedSource:
    source: Source
    credential: str  # the API secret (native) or the Routio API key, shown once


@dataclass(frozen=True)
class NewToken:
    source: Source
    row: SourceToken
    token: str  # shown once


@dataclass(frozen=True)
class RotatedSecret:
    source: Source
    secret: str  # shown once

    @property
    def previous_secret_expires_at(self) -> datetime | None:
        """When the old secret stops working (None: it already has)."""
        return self.source.previous_secret_expires_at


def _source(actor: Actor, ref: str) -> Source:
    """Return the source with this id or API key, in the actor's tenant (the operator's: any)."""
    return store.find_source(ref, actor.tenant)


def list_sources(actor: Actor) -> list[Source]:
    """Return the tenant's sources, oldest first."""
    actor.require("sources.read")
    return store.list_sources(actor.acting_tenant())


def show_source(actor: Actor, ref: str) -> Source:
    """Return one source."""
    actor.require("sources.read")
    return _source(actor, ref)


def create_source(
    actor: Actor,
    name: str,
    category: str | None,
    *,
    api_style: str = "native",
    rate_limit: int | None = None,
    test_mode: bool = False,
) -> CreatedSource:
    """Create a source with its credential (an API secret, or a Routio API key)."""
    actor.require("sources.write")
    source, credential = store.create_source(
        actor.acting_tenant(),
        name,
        category,
        test_mode,
        api_style=api_style,
        rate_limit=rate_limit,
    )
    return CreatedSource(source, credential)


def update_source(
    actor: Actor,
    ref: str,
    *,
    test_mode: bool | None = None,
    active: bool | None = None,
    rate_limit: int | None = UNCHANGED,
    ping_bids_shown: int | None = None,
    ping_ttl_seconds: int | None = None,
    internal: bool | None = None,
) -> Source:
    """Switch test mode or the active flag, or set the rate limit (None: the default) or
    the ping settings (docs/ping-post.md)."""
    actor.require("sources.write")
    changes = {} if rate_limit is UNCHANGED else {"rate_limit": rate_limit}
    return store.update_source(
        _source(actor, ref),
        test_mode=test_mode,
        active=active,
        ping_bids_shown=ping_bids_shown,
        ping_ttl_seconds=ping_ttl_seconds,
        internal=internal,
        **changes,
    )


def create_token(actor: Actor, ref: str) -> NewToken:
    """Create a bearer token for the source (Routio style: another API key)."""
    actor.require("sources.write")
    source = _source(actor, ref)
    row, token = store.create_token(source)
    return NewToken(source, row, token)


def list_tokens(actor: Actor, ref: str) -> list[SourceToken]:
    """Return the source's bearer tokens (their ids and dates, never the tokens)."""
    actor.require("sources.read")
    return store.list_tokens(_source(actor, ref))


def revoke_token(actor: Actor, ref: str, token_id: str) -> SourceToken:
    """Revoke one bearer token of the source: it stops opening the intake at once."""
    actor.require("sources.write")
    return store.revoke_token(_source(actor, ref), token_id)


def rotate_secret(actor: Actor, ref: str, overlap: timedelta = timedelta(0)) -> RotatedSecret:
    """Give a native source a new API secret; the old one stops working at once, or after
    `overlap` during which both work (so the supplier can switch without a gap)."""
    actor.require("sources.write")
    check_overlap(overlap)
    source = _source(actor, ref)
    if source.api_style != "native":
        raise InvalidError(
            "a Routio-style source has no API secret: create a new API key (a token) "
            "and revoke the old one"
        )
    return RotatedSecret(source, store.rotate_secret(source, overlap or None))


def show_source_spec(
    actor: Actor, ref: str, public_url: str | None, default_rate_limit: int
) -> dict[str, Any]:
    """Return the source's API specification: endpoint, auth, fields, a cURL example."""
    actor.require("sources.read")
    source = _source(actor, ref)
    _, ruleset = active_ruleset(source.tenant_id)
    return source_spec(source, ruleset, public_url, default_rate_limit=default_rate_limit)
