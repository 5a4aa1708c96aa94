"""Reprocessing: route leads again from a chosen stage, one now or many as a background job.

One rule says whether a lead may be reprocessed (app/domain/reprocess.py `eligibility`),
for one lead, for the breakdown shown before a bulk reprocess, and again for each lead at
its turn in the job. Every lead is routed by the same path (`reroute_lead`: one
transaction under the lead's row lock); a lead its audit review approved keeps its audits
skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.errors import ConflictError, InvalidError, NotFoundError, UnavailableError
from app.domain.partners import calls_in_flight
from app.domain.reprocess import (
    DEFAULT_START,
    NO_RULES,
    START_STAGES,
    Eligibility,
    eligibility,
    start_index,
)
from app.domain.routing import Decision, Step
from app.domain.status import REPROCESSABLE, Status
from app.dsl.ruleset import RuleSet
from app.services.actor import Actor
from app.services.routing import follow_pending, reroute_lead
from app.store import jobs as store
from app.store.leads import get_lead, get_leads
from app.store.listing import LeadFilter, list_leads
from app.store.models import Job, Lead, RuleSetVersion, Tenant
from app.store.review import rejected_leads, reviews_of, unless_rejected
from app.store.rules import active_ruleset

#: The most leads one bulk reprocess takes (narrow the filters for more).
MAX_LEADS = 5000
#: A job's kind.
REPROCESS = "reprocess"


@dataclass(frozen=True)
class LeadEligibility:
    """Whether one lead of a bulk reprocess may be reprocessed, and why not."""

    id: str  # the lead's public id, or the ref given when no lead has it
    status: str | None
    eligible: bool
    reason: str | None = None


@dataclass(frozen=True)
class Breakdown:
    """The leads a bulk reprocess would take, and those it would not, with why."""

    start: str
    leads: list[LeadEligibility]
    reasons: dict[str, int] = field(default_factory=dict)  # ineligible, by reason

    @property
    def eligible(self) -> int:
        return sum(1 for lead in self.leads if lead.eligible)

    @property
    def ineligible(self) -> int:
        return len(self.leads) - self.eligible


def check_start(start: str | None) -> str:
    """Return the start stage chosen (bidding when none); refuse an unknown one."""
    if start is None:
        return DEFAULT_START
    if start not in START_STAGES:
        raise InvalidError(
            f"unknown stage {start!r}", {"from": [f"one of {', '.join(START_STAGES)}"]}
        )
    return start


def reprocess_lead(
    actor: Actor, ref: str, *, start: str | None = None, test_price_cents: int
) -> Lead:
    """Route one lead again now, from `start` (bidding: the whole distribution)."""
    actor.require("leads.reprocess")
    start = check_start(start)
    tenant = actor.acting_tenant()
    lead = get_lead(tenant, ref)
    if lead is None:
        raise NotFoundError(f"no lead {ref!r}")
    version, ruleset = active_ruleset(tenant)
    verdict = _eligibility(lead, _review(lead.id), ruleset, start)
    if not verdict.eligible:
        if verdict.reason == NO_RULES:
            raise UnavailableError(f"category {lead.category!r} has no active rules")
        raise ConflictError(f"lead {lead.public_id} cannot be reprocessed: {verdict.reason}")
    assert ruleset is not None  # eligible: its category has active rules
    _reroute(actor.name, lead, verdict, version, ruleset, start, test_price_cents)
    return lead


def plan_reprocess(
    actor: Actor,
    refs: Sequence[str] | None = None,
    filters: LeadFilter | None = None,
    *,
    start: str | None = None,
) -> Breakdown:
    """Return which of the leads (named, or those a list with the filters shows) may be
    reprocessed from `start` and why the others may not; nothing is written."""
    actor.require("leads.reprocess")
    start = check_start(start)
    tenant = actor.acting_tenant()
    return _breakdown(tenant, _select(tenant, refs, filters), start)


def start_reprocess(
    actor: Actor,
    refs: Sequence[str] | None = None,
    filters: LeadFilter | None = None,
    *,
    start: str | None = None,
    test_price_cents: int,
) -> Job:
    """Queue a job reprocessing the eligible leads (as `plan_reprocess` counts them) from
    `start`; the delivery workers run it. None eligible: ConflictError."""
    actor.require("leads.reprocess")
    start = check_start(start)
    tenant = actor.acting_tenant()
    leads = _select(tenant, refs, filters)
    breakdown = _breakdown(tenant, leads, start)
    eligible = {lead.id for lead in breakdown.leads if lead.eligible}
    ids = [lead.id for lead in leads.values() if lead.public_id in eligible]
    if not ids:
        raise ConflictError(
            "none of these leads can be reprocessed",
            {lead.id: [lead.reason or ""] for lead in breakdown.leads},
        )
    params: dict[str, Any] = {
        "from": start,
        "test_price_cents": test_price_cents,
        "ineligible": breakdown.ineligible,
    }
    if refs is None and filters is not None:
        params["filters"] = _filters_param(filters)
    return store.create_job(tenant, REPROCESS, actor.name, params, ids)


def list_jobs(actor: Actor, *, limit: int = 50, offset: int = 0) -> list[Job]:
    """Return the tenant's background jobs, newest first."""
    actor.require("leads.reprocess")
    return store.list_jobs(actor.acting_tenant(), limit, offset)


