"""Explain a stored lead: the rules that routed it, clause by clause, and every bid's fate.

Lead types, audits and dedupe keys are evaluated again, on the stored data, with the rule
set version that routed the lead (the rules are pure: the same data gives the same
verdicts). The stored data is what the plan's alter stages left: the values they replaced
are on the timeline, so the data the routing read is the stored data with them put back.
What depended on the moment (the dedupe history, schedules, caps, budgets,
wallets, the other bids) is read from the lead's timeline, where routing recorded it.
"""

from __future__ import annotations

from typing import Any

from app.domain.clock import aware
from app.domain.review import APPROVED, REVIEW_KINDS
from app.domain.routing import ALTERED
from app.domain.status import Status
from app.dsl.fieldtypes import format_datetime
from app.pipeline.lead import lead_from_row
from app.store.leads import lead_events
from app.store.models import Lead, LeadEvent, RuleSetVersion, Source
from app.store.rules import compiled

_BIDDING_KINDS = ("bidding", "assigned")
#: The timeline steps of the stages that call out, as explain-lead shows them.
OUTBOUND_KINDS = ("calling", "partner_call", "ping_post", "posted", "not_posted", "enriched")
ENRICHED = "enriched"


def explain_stored_lead(lead: Lead) -> dict[str, Any]:
    """Return why the lead went where it went."""
    events = lead_events(lead)
    version = (
        RuleSetVersion.get_or_none(RuleSetVersion.id == lead.rule_version_id)
        if lead.rule_version_id
        else None
    )
    source = Source.get_by_id(lead.source_id)
    result: dict[str, Any] = {
        "lead": lead.public_id,
        "status": lead.status,
        "category": lead.category,
        "lead_type": lead.lead_type,
        "received_at": format_datetime(aware(lead.received_at)),
        "is_test": lead.is_test,
        "rule_set": None,
        "lead_types": [],
        "audits": [],
        "dedupe": [],
        "bidding": [],
        "timeline": [_event(event) for event in events],
    }
    if version is None:
        result["note"] = "The lead has not been routed by any rule set version yet."
        return result
    result["rule_set"] = {"version": version.number, "content_hash": version.content_hash}
    ruleset = compiled(version)
    if lead.category not in ruleset.categories:
        result["note"] = f"Rule set version {version.number} has no category {lead.category!r}."
        return result
    data = lead_from_row(lead, source.name)
    alters = _last_routing_alters(events)
    if alters:
        data = {**_as_read(lead.data, alters), **{k: v for k, v in data.items() if k[:1] == "@"}}
        result["alter"] = [
            event.details.get("lines", []) for event in alters if event.kind == ALTERED
        ]
    outbound = _last_routing(events, OUTBOUND_KINDS)
    if outbound:
        result["outbound"] = [_event(event) for event in outbound]
    filled = {
        event.details["provider"]: event.details.get("filled", {})
        for event in alters
        if event.kind == ENRICHED and "provider" in event.details
    }
    trace = ruleset.explain(data, lead.category, filled)
    result["lead_types"] = trace["lead_types"]
    result["audits"] = trace["audits"]
    result["dedupe"] = _dedupe(trace["dedupe"], events, lead.status)
    result["bidding"] = _bidding(trace["bids"], events)
    review = _review(events)
    if review is not None:
        result["review"] = review
        if review["decision"] == APPROVED:
            result["note"] = (
                f"Held for audit, then approved by {review['by']}: routed again with its "
                "audits skipped, so the audits above flagged it once and no longer count."
            )
        else:
            result["note"] = f"Held for audit and rejected by {review['by']}: never distributed."
    if lead.is_test:
        result["note"] = "A test lead: its outcome comes from its zip, no bid was run."
    return result


def _last_routing_alters(events: list[LeadEvent]) -> list[LeadEvent]:
    """Return the timeline entries of the lead's last routing that changed its data: alter
    and enrich stages' (with details: a deleted lead's were erased)."""
    return [e for e in _last_routing(events, (ALTERED, ENRICHED)) if e.details]


