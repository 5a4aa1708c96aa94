"""Audit review: approve a lead held for audit (it is routed on, its audits skipped) or
reject it (it stays `audit`, never distributed); one lead or many at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.clock import utcnow
from app.domain.errors import ConflictError, InvalidError, NotFoundError, UnavailableError
from app.domain.review import APPROVED, NOTE_CHARS, REJECTED, Review
from app.domain.status import Status
from app.dsl.ruleset import RuleSet
from app.services.actor import Actor
from app.services.leads import show_lead
from app.services.routing import follow_pending, reroute_lead
from app.store.leads import get_leads
from app.store.models import Lead, RuleSetVersion, Tenant
from app.store.review import lead_status, record_review, rejected_leads, review_refusal
from app.store.rules import active_ruleset

DECISIONS = (APPROVED, REJECTED)
#: The most leads one bulk review takes.
MAX_LEADS = 500
#: A rule set version and its compiled rules, as `active_ruleset` returns them.
Rules = tuple[RuleSetVersion | None, RuleSet]


@dataclass(frozen=True)
class Reviewed:
    """What a bulk review did to one lead: its status now, or why it was refused."""

    id: str  # the lead's public id
    status: str
    error: str | None = None


def approve_lead(actor: Actor, ref: str, *, note: str | None = None) -> Lead:
    """Approve a lead held for audit: route it again with the active rules, its audits
    skipped, in one transaction with the approval; return it as `show_lead` does."""
    return _review_one(actor, APPROVED, ref, note)


def reject_lead(actor: Actor, ref: str, *, note: str | None) -> Lead:
    """Reject a lead held for audit: it stays `audit`, marked rejected, never distributed."""
    return _review_one(actor, REJECTED, ref, note)


def review_leads(
    actor: Actor,
    decision: str,
    refs: Sequence[str],
    *,
    note: str | None = None,
) -> list[Reviewed]:
    """Approve or reject many leads held for audit; return what became of each, in order.

    Every lead is checked first (it exists, is held for audit, was not rejected, is not a
    test lead): if one fails, nothing is done and the ConflictError names each failure.
    Then each lead is reviewed in its own transaction; one whose state changed meanwhile
    (another review got there first) is reported with its error, the others go on.
    """
    actor.require("leads.review")
    tenant = actor.acting_tenant()
    note = _note(decision, note)
    refs = _refs(refs)
    leads = get_leads(tenant, refs)
    rejected = rejected_leads(lead.id for lead in leads.values())
    problems: dict[str, list[str]] = {}
    for ref in refs:
        lead = leads.get(ref)
        if lead is None:
            problems[ref] = [f"no lead {ref!r}"]
            continue
        refusal = review_refusal(lead, lead.status, lead.id in rejected)
        if refusal is not None:
            problems[ref] = [refusal.message]
    if problems:
        verb = "approved" if decision == APPROVED else "rejected"
        reasons = "; ".join(message for messages in problems.values() for message in messages)
        raise ConflictError(
            f"{len(problems)} of {len(refs)} leads cannot be {verb}, none was: {reasons}",
            problems,
        )
    rules = _rules(tenant, [leads[ref] for ref in refs]) if decision == APPROVED else None
    done = []
    for ref in refs:
        lead = leads[ref]
        try:
            _review(actor, decision, lead, note, rules)
        except ConflictError as error:
            done.append(Reviewed(lead.public_id, lead_status(lead), error.message))
            continue
        done.append(Reviewed(lead.public_id, lead_status(lead)))
    return done


def _review_one(actor: Actor, decision: str, ref: str, note: str | None) -> Lead:
    """Review one lead and return it as `show_lead` does."""
    actor.require("leads.review")
    tenant = actor.acting_tenant()
    found = get_leads(tenant, [ref]).get(ref)
    if found is None:
        raise NotFoundError(f"no lead {ref!r}")
    note = _note(decision, note)
    refusal = review_refusal(found, found.status, bool(rejected_leads([found.id])))
    if refusal is not None:
        raise refusal
    rules = _rules(tenant, [found]) if decision == APPROVED else None
    _review(actor, decision, found, note, rules)
    return show_lead(actor, found.public_id)


def _review(
    actor: Actor,
    decision: str,
    lead: Lead,
    note: str | None,
    rules: Rules | None,
) -> None:
    """Record the review on the lead's timeline and, for an approval, route the lead on, in
    one transaction under the lead's lock."""
    review = Review(decision, actor.name, utcnow(), note)
    message = f"{'Approved' if decision == APPROVED else 'Rejected'} by {actor.name}"
    message += f": {note}" if note else "."
    if decision == REJECTED:
        record_review(lead, review, message)
        return
    assert rules is not None  # an approval's callers looked them up
    version, ruleset = rules

    decided = []

    def route() -> None:
        # A test lead is never reviewed (review_refusal): no test price to give.
        decided.append(
            reroute_lead(
                lead, version, ruleset, statuses=(Status.AUDIT,), audit=False, follow=False
            )
        )

    record_review(lead, review, message, route)
    # Committed with the review: a plan stage that calls out calls now, outside it.
    follow_pending(lead, version, ruleset, decided[0])


def _rules(tenant: Tenant, leads: list[Lead]) -> Rules:
    """Return the active rules, which must have the leads' categories (UnavailableError)."""
    version, ruleset = active_ruleset(tenant)
    for lead in leads:
        if ruleset is None or lead.category not in ruleset.categories:
            raise UnavailableError(f"category {lead.category!r} has no active rules")
    assert ruleset is not None  # the loop saw a lead: review_leads has at least one
    return version, ruleset


def _note(decision: str, note: str | None) -> str | None:
    """Return the review's note, stripped; a rejection needs one."""
    if decision not in DECISIONS:
        raise InvalidError("a review approves or rejects", {"decision": [f"one of {DECISIONS}"]})
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_CHARS:
        raise InvalidError("the note is too long", {"note": [f"at most {NOTE_CHARS} characters"]})
    if note is None and decision == REJECTED:
        raise InvalidError("a rejection needs a note", {"note": ["say why the lead is rejected"]})
    return note


def _refs(refs: Sequence[str]) -> list[str]:
    """Return the leads' refs, each once, in order; refuse none or too many."""
    unique = list(dict.fromkeys(ref.strip() for ref in refs if ref.strip()))
    if not unique:
        raise InvalidError("name the leads to review", {"leads": ["at least one lead id"]})
    if len(unique) > MAX_LEADS:
        raise InvalidError(
            "too many leads at once", {"leads": [f"at most {MAX_LEADS} leads a review"]}
        )
    return unique
