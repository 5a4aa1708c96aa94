"""Deleting leads: their personal data erased in one transaction, their distribution history
(status, price, buyer, timeline, wallet entries, deliveries and attempts) kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.domain.delivery import CANCELED, DEAD, PENDING
from app.domain.editing import EDITED
from app.domain.routing import ALTERED
from app.store.db import database, execute, is_postgresql, repeat
from app.store.models import DedupeKey, Delivery, Lead, LeadEvent, Post

#: The timeline entry of a deletion.
DELETED = "deleted"


#: The timeline entries whose details may hold the person's data.
ERASED_DETAILS = (EDITED, ALTERED, "enriched", "partner_call")


def erase_leads(
    lead_ids: list[int],
    by: str,
    at: datetime,
    then: Callable[[list[int]], object] | None = None,
) -> list[int]:
    """Erase the personal data of those of these leads not deleted yet; return their ids.

    In one transaction, the leads' rows locked (in id order) first: each lead's data and
    partner id, its post's payload and headers and its deliveries' payloads are emptied;
    its deliveries that could still go out (pending, or dead and so replayable) are
    canceled; its dedupe keys forget it; its edits' and alter stages' timeline entries lose
    the values they kept; a `deleted` entry saying who goes on its timeline;
    then `then(erased ids)` runs (the analysis projection's rows). A lead deleted already
    is left as it is, so deleting again changes nothing.
    """
    if not lead_ids:
        return []
    with database.atomic():
        lock = " FOR UPDATE" if is_postgresql() else ""  # SQLite: BEGIN IMMEDIATE locks it all
        rows = execute(
            f"SELECT id FROM lead WHERE id IN ({repeat('%s', len(lead_ids))})"
            f" AND deleted_at IS NULL ORDER BY id{lock}",
            list(lead_ids),
        ).fetchall()
        erased = [lead_id for (lead_id,) in rows]
        if not erased:
            return []
        (
            Lead.update(data={}, enriched=None, partner_id=None, deleted_at=at, updated_at=at)
            .where(Lead.id.in_(erased))
            .execute()
        )
        posts = Lead.select(Lead.post).where(Lead.id.in_(erased), Lead.post.is_null(False))
        Post.update(payload={}, headers={}).where(Post.id.in_(posts)).execute()
        (
            Delivery.update(status=CANCELED, claimed_until=None, updated_at=at)
            .where(Delivery.lead.in_(erased), Delivery.status.in_([PENDING, DEAD]))
            .execute()
        )
        Delivery.update(payload={}).where(Delivery.lead.in_(erased)).execute()
        (DedupeKey.update(lead=None, last_seen_at=None).where(DedupeKey.lead.in_(erased)).execute())
        # An edit's entry keeps the values it replaced, an alter or enrich stage's those it
        # replaced and set, a partner call's the answer's excerpt: personal data too. Who
        # edited (which stage altered, which partner was called) stays in its message.
        (
            LeadEvent.update(details=None)
            .where(LeadEvent.lead.in_(erased), LeadEvent.kind.in_(ERASED_DETAILS))
            .execute()
        )
        LeadEvent.insert_many(
            [
                {
                    "lead": lead_id,
                    "at": at,
                    "kind": DELETED,
                    "message": f"Deleted by {by}: its personal data was erased.",
                    "details": {"by": by},
                }
                for lead_id in erased
            ]
        ).execute()
        if then is not None:
            then(erased)
    return erased


def deletion_times(lead_ids: list[int]) -> dict[int, datetime]:
    """Return when each of these leads was deleted, by lead id (deleted ones only)."""
    query = Lead.select(Lead.id, Lead.deleted_at).where(
        Lead.id.in_(lead_ids), Lead.deleted_at.is_null(False)
    )
    return dict(query.tuples())
