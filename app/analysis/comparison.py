"""One comparison of two rule sets over streamed leads: the replay of both, and its report.

`DryRun.feed` routes batches of rows with both rule sets (`replay.Side`); `DryRun.report`
turns the (before, after) outcome counts into the JSON documented in docs/analysts.md.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.analysis import leadsql
from app.analysis.replay import (
    AUDITS,
    BID,
    CUSTOMER,
    DUPLICATE,
    ELIGIBLE,
    LEAD_TYPE,
    NOT_ROUTED,
    PRICE,
    STATUS,
    Conditions,
    Side,
    outcome_json,
    python_needs,
)
from app.domain.status import SOLD, Status, same_outcome
from app.dsl.fieldtypes import format_datetime
from app.dsl.ruleset import RuleSet
from app.pipeline.lead import build_lead
from app.store.listing import LeadFilter
from app.store.models import Lead, Source

SAMPLE_SIZE = 10
FORGET_EVERY = 86400.0  # at least a simulated day between two purges of expired dedupe keys


@dataclass(frozen=True)
class DryRunRequest:
    """What to compare, over which stored leads."""

    tenant_id: int
    baseline: RuleSet
    proposed: RuleSet
    baseline_version: int | None  # the stored version number, for the report
    filters: LeadFilter = field(default_factory=LeadFilter)
    where: str | None = None  # an expression over the category's fields (SQL-narrowed)
    limit: int | None = None  # the newest N leads of the window
    sample_size: int = SAMPLE_SIZE
    seed: int = 0


def rule_set_versions(request: DryRunRequest) -> dict[str, Any]:
    """Return the report's `baseline` and `proposed` entries: which rules were compared."""
    return {
        "baseline": {
            "version": request.baseline_version,
            "content_hash": request.baseline.content_hash,
        },
        "proposed": {
            "content_hash": request.proposed.content_hash,
            "warnings": len(request.proposed.warnings),
        },
    }


class _Tally:
    """Counts of one side."""

    def __init__(self) -> None:
        self.statuses: Counter = Counter()
        self.lead_types: Counter = Counter()
        self.audits: Counter = Counter()
        self.duplicates: Counter = Counter()  # by check label
        self.eligible: Counter = Counter()
        self.won: Counter = Counter()
        self.bid_revenue: Counter = Counter()
        self.revenue: Counter = Counter()  # by customer

    def add(self, outcome: tuple, n: int) -> None:
        self.statuses[outcome[STATUS]] += n
        self.lead_types[outcome[LEAD_TYPE]] += n
        for label in outcome[AUDITS]:
            self.audits[label] += n
        if outcome[DUPLICATE] is not None:
            self.duplicates[outcome[DUPLICATE]] += n
        for bid_id in outcome[ELIGIBLE]:
            self.eligible[bid_id] += n
        if outcome[BID] is not None:
            self.won[outcome[BID]] += n
            self.bid_revenue[outcome[BID]] += outcome[PRICE] * n
            self.revenue[outcome[CUSTOMER]] += outcome[PRICE] * n


class _Reached(Counter):
    """How many replayed leads reached each stage that calls out, by its index: the
    router appends the index of each it passes (a dry-run never calls)."""

    def append(self, index: int, /) -> None:
        self[index] += 1


def _calling(ruleset: RuleSet) -> dict[str, _Reached]:
    """Return a counter for each category whose plan has a stage that calls out."""
    return {
        category: _Reached()
        for category, plan in ruleset.plans.items()
        if any(stage.calls_out for stage in plan.stages)
    }


def _would_call(ruleset: RuleSet, reached: dict[str, _Reached]) -> list[dict[str, Any]]:
    """Return what each stage that calls out would have called, and for how many leads."""
    out = []
    for category, counts in sorted(reached.items()):
        for index, stage in enumerate(ruleset.plans[category].stages):
            if not stage.calls_out:
                continue
            note = stage.would_call
            if stage.kind == "ping_post":
                note += " (replayed with Sluice's own bids only)"
            out.append(
                {
                    "category": category,
                    "stage": index + 1,
                    "kind": stage.kind,
                    "partners": list(stage.partners),
                    "leads": counts[index],
                    "note": note,
                }
            )
    return out


