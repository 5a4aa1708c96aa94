"""Posts: every submission to the intake, accepted or rejected."""

from __future__ import annotations

from app.domain.errors import NotFoundError
from app.services.actor import Actor
from app.store import listing
from app.store.models import Post

#: The `status` filter of post lists: accepted or rejected submissions.
POST_STATUSES: dict[str, bool] = {"accepted": True, "rejected": False}


def list_posts(
    actor: Actor,
    *,
    source: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Post]:
    """Return the tenant's posts, newest first, each with its lead (`post.lead`, or None)."""
    actor.require("posts.read")
    accepted = POST_STATUSES[status] if status is not None else None
    rows = listing.list_posts(actor.acting_tenant(), limit, offset, source, accepted)
    for post, lead in rows:
        post.lead = lead
    return [post for post, _ in rows]


def show_post(actor: Actor, ref: str) -> Post:
    """Return a post with its payload, headers, errors and lead (`post.lead`)."""
    actor.require("posts.read")
    found = listing.get_post(actor.acting_tenant(), ref)
    if found is None:
        raise NotFoundError(f"no post {ref!r}")
    post, lead = found
    post.lead = lead
    return post
