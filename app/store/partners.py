"""A tenant's partners and enrichment providers: their rows, headers encrypted, and the
domain `Partner` (headers in clear) the calling code gets from a row.

A removed partner is kept, hidden from lists and finds, for the timelines that name it; its
name is free again for a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import peewee as pw

from app.domain.clock import utcnow
from app.domain.errors import ConflictError, NotFoundError
from app.domain.partners import ANSWER_PARTS, DEFAULT_ADDRESS_FIELDS, AnswerRule, Partner
from app.store.crypto import decrypt, encrypt
from app.store.db import database
from app.store.models import Partner as PartnerRow
from app.store.models import Tenant
from app.store.secrets import public_id

#: The settings stored as they are (headers are encrypted apart).
PLAIN_COLUMNS = (
    "name",
    "kind",
    "ping_url",
    "post_url",
    "url",
    "method",
    "body_format",
    "field_map",
    "template",
    "timeout_ms",
    *(f"{part}_{how}" for part in ANSWER_PARTS for how in ("path", "pattern")),
    "data_path",
    "required_fields",
)


def create_partner(tenant: Tenant, values: dict[str, Any]) -> PartnerRow:
    """Create a partner or provider from checked settings; ConflictError if its name is
    taken in the tenant."""
    now = utcnow()
    with database.atomic():
        _refuse_taken(tenant.id, values["name"])
        try:
            with database.atomic():
                row = PartnerRow.create(
                    public_id=public_id("prt"),
                    tenant=tenant.id,
                    created_at=now,
                    updated_at=now,
                    **_columns(values),
                )
        except pw.IntegrityError:  # the same name, saved at the same moment
            raise _taken(values["name"]) from None
    return PartnerRow.get_by_id(row.id)


def list_partners(tenant: Tenant, kind: str | None = None) -> list[PartnerRow]:
    """Return a tenant's partners and providers (or those of one kind), by name."""
    query = _kept(tenant.id)
    if kind is not None:
        query = query.where(PartnerRow.kind == kind)
    return list(query.order_by(PartnerRow.name))


def find_partner(tenant: Tenant, ref: str) -> PartnerRow:
    """Return the tenant's partner or provider with this public id or name."""
    row = _kept(tenant.id).where((PartnerRow.public_id == ref) | (PartnerRow.name == ref)).first()
    if row is None:
        raise NotFoundError(f"no partner {ref!r}")
    return row


def find_partners(tenant: Tenant, names: Iterable[str], kind: str) -> list[PartnerRow]:
    """Return the tenant's partners (or providers) of these names, in the order given;
    NotFoundError names the first unknown one."""
    wanted = list(names)
    rows = {
        row.name: row
        for row in _kept(tenant.id).where((PartnerRow.kind == kind) & PartnerRow.name.in_(wanted))
    }
    missing = [name for name in wanted if name not in rows]
    if missing:
        raise NotFoundError(f"no {_noun(kind)} {missing[0]!r}")
    return [rows[name] for name in wanted]


def partners_named(tenant_id: int, names: Iterable[str], kind: str) -> dict[str, Partner]:
    """Return the tenant's kept partners (kind "partner") or providers ("enrichment") of
    these names, by name, ready to call (headers decrypted: never log them); a name none
    has is left out."""
    wanted = sorted(set(names))
    query = _kept(tenant_id).where((PartnerRow.kind == kind) & PartnerRow.name.in_(wanted))
    return {row.name: partner_of(row) for row in query}


def unknown_partners(tenant: Tenant, names: Iterable[str], kind: str) -> list[str]:
    """Return the names, sorted, that no kept partner (kind "partner") or provider (kind
    "enrichment") of the tenant has: what a rule set pushed may not name."""
    wanted = set(names)
    if not wanted:
        return []
    known = {
        name
        for (name,) in _kept(tenant.id)
        .select(PartnerRow.name)
        .where((PartnerRow.kind == kind) & PartnerRow.name.in_(sorted(wanted)))
        .tuples()
    }
    return sorted(wanted - known)


def update_partner(row: PartnerRow, values: dict[str, Any]) -> PartnerRow:
    """Change the given settings of a partner; ConflictError if a new name is taken."""
    with database.atomic():
        if "name" in values and values["name"] != row.name:
            _refuse_taken(row.tenant_id, values["name"])
        try:
            with database.atomic():
                (
                    PartnerRow.update(**_columns(values), updated_at=utcnow())
                    .where(PartnerRow.id == row.id)
                    .execute()
                )
        except pw.IntegrityError:  # the same name, saved at the same moment
            raise _taken(values.get("name", row.name)) from None
    return PartnerRow.get_by_id(row.id)


def remove_partner(row: PartnerRow, now: datetime | None = None) -> None:
    """Remove a partner: hidden from now on, kept for the timelines that name it."""
    now = now or utcnow()
    (
        PartnerRow.update(removed_at=now, updated_at=now)
        .where((PartnerRow.id == row.id) & PartnerRow.removed_at.is_null())
        .execute()
    )


def headers_of(row: PartnerRow) -> dict[str, str]:
    """Return a partner's headers in clear."""
    if not row.headers_encrypted:
        return {}
    headers: dict[str, str] = json.loads(decrypt(row.headers_encrypted))
    return headers


def header_names(row: PartnerRow) -> list[str]:
    """Return the names of a partner's headers (their values are never shown)."""
    return sorted(headers_of(row))


def partner_of(row: PartnerRow) -> Partner:
    """Return the domain partner of a row, its headers decrypted (never log it)."""
    rules = {
        part: AnswerRule(getattr(row, f"{part}_path"), getattr(row, f"{part}_pattern"))
        for part in ANSWER_PARTS
        if getattr(row, f"{part}_path") is not None or getattr(row, f"{part}_pattern") is not None
    }
    return Partner(
        name=row.name,
        kind=row.kind,
        ping_url=row.ping_url,
        post_url=row.post_url,
        url=row.url,
        method=row.method,
        body_format=row.body_format,
        field_map=row.field_map,
        template=row.template,
        headers=headers_of(row),
        timeout_ms=row.timeout_ms,
        rules=rules,
        data_path=row.data_path,
        required_fields=tuple(row.required_fields or DEFAULT_ADDRESS_FIELDS),
    )


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    columns = {name: values[name] for name in PLAIN_COLUMNS if name in values}
    if "headers" in values:
        headers = values["headers"]
        columns["headers_encrypted"] = encrypt(json.dumps(headers)) if headers else None
    return columns


def _kept(tenant_id: int) -> pw.ModelSelect:
    return PartnerRow.select().where(
        (PartnerRow.tenant == tenant_id) & PartnerRow.removed_at.is_null()
    )


def _refuse_taken(tenant_id: int, name: str) -> None:
    if _kept(tenant_id).where(PartnerRow.name == name).exists():
        raise _taken(name)


def _taken(name: str) -> ConflictError:
    return ConflictError(f"the name {name!r} is taken by another partner or provider")


def _noun(kind: str) -> str:
    return "enrichment provider" if kind == "enrichment" else "partner"