def show_job(actor: Actor, ref: str) -> Job:
    """Return one of the tenant's background jobs, with its progress."""
    actor.require("leads.reprocess")
    job = store.get_job(actor.acting_tenant(), ref)
    if job is None:
        raise NotFoundError(f"no job {ref!r}")
    return job


def claim_job(worker_id: int, lease: timedelta) -> Job | None:
    """Claim a job left to do for a worker (app/services/worker.py), or None."""
    return store.claim_job(worker_id, lease)


def advance_job(job: Job, worker_id: int, lease: timedelta) -> tuple[bool, bool]:
    """Reprocess the job's next lead and count it, in one transaction; return (a lead was
    handled, more are left for this worker). A lead no longer eligible at its turn is
    skipped, with why."""
    start = job.params["from"]
    price = job.params["test_price_cents"]
    by = f"{job.created_by} (job {job.public_id})"
    pending: list[Callable[[], object]] = []  # its partner calls, made once counted

    def handle(lead_id: int) -> store.Handled:
        lead = Lead.get_or_none(Lead.id == lead_id)
        if lead is None:
            return store.Handled(store.SKIPPED, "the lead no longer exists")
        version, ruleset = active_ruleset(job.tenant_id)
        verdict = _eligibility(lead, _review(lead.id), ruleset, start)
        if not verdict.eligible:
            return store.Handled(store.SKIPPED, verdict.reason, lead.public_id)
        assert ruleset is not None
        try:
            decision = _reroute(by, lead, verdict, version, ruleset, start, price, follow=False)
        except ConflictError as error:  # it moved on since its eligibility was read
            return store.Handled(store.SKIPPED, error.message, lead.public_id)
        except Exception as error:  # its routing failed: the lead is left as it was
            reason = str(error) or type(error).__name__
            return store.Handled(store.FAILED_LEAD, reason, lead.public_id)
        if decision.outbound is not None:
            pending.append(lambda: follow_pending(lead, version, ruleset, decision, price))
        return store.Handled(store.SUCCEEDED, lead=lead.public_id)

    advanced = store.advance(job, worker_id, lease, handle)
    for follow in pending:  # committed: the lead is stored pending, its calls made now
        follow()
    return advanced


def release_job(job: Job, worker_id: int) -> None:
    """Give up a worker's claim on a job, for it to be continued later."""
    store.release_job(job, worker_id)


def _reroute(
    by: str,
    lead: Lead,
    verdict: Eligibility,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    start: str,
    test_price_cents: int,
    *,
    follow: bool = True,
) -> Decision:
    """Route an eligible lead again from `start`, under its lock (an approved audit: also
    refused if a rejection raced with it); return the decision (`follow=False`: a pending
    one's calls are left to the caller, see `reroute_lead`)."""
    index = start_index(_stage_kinds(ruleset, lead.category) or (), start) or 0
    message = f"Reprocessed by {by}" + (f", from stage {start}." if index else ".")
    note = Step("reprocessed", message, {"by": by, "from": start})
    statuses = tuple(REPROCESSABLE)
    if verdict.approved:
        statuses += (Status.AUDIT,)

    decided: list[Decision] = []

    def route() -> None:
        decision = reroute_lead(
            lead,
            version,
            ruleset,
            test_price_cents=test_price_cents,
            statuses=statuses,
            audit=not verdict.approved,
            start=index,
            first_steps=(note,),
            follow=False,
        )
        decided.append(decision)

    if verdict.approved and lead.status == Status.AUDIT:
        unless_rejected(lead, route)  # in the transaction that checks for a rejection
    else:
        route()
    if not follow:
        return decided[0]
    return follow_pending(lead, version, ruleset, decided[0], test_price_cents)


