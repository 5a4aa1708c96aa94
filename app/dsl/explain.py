"""Explain a lead: every rule's verdict, with each clause's value, for analysts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.dsl.interpreter import Trace, evaluate_traced, evaluate_value

if TYPE_CHECKING:  # app.dsl.ruleset imports this module when a lead is explained
    from app.dsl.ruleset import Assignment, Condition, LeadType, RuleSet


_ALTER_REASONS = {
    "condition_false": "its condition is false",
    "missing": "its value is missing (it reads a missing field): the field is left as is",
    "unchanged": "the field already has this value",
}


def _trace(condition: Condition | None, lead: Mapping[str, Any]) -> tuple[bool, Trace | None]:
    if condition is None:
        return True, None
    return evaluate_traced(condition.node, lead)


def explain_lead(
    ruleset: RuleSet,
    lead: Mapping[str, Any],
    category: str,
    enriched: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return the lead type, audits, dedupe keys and bids the lead gets, and why; and the
    plan's stages (a marketplace stage with its claim price). An enrich stage is never
    called: it fills what `enriched` says its provider filled (a stored lead's record)."""
    chosen: LeadType | None = None
    lead_types = []
    for lead_type in ruleset.lead_types_of(category):
        matched, trace = _trace(lead_type.condition, lead)
        entry: dict[str, Any] = {
            "id": lead_type.id,
            "label": lead_type.label,
            "priority": lead_type.priority,
            "fallback": lead_type.fallback,
            "tried": chosen is None,
            "matched": matched,
            "chosen": False,
        }
        if trace is not None:
            entry["condition"] = trace
        if chosen is None and matched:
            chosen = lead_type
            entry["chosen"] = True
        lead_types.append(entry)

    audits = []
    for audit in ruleset.audits_of(category):
        matched, trace = _trace(audit.condition, lead)
        audits.append({"label": audit.label, "matched": matched, "condition": trace})

    keys = {id(check): key for check, key in ruleset.dedupe_keys(lead, category)}
    dedupes = []
    for check in ruleset.dedupes_of(category):
        entry = {
            "label": check.label,
            "fields": list(check.fields),
            "window_seconds": int(check.window.total_seconds()),
            "key": keys.get(id(check)),
        }
        if entry["key"] is None:
            missing = [name for name in check.fields if lead.get(name) in (None, "")]
            entry["skipped"] = "missing " + ", ".join(missing)
        dedupes.append(entry)

    # The plan's stages first: an alter stage changes what the bidding stages after it read.
    plan = ruleset.plans.get(category)
    stages: list[dict[str, Any]] = []
    values: Mapping[str, Any] = lead  # as the stages so far left them
    at_bidding: Mapping[str, Any] | None = None  # as the first bidding stage reads them
    for stage in plan.stages if plan is not None else ():
        if stage.kind == "marketplace":
            price = stage.price if stage.price is not None else "0.00"
            stages.append({"kind": stage.kind, "price": str(price), "teaser": list(stage.teaser)})
        elif stage.kind == "alter":
            lines, values = _explain_alter(stage.sets, values)
            stages.append({"kind": stage.kind, "lines": lines})
        elif stage.calls_out:
            entry = {"kind": stage.kind, "partners": list(stage.partners)}
            if stage.kind == "ping_post":
                entry["timeout_ms"] = stage.timeout_ms
                if at_bidding is None:  # Sluice's own bids compete with the offers
                    at_bidding = values
            if stage.kind == "enrich":
                entry["mode"] = stage.mode
                filled = (enriched or {}).get(stage.partners[0])
                if filled:
                    entry["filled"] = dict(filled)
                    values = {**values, **filled}
            entry["would_call"] = stage.would_call
            stages.append(entry)
        else:
            if at_bidding is None:
                at_bidding = values
            bids_named = list(stage.bids) if stage.bids is not None else None
            stages.append({"kind": stage.kind, "method": stage.method, "bids": bids_named})
    bid_values = at_bidding if at_bidding is not None else values

    bids = []
    for bid in ruleset.bids_of(category):
        entry = {"id": bid.id, "customer": bid.customer, "price": str(bid.price)}
        if chosen is None or chosen.id not in bid.lead_types:
            entry["eligible"] = False
            entry["reason"] = (
                "lead type "
                + (repr(chosen.id) if chosen else "none")
                + (" is not one of " + ", ".join(bid.lead_types))
            )
        else:
            matched, trace = _trace(bid.condition, bid_values)
            entry["eligible"] = matched
            if trace is not None:
                entry["condition"] = trace
            if not matched:
                entry["reason"] = "condition is false"
        bids.append(entry)

    return {
        "rule_set": ruleset.content_hash,
        "category": category,
        "lead_type": {"id": chosen.id, "label": chosen.label} if chosen else None,
        "status_hint": "uncategorized" if chosen is None else None,
        "lead_types": lead_types,
        "audits": audits,
        "dedupe": dedupes,
        "bids": bids,
        "stages": stages,
        "altered": (
            {name: value for name, value in values.items() if name[:1] != "@"}
            if values is not lead
            else None
        ),
    }


def _explain_alter(
    lines: tuple[Assignment, ...], lead: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
    """Return what each `set` line does (applied or not, and why), evaluated with the
    interpreter in order, and the values the stage leaves (the lead itself: unchanged)."""
    out = []
    values = lead
    for line in lines:
        entry: dict[str, Any] = {
            "line": line.line,
            "field": line.field,
            "value": line.source,
            "before": values.get(line.field),
        }
        result, value = "condition_false", None
        matched, trace = _trace(line.condition, values)
        if trace is not None:
            entry["condition"] = trace
        if matched:
            result, value = line.settle(evaluate_value(line.node, values), values)
        entry["result"] = result
        if result == "applied":
            entry["after"] = value
            values = {**values, line.field: value}
        else:
            entry["reason"] = _ALTER_REASONS.get(result) or f"not valid for the field: {value}"
        out.append(entry)
    return out, values