class DryRun:
    """One comparison: feed it batches of streamed rows, then ask for the report."""

    def __init__(
        self,
        request: DryRunRequest,
        customers: Mapping[str, bool],
        sources: Mapping[int, str],
        conditions: Conditions,
    ):
        self.request = request
        self.sources = sources  # source id -> name
        self.conditions = conditions
        self.before = Side(request.baseline, conditions, customers, 0)
        self.after = Side(request.proposed, conditions, customers, 1)
        self.pairs: Counter = Counter()  # (category, baseline agrees with stored, old, new)
        self.masks: Counter = Counter()  # mask of the database's verdicts -> leads
        self.changed = 0
        longest = max(self.before.longest_window, self.after.longest_window)
        self.forget_every = max(FORGET_EVERY, longest / 2)
        self.sample: list[tuple] = []
        #: leads reaching the stages that call out, by category, on each side
        self.reached = (_calling(request.baseline), _calling(request.proposed))
        self.random = random.Random(request.seed)
        self.python_counts: dict[int, int] = {}  # slot -> matches, for inexact SQL counts
        self.narrow = None
        self._forget_at: float | None = None
        fields, self.meta = python_needs(conditions, (request.baseline, request.proposed))
        #: The fields the rows carry (None: the rows carry the whole data).
        self.fields: tuple[str, ...] | None = tuple(sorted(fields))

    def narrow_with(self, predicate, fields: set[str], meta: set[str]) -> None:
        """Re-check every streamed lead with the predicate (the narrowing SQL was a superset)."""
        self.narrow = predicate
        self.meta = self.meta | meta
        if self.fields is not None:
            self.fields = tuple(sorted(set(self.fields) | fields))

    def bit_counts(self, bits: int) -> list[int]:
        """Return how many streamed leads had each of the database's verdicts true."""
        counts = [0] * bits
        for mask, n in self.masks.items():
            bit = 0
            while mask:
                if mask & 1:
                    counts[bit] += n
                mask >>= 1
                bit += 1
        return counts

    def count_in_python(self, slots: list[int]) -> None:
        """Count these condition slots while streaming (their SQL is not exact)."""
        self.python_counts = dict.fromkeys(slots, 0)

    def feed(self, rows: list[tuple]) -> None:
        """Route a batch of rows (leadsql.STREAM_COLUMNS), oldest first, on both sides."""
        loads = leadsql.decode_text  # the stream's data is JSON text
        meta = self.meta
        sources = self.sources
        functions = self.conditions.functions
        size = len(functions)
        # The sides' routers called directly (Side.route would add a call per lead and side).
        routers_before, routers_after = self.before.routers, self.after.routers
        ledger_before, ledger_after = self.before.ledger, self.after.ledger
        pairs, masks = self.pairs, self.masks
        python_nodes = self.conditions.python_nodes
        extra = [(slot, python_nodes[slot][0]) for slot in self.python_counts]
        counts, narrow = self.python_counts, self.narrow
        forget_at = self._forget_at
        reached_before, reached_after = self.reached
        if len(self.conditions.sql) > leadsql.MASK_BITS:  # several mask columns: join them
            rows = [(*row[:9], _joined(row[9:])) for row in rows]
        for (
            lead_id,
            at,
            received,
            source_id,
            partner,
            category,
            status,
            is_test,
            data,
            mask,
        ) in rows:
            lead = loads(data)  # the needed fields or the whole data: a dict either way
            if meta:
                if "received_at" in meta:
                    lead["@received_at"] = received
                if "source" in meta:
                    lead["@source"] = sources.get(source_id)
                if "partner" in meta:
                    lead["@partner"] = partner
                if "category" in meta:
                    lead["@category"] = category
                if "is_test" in meta:
                    lead["@is_test"] = bool(is_test)
            if narrow is not None and not narrow(lead):
                continue
            if forget_at is None:
                forget_at = at + FORGET_EVERY
            elif at >= forget_at:
                self.conditions.forget_before(
                    (at - self.before.longest_window, at - self.after.longest_window)
                )
                forget_at = at + self.forget_every
            memo = [None] * size
            router = routers_before.get(category)
            if router is None:
                old = NOT_ROUTED
            else:
                old = router.route(
                    lead,
                    at,
                    mask,
                    memo,
                    functions,
                    ledger_before,
                    passed=reached_before.get(category) if reached_before else None,
                )
            router = routers_after.get(category)
            if router is None:
                new = NOT_ROUTED
            else:
                new = router.route(
                    lead,
                    at,
                    mask,
                    memo,
                    functions,
                    ledger_after,
                    passed=reached_after.get(category) if reached_after else None,
                )
            for slot, slot_category in extra:
                if slot_category == category:
                    value = memo[slot]
                    if value is None:
                        value = functions[slot](lead)
                    if value:
                        counts[slot] += 1
            # Outcomes repeat: counting (old, new) pairs is one dict update per lead, and
            # every matrix and total of the report is derived from the pairs at the end.
            pairs[(category, same_outcome(status, old[0]), old, new)] += 1
            masks[mask] += 1  # per-rule counts: the database's verdicts, summed at the end
            if old != new and old[:7] != new[:7]:  # eligible bids aside
                self._changed(lead_id, category, at, old, new)
        self._forget_at = forget_at

    def _changed(self, lead_id, category, at: float, old: tuple, new: tuple) -> None:
        self.changed += 1
        entry = (lead_id, category, at, old, new)
        size = self.request.sample_size
        if len(self.sample) < size:
            self.sample.append(entry)
        else:  # reservoir sampling: every changed lead equally likely to be shown
            index = self.random.randrange(self.changed)
            if index < size:
                self.sample[index] = entry

    # -- the report ----------------------------------------------------------------------

    def _derive(self) -> None:
        """Compute the totals and matrices from the (old, new) pair counts."""
        self.tally_before, self.tally_after = _Tally(), _Tally()
        self.types: Counter = Counter()
        self.statuses: Counter = Counter()
        self.audit_changes: Counter = Counter()  # (label, "gained"|"lost")
        self.duplicate_changes: Counter = Counter()
        self.stored: Counter = Counter()
        self.categories: Counter = Counter()
        for (category, agrees, old, new), n in self.pairs.items():
            self.tally_before.add(old, n)
            self.tally_after.add(new, n)
            self.categories[category] += n
            self.stored[agrees] += n
            if old[LEAD_TYPE] != new[LEAD_TYPE]:
                self.types[(old[LEAD_TYPE], new[LEAD_TYPE])] += n
            if old[STATUS] != new[STATUS]:
                self.statuses[(old[STATUS], new[STATUS])] += n
            for label in set(new[AUDITS]) - set(old[AUDITS]):
                self.audit_changes[(label, "gained")] += n
            for label in set(old[AUDITS]) - set(new[AUDITS]):
                self.audit_changes[(label, "lost")] += n
            if (old[STATUS] == Status.DUPLICATE) != (new[STATUS] == Status.DUPLICATE):
                became = new[STATUS] == Status.DUPLICATE
                self.duplicate_changes["became" if became else "stopped"] += n
        self.leads = sum(self.categories.values())

    def report(self, rule_counts: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
        """Return the comparison as a JSON-able dict."""
        request = self.request
        self._derive()
        b, a = self.tally_before, self.tally_after
        return {
            **rule_set_versions(request),
            "leads": self.leads,
            "changed": self.changed,
            "categories": dict(sorted(self.categories.items())),
            "lead_types": {
                "before": _named(b.lead_types),
                "after": _named(a.lead_types),
                "changes": [
                    {"from": old, "to": new, "leads": n}
                    for (old, new), n in sorted(self.types.items(), key=_by_count)
                ],
            },
            "sold": {
                "before": sum(b.statuses[status] for status in SOLD),
                "after": sum(a.statuses[status] for status in SOLD),
            },
            "uncategorized": {
                "before": b.statuses[Status.UNCATEGORIZED],
                "after": a.statuses[Status.UNCATEGORIZED],
            },
            "statuses": {
                "before": dict(sorted(b.statuses.items())),
                "after": dict(sorted(a.statuses.items())),
                "changes": [
                    {"from": old, "to": new, "leads": n}
                    for (old, new), n in sorted(self.statuses.items(), key=_by_count)
                ],
            },
            "audits": self._audits(),
            "duplicates": {
                "before": b.statuses[Status.DUPLICATE],
                "after": a.statuses[Status.DUPLICATE],
                "became": self.duplicate_changes["became"],
                "stopped": self.duplicate_changes["stopped"],
                "by_check": [
                    {"label": label, "before": b.duplicates[label], "after": a.duplicates[label]}
                    for label in _labels(request, "dedupes")
                ],
            },
            "bids": self._bids(),
            "revenue": self._revenue(),
            "rules": rule_counts,
            "baseline_replay": {
                "agree_with_stored_status": self.stored[True],
                "differ": self.stored[False],
            },
            "sample": self._sample(),
            "outbound": {
                "before": _would_call(request.baseline, self.reached[0]),
                "after": _would_call(request.proposed, self.reached[1]),
            },
            "elapsed_seconds": round(elapsed, 3),
        }

    def _audits(self) -> list[dict[str, Any]]:
        b, a = self.tally_before, self.tally_after
        return [
            {
                "label": label,
                "before": b.audits[label],
                "after": a.audits[label],
                "gained": self.audit_changes[(label, "gained")],
                "lost": self.audit_changes[(label, "lost")],
            }
            for label in _labels(self.request, "all_audits")
        ]

    def _bids(self) -> list[dict[str, Any]]:
        b, a = self.tally_before, self.tally_after
        request = self.request
        rows = []
        for bid_id in dict.fromkeys([*request.baseline.bids, *request.proposed.bids]):
            bid = request.proposed.bids.get(bid_id) or request.baseline.bids[bid_id]
            rows.append(
                {
                    "id": bid_id,
                    "customer": bid.customer,
                    "in_baseline": bid_id in request.baseline.bids,
                    "in_proposed": bid_id in request.proposed.bids,
                    "eligible_before": b.eligible[bid_id],
                    "eligible_after": a.eligible[bid_id],
                    "won_before": b.won[bid_id],
                    "won_after": a.won[bid_id],
                    "revenue_before": b.bid_revenue[bid_id] / 100,
                    "revenue_after": a.bid_revenue[bid_id] / 100,
                }
            )
        return rows

    def _revenue(self) -> dict[str, Any]:
        b, a = self.tally_before.revenue, self.tally_after.revenue
        customers = sorted(set(b) | set(a))
        return {
            "customers": [
                {
                    "customer": slug,
                    "before": b[slug] / 100,
                    "after": a[slug] / 100,
                    "change": (a[slug] - b[slug]) / 100,
                }
                for slug in customers
            ],
            "total": {
                "before": sum(b.values()) / 100,
                "after": sum(a.values()) / 100,
                "change": (sum(a.values()) - sum(b.values())) / 100,
            },
        }

    def _sample(self) -> list[dict[str, Any]]:
        if not self.sample:
            return []
        ids = [entry[0] for entry in self.sample]
        query = (
            Lead.select(
                Lead.id, Lead.public_id, Lead.partner_id, Lead.is_test, Lead.data, Source.name
            )
            .join(Source)
            .where(Lead.id.in_(ids))
        )
        stored = {row.id: row for row in query}
        out = []
        for lead_id, category, at, old, new in sorted(self.sample, key=_received):
            moment = datetime.fromtimestamp(at, UTC)
            received = format_datetime(moment)
            row = stored[lead_id]
            lead = build_lead(
                row.data,
                category=category,
                source=row.source.name,
                partner=row.partner_id,
                received_at=moment,
                is_test=row.is_test,
            )
            out.append(
                {
                    "lead": row.public_id,
                    "received_at": received,
                    "before": outcome_json(old),
                    "after": outcome_json(new),
                    "explain": {
                        "before": _explain(self.request.baseline, lead, category),
                        "after": _explain(self.request.proposed, lead, category),
                    },
                }
            )
        return out


def _joined(parts) -> int:
    mask = 0
    for index, part in enumerate(parts):
        mask |= part << (leadsql.MASK_BITS * index)
    return mask


def _explain(ruleset: RuleSet, lead: dict, category: str) -> dict[str, Any] | None:
    if category not in ruleset.categories:
        return None
    return ruleset.explain(lead, category)


def _received(entry: tuple) -> float:
    return entry[2]


def _by_count(item) -> tuple:
    (old, new), n = item
    return (-n, str(old), str(new))


def _named(counter: Counter) -> dict[str, int]:
    return {("(uncategorized)" if k is None else k): n for k, n in sorted(counter.items(), key=str)}


def _labels(request: DryRunRequest, attribute: str) -> list[str]:
    labels = [c.label for c in getattr(request.baseline, attribute)]
    labels += [c.label for c in getattr(request.proposed, attribute)]
    return list(dict.fromkeys(labels))
