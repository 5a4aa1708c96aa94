"""Deleting leads: their personal data erased, their distribution history kept and shown as
deleted; one lead or many at once, all or nothing, and deleting twice changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.analysis.projection import reproject
from app.domain.clock import utcnow
from app.domain.errors import InvalidError, NotFoundError
from app.services.actor import Actor
from app.services.leads import show_lead
from app.store.deletion import deletion_times, erase_leads
from app.store.leads import get_leads
from app.store.models import Lead

#: The most leads one deletion takes.
MAX_LEADS = 500


@dataclass(frozen=True)
class Deleted:
    """What a deletion did to one lead: when it was deleted, and whether by this call."""

    id: str  # the lead's public id
    deleted_at: datetime
    already: bool  # deleted before: this call changed nothing


def delete_lead(actor: Actor, ref: str) -> Lead:
    """Delete one lead (see `delete_leads`); return it as `show_lead` does."""
    (done,) = delete_leads(actor, [ref])
    return show_lead(actor, done.id)


def delete_leads(actor: Actor, refs: Sequence[str]) -> list[Deleted]:
    """Erase the personal data of these leads, keeping their distribution history.

    Every ref is looked up first: one that names no lead of the tenant raises NotFoundError
    naming each, and nothing is deleted. Then all are deleted in one transaction: data,
    partner id, the post's payload and headers and the deliveries' payloads emptied, the
    deliveries that could still go out canceled, a `deleted` entry saying who on each
    timeline; status, price, buyer, wallet entries and attempts stay. A lead deleted
    already is left as it is (no second timeline entry) and reported `already`.
    """
    actor.require("leads.delete")
    tenant = actor.acting_tenant()
    refs = _refs(refs)
    leads = get_leads(tenant, refs)
    missing = [ref for ref in refs if ref not in leads]
    if missing:
        names = ", ".join(repr(ref) for ref in missing)
        raise NotFoundError(
            f"no lead {names}: none was deleted",
            {ref: [f"no lead {ref!r}"] for ref in missing},
        )
    unique = list({lead.id: lead for lead in leads.values()}.values())
    at = utcnow()
    erased = set(
        erase_leads(
            [lead.id for lead in unique],
            actor.name,
            at,
            lambda ids: reproject(tenant.id, ids),
        )
    )
    deleted_at = deletion_times([lead.id for lead in unique])
    done: dict[int, Deleted] = {}
    for ref in refs:
        lead = leads[ref]
        if lead.id not in done:
            done[lead.id] = Deleted(lead.public_id, deleted_at[lead.id], lead.id not in erased)
    return list(done.values())


def _refs(refs: Sequence[str]) -> list[str]:
    """Return the leads' refs, each once, in order; refuse none or too many."""
    unique = list(dict.fromkeys(ref.strip() for ref in refs if ref.strip()))
    if not unique:
        raise InvalidError("name the leads to delete", {"ids": ["at least one lead id"]})
    if len(unique) > MAX_LEADS:
        raise InvalidError(
            "too many leads at once", {"ids": [f"at most {MAX_LEADS} leads a deletion"]}
        )
    return unique
