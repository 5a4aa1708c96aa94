"""Returns: a sold lead given back by (or for) its buyer, its price credited, its cap and
budget units freed; the tenant's return reasons; one lead or many at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.delivery.payload import lead_event_data
from app.domain.clock import utcnow
from app.domain.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from app.domain.returns import clean_note, clean_reasons, match_reason
from app.domain.status import Status
from app.services.actor import Actor
from app.services.leads import show_lead
from app.store import returns as store
from app.store.leads import get_leads
from app.store.models import Customer, Lead, Source

#: The most leads one bulk return takes.
MAX_LEADS = 500


@dataclass(frozen=True)
class Returned:
    """What a bulk return did to one lead: its status now, or why it was refused."""

    id: str  # the lead's public id
    status: str
    error: str | None = None


def return_reasons(actor: Actor) -> list[str]:
    """Return the reasons a return may give in the actor's tenant (to a tenant's reader, or
    to whoever may return a lead: a customer's own user too)."""
    if not actor.can("leads.return"):
        actor.require("customers.read")
    return store.return_reasons(actor.acting_tenant())


def set_return_reasons(actor: Actor, reasons: Sequence[str] | None) -> list[str]:
    """Set the tenant's return reasons, in order (None: back to the default ones)."""
    actor.require("customers.write")
    cleaned = None if reasons is None else clean_reasons(list(reasons))
    return store.set_return_reasons(actor.acting_tenant(), cleaned)


def return_lead(
    actor: Actor,
    ref: str,
    *,
    reason: str | None,
    note: str | None = None,
    override: bool = False,
) -> Lead:
    """Return a sold lead: its price credited to its buyer's wallet, its units of the bid's
    cap and budget freed, status `returned` (still sold: the buyer keeps it), the return
    on its timeline and `lead.returned` sent to the tenant's webhooks, in one transaction.

    `reason` names one of the tenant's return reasons (InvalidError on `reason` otherwise),
    `note` adds free text. The buyer's policy (a window after the sale, a monthly limit)
    refuses a return outside it with a ConflictError naming the rule and its figures,
    unless `override` (permission `leads.return_override`; never a customer's user). A
    customer's user returns its own leads only: another's is not found.
    """
    actor.require("leads.return")
    _check_override(actor, override)
    tenant = actor.acting_tenant()
    lead = _own_lead(actor, ref)
    chosen = match_reason(store.return_reasons(tenant), reason)
    note = clean_note(note)
    _return(actor, lead, chosen, note, override)
    if actor.customer is not None or not actor.can("leads.read"):
        return Lead.get_by_id(lead.id)
    return show_lead(actor, lead.public_id)


def return_leads(
    actor: Actor,
    refs: Sequence[str],
    *,
    reason: str | None,
    note: str | None = None,
    override: bool = False,
) -> list[Returned]:
    """Return many leads with one reason; report what became of each, in order.

    Every lead is looked up first: an unknown one raises NotFoundError naming each, and
    none is returned. Then each is returned in its own transaction (so the buyer's monthly
    limit counts the returns before it); one refused (returned already, outside the policy)
    is reported with its error, the others go on.
    """
    actor.require("leads.return")
    _check_override(actor, override)
    tenant = actor.acting_tenant()
    refs = _refs(refs)
    found = get_leads(tenant, refs)
    if actor.customer is not None:
        found = {ref: lead for ref, lead in found.items() if lead.customer_id == actor.customer.id}
    missing = [ref for ref in refs if ref not in found]
    if missing:
        names = ", ".join(repr(ref) for ref in missing)
        raise NotFoundError(
            f"no lead {names}: none was returned", {ref: [f"no lead {ref!r}"] for ref in missing}
        )
    chosen = match_reason(store.return_reasons(tenant), reason)
    note = clean_note(note)
    done: dict[int, Returned] = {}
    for ref in refs:
        lead = found[ref]
        if lead.id in done:
            continue
        try:
            _return(actor, lead, chosen, note, override)
        except ConflictError as error:
            done[lead.id] = Returned(lead.public_id, _status(lead), error.message)
            continue
        done[lead.id] = Returned(lead.public_id, Status.RETURNED.value)
    return list(done.values())


def _check_override(actor: Actor, override: bool) -> None:
    """Refuse an override to a customer's user and to a role without the permission."""
    if not override:
        return
    if actor.customer is not None:
        raise ForbiddenError("A customer cannot override its return policy.")
    actor.require("leads.return_override")


def _own_lead(actor: Actor, ref: str) -> Lead:
    """Return the tenant's lead with this ref; a customer's user finds its own leads only."""
    lead = get_leads(actor.acting_tenant(), [ref]).get(ref)
    if lead is None or (actor.customer is not None and lead.customer_id != actor.customer.id):
        raise NotFoundError(f"no lead {ref!r}")
    return lead


def _return(actor: Actor, lead: Lead, reason: str, note: str | None, override: bool) -> None:
    """Write the return of one lead (checked again under its lock by the store)."""
    refusal = store.return_refusal(lead, lead.status, lead.customer_id, lead.deleted_at is not None)
    if refusal is not None:
        raise refusal
    customer = Customer.get_by_id(lead.customer_id)
    source = Source.get_by_id(lead.source_id)
    data = lead_event_data(
        lead.data,
        public_id=lead.public_id,
        status=Status.RETURNED.value,
        category=lead.category,
        lead_type=lead.lead_type,
        price_cents=lead.price_cents,
        customer=customer.public_id,
        source=source.name,
        is_test=lead.is_test,
        received_at=lead.received_at,
    )
    data["return"] = {"reason": reason, "note": note}
    store.record_return(
        lead,
        store.Return(reason, note, actor.name, utcnow(), override=override, event_data=data),
    )


def _status(lead: Lead) -> str:
    """Return the lead's stored status."""
    return str(Lead.select(Lead.status).where(Lead.id == lead.id).scalar())


def _refs(refs: Sequence[str]) -> list[str]:
    """Return the leads' refs, each once, in order; refuse none or too many."""
    unique = list(dict.fromkeys(ref.strip() for ref in refs if ref.strip()))
    if not unique:
        raise InvalidError("name the leads to return", {"leads": ["at least one lead id"]})
    if len(unique) > MAX_LEADS:
        raise InvalidError(
            "too many leads at once", {"leads": [f"at most {MAX_LEADS} leads a return"]}
        )
    return unique
