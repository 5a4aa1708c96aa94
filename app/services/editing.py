"""Editing an unsold lead's data, validated as the intake validates it, and reclassifying a
lead against the active rules (after an edit, or on its own)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.analysis.projection import reproject
from app.domain.clock import aware, utcnow
from app.domain.editing import (
    EDITED,
    MAX_CHANGES,
    METADATA,
    RECLASSIFIED,
    Change,
    Reclassification,
    changes_between,
    edit_message,
    edit_refusal,
    reclassify_message,
)
from app.domain.errors import ConflictError, InvalidError, UnavailableError
from app.dsl.fieldtypes import is_blank
from app.dsl.ruleset import RuleSet
from app.pipeline.lead import build_lead
from app.pipeline.routing import classify_lead
from app.pipeline.validation import INVALID, lead_fields, validate_lead
from app.services.actor import Actor
from app.services.leads import find_lead, show_lead
from app.services.routio import ROUTIO_REQUIRED
from app.store.editing import Entry, LeadChange, Locked, change_lead
from app.store.models import Lead, Tenant
from app.store.rules import active_ruleset
from app.store.storable import unstorable


@dataclass(frozen=True)
class EditResult:
    """What an edit did: the lead now, each field it changed (none: nothing was written),
    and the lead's reclassification."""

    lead: Lead  # as `show_lead` returns it
    changes: dict[str, Change]
    reclassification: Reclassification


def edit_lead(actor: Actor, ref: str, changes: Mapping[str, object]) -> EditResult:
    """Change some of an unsold lead's fields and reclassify it against the active rules.

    `changes` maps field names to new values, given as a source would post them (a blank
    value removes the field); the lead's data with them is validated and normalized exactly
    as the intake validates a lead of its source and category (InvalidError keyed by field;
    a name the category does not declare, or the lead's metadata, is refused the same
    way). The new data, an `edited` timeline entry with each changed field's old and new
    value, the new lead type and its `reclassified` entry (when it changed) are written in
    one transaction under the lead's row lock; a lead sold or deleted meanwhile is refused
    (ConflictError). An edit that changes no value writes nothing; its reclassification is
    then the dry one (not applied).
    """
    actor.require("leads.edit")
    tenant = actor.acting_tenant()
    lead = find_lead(tenant, ref)
    refusal = edit_refusal(lead.public_id, lead.status, lead.deleted_at is not None)
    if refusal is not None:
        raise refusal
    if not isinstance(changes, Mapping):
        raise InvalidError(INVALID, {"_request": ["Send an object of field names to values."]})
    if not changes:
        raise InvalidError(INVALID, {"_request": ["Name at least one field to change."]})
    if len(changes) > MAX_CHANGES:
        raise InvalidError(INVALID, {"_request": [f"At most {MAX_CHANGES} fields an edit."]})
    ruleset = _rules(tenant, lead)
    done: list[tuple[dict[str, Change], Reclassification]] = []

    def decide(locked: Locked) -> LeadChange | None:
        data = edited_data(lead, ruleset, locked.data, changes)
        changed = changes_between(locked.data, data)
        new_type = _classify(lead, ruleset, data)
        applied = bool(changed) and new_type != locked.lead_type
        done.append((changed, Reclassification(lead.category, locked.lead_type, new_type, applied)))
        if not changed:
            return None
        details = {name: {"old": c.old, "new": c.new} for name, c in changed.items()}
        record = {"by": actor.name, "changes": details}
        entries = [Entry(EDITED, edit_message(actor.name, changed), record)]
        if applied:
            entries.append(_reclassified(actor, locked.lead_type, new_type, after=EDITED))
        return LeadChange(data, new_type, entries, data_changed=True)

    change_lead(lead, decide, utcnow(), lambda: reproject(tenant.id, [lead.id]))
    changed, reclassification = done[-1]
    return EditResult(show_lead(actor, lead.public_id), changed, reclassification)