def _last_routing(events: list[LeadEvent], kinds: tuple[str, ...]) -> list[LeadEvent]:
    """Return the timeline entries of these kinds since the lead was last classified."""
    start = max((n for n, e in enumerate(events) if e.kind == "classified"), default=0)
    return [e for e in events[start:] if e.kind in kinds]


def _as_read(data: dict[str, Any], alters: list[LeadEvent]) -> dict[str, Any]:
    """Return the data as the routing read it: the stored data, the values its alter stages
    replaced put back (last change first)."""
    values = dict(data)
    for event in reversed(alters):
        if event.kind == ENRICHED:  # the values an enrich stage filled or replaced
            for name, before in event.details.get("before", {}).items():
                if before is None:
                    values.pop(name, None)
                else:
                    values[name] = before
            continue
        for line in reversed(event.details.get("lines", [])):
            if line.get("result") != "applied":
                continue
            if line.get("from") is None:
                values.pop(line["field"], None)
            else:
                values[line["field"]] = line["from"]
    return values


def _review(events: list[LeadEvent]) -> dict[str, Any] | None:
    """Return the lead's audit review from its timeline (the last one), or None."""
    decisions = {kind: decision for decision, kind in REVIEW_KINDS.items()}
    for event in reversed(events):
        if event.kind in decisions:
            details = event.details or {}
            return {
                "decision": decisions[event.kind],
                "by": details.get("by"),
                "at": format_datetime(aware(event.at)),
                "note": details.get("note"),
            }
    return None


def _event(event: LeadEvent) -> dict[str, Any]:
    """Return a timeline entry as the lead's timeline shows it."""
    return {
        "at": format_datetime(aware(event.at)),
        "kind": event.kind,
        "message": event.message,
        "details": event.details,
    }


def _dedupe(checks: list[dict], events, status: str) -> list[dict[str, Any]]:
    """Add to each dedupe check what routing found: the original lead, or no match."""
    duplicate = next((e for e in events if e.kind == "duplicate"), None)
    reached = status not in (Status.UNCATEGORIZED, Status.AUDIT, Status.PENDING) and not any(
        e.kind in ("audit", "uncategorized", "test_mode") for e in events
    )
    out = []
    matched = False  # checks after the one that matched were not looked at
    for check in checks:
        entry = dict(check)
        if duplicate is not None and (duplicate.details or {}).get("check") == check["label"]:
            entry["result"] = "duplicate"
            entry["original"] = duplicate.details.get("original")
            matched = True
        elif check["key"] is None:
            entry["result"] = "skipped"
        elif not reached or matched:
            entry["result"] = "not checked"
        else:
            entry["result"] = "no match"
        out.append(entry)
    return out


def _bidding(rule_bids: list[dict], events) -> list[dict[str, Any]]:
    """Return each bidding stage as routing recorded it: every bid and why it won or lost."""
    stages = []
    for event in events:
        if event.kind not in _BIDDING_KINDS or not event.details:
            continue
        details = event.details
        decisions = details.get("decisions")
        if decisions is None:  # routed before per-bid decisions were recorded
            decisions = [
                {"bid": bid_id, "result": "excluded", "reason": reason}
                for bid_id, reason in details.get("excluded", {}).items()
            ]
            if details.get("winner"):
                decisions.append({"bid": details["winner"], "result": "won", "reason": ""})
        stages.append(
            {
                "method": details.get("method"),
                "winner": details.get("winner"),
                "decisions": decisions,
                "recorded": "decisions" in details,
            }
        )
    considered = {d["bid"] for stage in stages for d in stage["decisions"]}
    not_on_type = [
        {
            "bid": b["id"],
            "customer": b["customer"],
            "price": b["price"],
            "result": "not_offered",
            "reason": b.get("reason", ""),
        }
        for b in rule_bids
        if b["id"] not in considered and not b["eligible"] and "lead type" in b.get("reason", "")
    ]
    if not_on_type and stages:  # bidding ran: bids on other lead types were not offered
        stages.append({"method": None, "winner": None, "decisions": not_on_type, "recorded": False})
    return stages
