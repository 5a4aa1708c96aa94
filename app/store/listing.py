"""The queries behind lead and post lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.status import statuses_of
from app.store.models import Lead, Post, Source, Tenant


@dataclass(frozen=True)
class LeadFilter:
    status: str | None = None  # a status, or `sold` (assigned, posted or returned)
    category: str | None = None
    lead_type: str | None = None
    source: str | None = None  # public id
    since: datetime | None = None  # received at or after (naive UTC)
    until: datetime | None = None  # received before
    test: bool | None = False  # False: hide test leads; True: only them; None: both
    customer: int | None = None  # only the leads sold to this customer (row id)
    assigned_since: datetime | None = None  # assigned at or after (naive UTC)
    assigned_until: datetime | None = None  # assigned before
    # Keyset paging: only the leads after this (received_at, id) in newest-first order,
    # i.e. received earlier, or at the same moment with a smaller id.
    before: tuple[datetime, int] | None = None


def list_leads(tenant: Tenant, filters: LeadFilter, limit: int = 50, offset: int = 0) -> list[Lead]:
    """Return the tenant's leads matching the filters, newest first."""
    query = Lead.select(Lead, Source).join(Source).where(Lead.tenant == tenant)
    if filters.status:
        query = query.where(Lead.status.in_(statuses_of(filters.status)))
    if filters.category:
        query = query.where(Lead.category == filters.category)
    if filters.lead_type:
        query = query.where(Lead.lead_type == filters.lead_type)
    if filters.source:
        query = query.where(Source.public_id == filters.source)
    if filters.since:
        query = query.where(Lead.received_at >= filters.since)
    if filters.until:
        query = query.where(Lead.received_at < filters.until)
    if filters.test is not None:
        query = query.where(Lead.is_test == filters.test)
    if filters.customer is not None:
        query = query.where(Lead.customer == filters.customer)
    if filters.assigned_since:
        query = query.where(Lead.assigned_at >= filters.assigned_since)
    if filters.assigned_until:
        query = query.where(Lead.assigned_at < filters.assigned_until)
    if filters.before:
        at, lead_id = filters.before
        # The first bound alone is a range of the (tenant, received_at) index.
        query = query.where(
            (Lead.received_at <= at) & ((Lead.received_at < at) | (Lead.id < lead_id))
        )
    return list(query.order_by(Lead.received_at.desc(), Lead.id.desc()).limit(limit).offset(offset))


def list_posts(
    tenant: Tenant,
    limit: int = 50,
    offset: int = 0,
    source: str | None = None,
    accepted: bool | None = None,
):
    """Return the tenant's posts, newest first, with their source and lead."""
    query = Post.select(Post, Source).join(Source).where(Post.tenant == tenant)
    if source:
        query = query.where(Source.public_id == source)
    if accepted is not None:
        query = query.where(Post.accepted == accepted)
    posts = list(
        query.order_by(Post.received_at.desc(), Post.id.desc()).limit(limit).offset(offset)
    )
    leads = {}
    if posts:
        for lead in Lead.select(Lead.id, Lead.uuid, Lead.public_id, Lead.post).where(
            Lead.post.in_([p.id for p in posts])
        ):
            leads[lead.post_id] = lead
    return [(post, leads.get(post.id)) for post in posts]


def get_post(tenant: Tenant, ref: str) -> tuple[Post, Lead | None] | None:
    """Return (post, lead or None) for the tenant's post with this public id, or None."""
    post = (
        Post.select(Post, Source)
        .join(Source)
        .where((Post.tenant == tenant) & (Post.public_id == ref))
        .first()
    )
    if post is None:
        return None
    lead = Lead.select().where(Lead.post == post).first()
    return post, lead