def reclassify_lead(actor: Actor, ref: str, *, apply: bool) -> Reclassification:
    """Classify a lead's data against the active rules; with `apply`, write the new lead type.

    Without `apply` (a dry classification, `leads.explain`) nothing is written and any lead
    but a deleted one may be classified. With it (`leads.edit`), the lead must be unsold:
    its new lead type and a `reclassified` timeline entry are written under its row lock,
    or nothing when its lead type does not change. The category is the source's: it never
    changes. Reclassifying does not route the lead: reprocess it for that.
    """
    actor.require("leads.edit" if apply else "leads.explain")
    tenant = actor.acting_tenant()
    lead = find_lead(tenant, ref)
    if lead.deleted_at is not None:
        raise ConflictError(f"lead {lead.public_id} was deleted: it has no data to classify")
    if apply:
        refusal = edit_refusal(lead.public_id, lead.status, False)
        if refusal is not None:
            raise refusal
    ruleset = _rules(tenant, lead)
    if not apply:
        new_type = _classify(lead, ruleset, lead.data)
        return Reclassification(lead.category, lead.lead_type, new_type, applied=False)
    done: list[Reclassification] = []

    def decide(locked: Locked) -> LeadChange | None:
        new_type = _classify(lead, ruleset, locked.data)
        applied = new_type != locked.lead_type
        done.append(Reclassification(lead.category, locked.lead_type, new_type, applied))
        if not applied:
            return None
        entry = _reclassified(actor, locked.lead_type, new_type)
        return LeadChange(locked.data, new_type, [entry])

    change_lead(lead, decide, utcnow())
    return done[-1]


def edited_data(
    lead: Lead, ruleset: RuleSet, data: Mapping[str, Any], changes: Mapping[str, object]
) -> dict[str, Any]:
    """Return the lead's data with the changes, validated and normalized as the intake does
    for its source and category; raise InvalidError with every error, keyed by field.

    A field the lead holds that the rules no longer declare is kept as it is, or removed by
    a blank value; any other undeclared name is refused.
    """
    routio = lead.source.api_style == "routio"
    extra_required = ROUTIO_REQUIRED if routio else frozenset()
    declared = {
        field.name
        for field in lead_fields(
            ruleset, lead.category, extra_required=extra_required, require_zip=not routio
        )
    }
    errors: dict[str, list[str]] = {}
    submitted = dict(data)
    for name, value in changes.items():
        name = str(name)
        if name not in declared:
            if name in data and is_blank(value):
                del submitted[name]
            elif name in METADATA or name.startswith("@"):
                errors[name] = ["This is the lead's metadata: it cannot be edited."]
            else:
                errors[name] = [f"Not a field of category {lead.category!r}."]
            continue
        problem = unstorable(value)
        if problem is not None:
            errors[name] = [f"Holds {problem}, which cannot be stored."]
        elif is_blank(value):
            submitted.pop(name, None)
        else:
            submitted[name] = value
    kept = {name: value for name, value in submitted.items() if name not in declared}
    try:
        values, _, _ = validate_lead(
            {name: value for name, value in submitted.items() if name in declared},
            ruleset,
            lead.category,
            test_mode=lead.is_test,
            extra_required=extra_required,
            require_zip=not routio,
        )
    except InvalidError as error:
        invalid: dict[str, list[str]] = error.details  # type: ignore[assignment]
        for name, messages in invalid.items():
            errors.setdefault(name, messages)
        values = {}
    if errors:
        raise InvalidError(INVALID, dict(sorted(errors.items())))
    return {**values, **kept}


def _classify(lead: Lead, ruleset: RuleSet, data: Mapping[str, Any]) -> str | None:
    """Return the lead type the rules give the lead with this data."""
    seen = build_lead(
        dict(data),
        category=lead.category,
        source=lead.source.name,
        partner=lead.partner_id,
        received_at=aware(lead.received_at),
        is_test=lead.is_test,
    )
    return classify_lead(seen, ruleset, lead.category)


def _reclassified(
    actor: Actor, old: str | None, new: str | None, after: str | None = None
) -> Entry:
    """Return the timeline entry of a reclassification (`after`: the action that caused it)."""
    details: dict[str, Any] = {"by": actor.name, "old": old, "new": new}
    if after is not None:
        details["after"] = after
    return Entry(RECLASSIFIED, reclassify_message(actor.name, old, new), details)


def _rules(tenant: Tenant, lead: Lead) -> RuleSet:
    """Return the active rule set, which must have the lead's category (UnavailableError)."""
    _, ruleset = active_ruleset(tenant)
    if ruleset is None or lead.category not in ruleset.categories:
        raise UnavailableError(f"category {lead.category!r} has no active rules")
    found: RuleSet = ruleset
    return found