def _review(lead_id: int) -> str | None:
    """Return the decision of the lead's audit review (rejected if ever), or None."""
    if rejected_leads([lead_id]):
        return "rejected"
    review = reviews_of([lead_id]).get(lead_id)
    return review.decision if review is not None else None


def _eligibility(
    lead: Lead, review: str | None, ruleset: RuleSet | None, start: str
) -> Eligibility:
    return eligibility(
        lead.status,
        deleted=lead.deleted_at is not None,
        review=review,
        stage_kinds=_stage_kinds(ruleset, lead.category),
        start=start,
        calling=calls_in_flight(lead.status, lead.updated_at, utcnow()),
    )


def _stage_kinds(ruleset: RuleSet | None, category: str) -> tuple[str, ...] | None:
    """Return the kinds of the category's plan stages, None if it has no active rules."""
    if ruleset is None or category not in ruleset.categories:
        return None
    plan = ruleset.plans.get(category)
    return tuple(stage.kind for stage in plan.stages) if plan is not None else ()


def _select(
    tenant: Tenant, refs: Sequence[str] | None, filters: LeadFilter | None
) -> dict[str, Lead]:
    """Return the leads named (each once; an unknown one: NotFoundError) or those the
    filters select, by public id; refuse none, both, or more than MAX_LEADS."""
    if (refs is None) == (filters is None):
        raise InvalidError("name the leads or give filters", {"leads": ["leads or filters"]})
    if refs is not None:
        unique = list(dict.fromkeys(ref.strip() for ref in refs if ref.strip()))
        if not unique:
            raise InvalidError("name the leads to reprocess", {"leads": ["at least one lead"]})
        if len(unique) > MAX_LEADS:
            raise InvalidError("too many leads", {"leads": [f"at most {MAX_LEADS} leads"]})
        found = get_leads(tenant, unique)
        missing = [ref for ref in unique if ref not in found]
        if missing:
            raise NotFoundError(f"no lead {', '.join(map(repr, missing))}")
        return {found[ref].public_id: found[ref] for ref in unique}
    assert filters is not None
    selected = list_leads(tenant, filters, MAX_LEADS + 1)
    if len(selected) > MAX_LEADS:
        raise InvalidError(
            "the filters select too many leads",
            {"filters": [f"at most {MAX_LEADS} leads: narrow them"]},
        )
    return {lead.public_id: lead for lead in reversed(selected)}  # oldest first


def _breakdown(tenant: Tenant, leads: dict[str, Lead], start: str) -> Breakdown:
    _, ruleset = active_ruleset(tenant)
    ids = [lead.id for lead in leads.values()]
    rejected = rejected_leads(ids)
    reviews = reviews_of(ids)
    rows, reasons = [], Counter[str]()
    for lead in leads.values():
        review = reviews.get(lead.id)
        decision = "rejected" if lead.id in rejected else (review.decision if review else None)
        verdict = _eligibility(lead, decision, ruleset, start)
        rows.append(LeadEligibility(lead.public_id, lead.status, verdict.eligible, verdict.reason))
        if verdict.reason is not None:
            reasons[verdict.reason] += 1
    return Breakdown(start, rows, dict(reasons))


def _filters_param(filters: LeadFilter) -> dict[str, Any]:
    """Return the filters as the job's parameters record them."""
    values: dict[str, Any] = {}
    for name in ("status", "category", "lead_type", "source", "test"):
        value = getattr(filters, name)
        if value is not None:
            values[name] = value
    for name in ("since", "until"):
        value = getattr(filters, name)
        if value is not None:
            values[name] = value.isoformat()
    return values
