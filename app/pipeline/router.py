"""The router: one rule set's decisions for one category, compiled once, used by live routing
and by the dry-run's replay alike.

A lead goes through classification (the first lead type by priority whose condition holds,
else the fallback), the audits (any that holds: held for audit), the dedupe checks (a key
recorded within its window: a duplicate; only a lead that passes extends its keys'
windows), then the plan's stages in order: a bidding stage's auction (app/pipeline/
bidding.py), the marketplace (its price: the claim price), an alter stage (its `set` lines
change the lead's values for the stages after it: the bids' conditions are then evaluated
on the changed values, in Python), or, when no stage took the lead, unassigned.

Conditions come from a verdict table (app/pipeline/verdicts.py): the mask of the database's
verdicts and a per-lead memo of the Python ones. What the mask alone decides (the lead
types and audits left to try, a lead type's eligible bids) is remembered per mask. With a
`trace` (live routing's timeline, app/pipeline/timeline.py) every decision is reported to
it, every bid's included; without one (the replay) auctions stop at the first bid that can
take the lead.

A decision is a tuple, cheap to make a million times: (status, lead type, audits flagged,
dedupe check, bid, customer, price cents, eligible bids); a marketplace lead's price is the
price it can be claimed for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.domain.money import to_cents
from app.domain.partners import CallRecord, Phase
from app.domain.routing import Offer, Outbound, Resume
from app.domain.status import Status
from app.dsl.fieldtypes import normalize_value
from app.dsl.ruleset import (
    APPLIED,
    Assignment,
    Bid,
    Condition,
    DedupeCheck,
    LeadType,
    RuleSet,
    Stage,
)
from app.pipeline.bidding import (
    Candidate,
    Ledger,
    StageRouter,
    rank_open_bids,
    run_auction,
    sort_out,
)
from app.pipeline.calendar import OpenHours, PeriodClock
from app.pipeline.verdicts import Conditions

#: (status, lead type, audits flagged, dedupe check, bid, customer, price cents, eligible bids)
STATUS, LEAD_TYPE, AUDITS, DUPLICATE, BID, CUSTOMER, PRICE, ELIGIBLE = range(8)
#: what the mask alone decides is remembered for this many distinct masks each
MASKS_KEPT = 4096

ASSIGNED, DUPLICATE_STATUS = Status.ASSIGNED, Status.DUPLICATE
AUDIT, UNCATEGORIZED = Status.AUDIT, Status.UNCATEGORIZED
MARKETPLACE, UNASSIGNED = Status.MARKETPLACE, Status.UNASSIGNED
PENDING, POSTED = Status.PENDING, Status.POSTED
#: The stages that call out, and the phase each calls first.
FIRST_PHASE: dict[str, Phase] = {"ping_post": "ping", "post": "post", "enrich": "enrich"}

Memo = list[Any]
#: what one `set` line did: (the line, its result, the field's value before, the value set
#: or, for an invalid one, why)
Alteration = tuple[Assignment, str, Any, Any]
Functions = list[Callable[[Mapping[str, Any]], Any]]


class Trace(Protocol):
    """What hears every decision of a lead's routing (live routing's timeline)."""

    calls_out: bool  # False: stages that call out are passed, as the replay passes them

    def classified(self, lead_type: LeadType | None) -> None: ...
    def uncategorized(self) -> None: ...
    def audited(self, flagged: tuple[str, ...]) -> None: ...
    def duplicate(self, check: DedupeCheck, entry: list[Any]) -> None: ...
    def recorded(self, entries: list[list[Any]]) -> None: ...
    def auction(
        self,
        stage: StageRouter,
        considered: list[Candidate],
        set_aside: list[tuple[Candidate, str]],
        ranked: list[Candidate],
        at: float,
    ) -> None: ...
    def marketplace(self, price_cents: int) -> None: ...
    def altered(self, lines: list[Alteration], data: Mapping[str, Any]) -> None: ...
    def skipped(self, kind: str) -> None: ...
    def unassigned(self) -> None: ...
    def outbound(self, request: Outbound) -> None: ...
    def enriched(
        self,
        stage: Stage,
        record: CallRecord,
        filled: dict[str, Any],
        before: dict[str, Any],
        data: Mapping[str, Any],
    ) -> None: ...
    def posted(self, record: CallRecord, price_cents: int) -> None: ...
    def not_posted(self, records: Sequence[CallRecord]) -> None: ...
    def offers(
        self,
        resume: Resume,
        offers: list[Offer],
        ranked: list[Candidate],
        chosen: Offer | Candidate | None,
    ) -> None: ...


class Passed(Protocol):
    """What hears the index of each calling stage a replay passes without calling."""

    def append(self, index: int, /) -> None: ...


@dataclass(frozen=True, eq=False, slots=True)
class Outgoing:
    """A stage that calls out (ping_post, post, enrich): its rule and, for ping_post, the
    auction of Sluice's own bids that its partners' offers compete with."""

    index: int  # in the plan
    stage: Stage
    auction: StageRouter | None = None

    def first_call(self) -> Outbound:
        """Return the calls the stage starts with."""
        stage = self.stage
        phase = FIRST_PHASE[stage.kind]
        return Outbound(self.index, stage.kind, phase, stage.partners, stage.timeout_ms)


@dataclass(frozen=True, eq=False, slots=True)
class TypeRouter:
    """A lead type's bids, and how each stage of the plan goes through them."""

    bids: tuple[Candidate, ...]  # file order
    #: bids' flags -> their ids (the eligible bids reported); when every condition is a
    #: database bit or none: mask -> (eligible flags, ids), filled as masks come
    names: dict[int, tuple[str, ...]]
    by_mask: dict[int, tuple[int, tuple[str, ...]]] | None
    #: (kind, its auction for a bidding stage, its lines for an alter stage, its calls for
    #: a stage that calls out) in plan order
    stages: tuple[tuple[str, StageRouter | tuple[Assignment, ...] | Outgoing | None], ...]


class CategoryRouter:
    """One rule set's routing of one category's leads."""

    def __init__(self, ruleset: RuleSet, category: str, conditions: Conditions) -> None:
        self.ruleset = ruleset
        self.category = category
        types = ruleset._by_category[category].field_types

        def ref(condition: Condition | None) -> tuple[int, int]:
            if condition is None:
                return (-1, -1)
            return conditions.condition(category, condition, types)

        #: (lead type, bit, slot); both -1: the fallback (or no condition)
        self.lead_types = tuple((t, *ref(t.condition)) for t in ruleset.lead_types_of(category))
        self.audits = tuple((a.label, *ref(a.condition)) for a in ruleset.audits_of(category))
        #: (check, key slot, window seconds)
        self.dedupes: tuple[tuple[DedupeCheck, int, float], ...] = tuple(
            (d, conditions.dedupe_key(category, d.fields, types), d.window.total_seconds())
            for d in ruleset.dedupes_of(category)
        )
        #: mask -> (lead types, audits) left to try once the database's verdicts are applied:
        #: (lead type, slot) pairs in order, slot -1 for one that holds (the rest dropped)
        self.by_mask: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self.by_type = self._compile_bids(ruleset, category, ref)
        #: the category's fields by name: an enrich stage fills those its provider answers
        self.fields = {f.name: f for f in ruleset.categories[category].fields}
        marketplace = ruleset.marketplace_of(category)
        #: the claim price of the leads the plan places on the marketplace (none given: 0)
        self.offer_cents = to_cents(marketplace.price or 0) if marketplace is not None else 0

    def _compile_bids(
        self, ruleset: RuleSet, category: str, ref: Callable[[Condition | None], tuple[int, int]]
    ) -> dict[str, TypeRouter]:
        position = {bid_id: index for index, bid_id in enumerate(ruleset.bids)}
        clocks: dict[tuple[str, str], PeriodClock] = {}

        def clock(bid: Bid, period: str) -> PeriodClock:
            key = (bid.timezone, period)
            if key not in clocks:
                clocks[key] = PeriodClock(bid, period)
            return clocks[key]

        bids: dict[str, list[Candidate]] = {}
        for flag, bid in enumerate(ruleset.bids_of(category)):
            limits = []
            if bid.cap is not None:
                limits.append((True, bid.cap.limit, clock(bid, bid.cap.period), bid.cap.period))
            if bid.budget is not None:
                budget = to_cents(bid.budget.amount)
                limits.append((False, budget, clock(bid, bid.budget.period), bid.budget.period))
            bit, slot = ref(bid.condition)
            candidate = Candidate(
                bid,
                position[bid.id],
                bit,
                slot,
                to_cents(bid.price),
                bid.customer,
                tuple((*limit, number) for number, limit in enumerate(limits)),
                OpenHours(bid.schedule) if bid.schedule is not None else None,
                1 << flag,
            )
            for type_id in bid.lead_types:
                bids.setdefault(type_id, []).append(candidate)
        plan = ruleset.plans.get(category)
        plan_stages = plan.stages if plan is not None else ()
        by_type = {}
        for lead_type in ruleset.lead_types_of(category):
            candidates = bids.get(lead_type.id, [])
            stages: list[tuple[str, StageRouter | tuple[Assignment, ...] | Outgoing | None]] = []
            for index, stage in enumerate(plan_stages):
                if stage.kind == "alter":
                    stages.append(("alter", stage.sets))
                    continue
                if stage.calls_out:  # ping_post: every bid of the type competes with offers
                    auction = None
                    if stage.kind == "ping_post":
                        auction = _auction(candidates, "highest_price", None)
                    stages.append((stage.kind, Outgoing(index, stage, auction)))
                elif stage.kind == "bidding":
                    stages.append(("bidding", _auction(candidates, stage.method, stage.bids)))
                else:
                    stages.append((stage.kind, None))
            static = all(c.slot < 0 for c in candidates)
            by_type[lead_type.id] = TypeRouter(
                tuple(candidates), {}, {} if static else None, tuple(stages)
            )
        return by_type

    def _plan(self, mask: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """Return what is left to decide for a lead whose database verdicts are `mask`."""
        types = []
        for lead_type, bit, slot in self.lead_types:
            if bit >= 0:
                if mask >> bit & 1:
                    types.append((lead_type, -1))
                    break
            elif slot < 0:
                types.append((lead_type, -1))  # the fallback
                break
            else:
                types.append((lead_type, slot))
        audits = []
        for label, bit, slot in self.audits:
            if bit < 0:
                audits.append((label, slot))
            elif mask >> bit & 1:
                audits.append((label, -1))
        plan = (tuple(types), tuple(audits))
        if len(self.by_mask) < MASKS_KEPT:
            self.by_mask[mask] = plan
        return plan

    def classify(
        self, lead: Mapping[str, Any], mask: int, memo: Memo, fns: Functions, *, audit: bool = True
    ) -> tuple[LeadType | None, tuple[str, ...]]:
        """Return the lead's type (the first by priority whose condition holds, else the
        fallback; None when neither) and, when it has one and `audit`, the labels of the
        audits that hold for it."""
        types, audits = self.by_mask.get(mask) or self._plan(mask)
        lead_type = None
        for option, slot in types:
            if slot < 0:
                lead_type = option
                break
            value = memo[slot]
            if value is None:
                value = memo[slot] = fns[slot](lead)
            if value:
                lead_type = option
                break
        if lead_type is None or not audit:
            return lead_type, ()
        flagged: tuple[str, ...] = ()
        for label, slot in audits:
            if slot >= 0:
                value = memo[slot]
                if value is None:
                    value = memo[slot] = fns[slot](lead)
                if not value:
                    continue
            flagged += (label,)
        return lead_type, flagged

    def eligible_bids(
        self,
        type_router: TypeRouter,
        lead: Mapping[str, Any],
        mask: int,
        memo: Memo,
        fns: Functions,
    ) -> tuple[int, tuple[str, ...]]:
        """Return (flags, ids) of the lead type's bids whose condition holds."""
        by_mask = type_router.by_mask
        found = by_mask.get(mask) if by_mask is not None else None
        if found is not None:
            return found
        eligible = 0
        for candidate in type_router.bids:
            bit = candidate.bit
            if bit >= 0:
                if not mask >> bit & 1:
                    continue
            elif candidate.slot >= 0:
                slot = candidate.slot
                value = memo[slot]
                if value is None:
                    value = memo[slot] = fns[slot](lead)
                if not value:
                    continue
            eligible |= candidate.flag
        names = type_router.names.get(eligible)
        if names is None:
            names = type_router.names[eligible] = tuple(
                [c.bid.id for c in type_router.bids if c.flag & eligible]
            )
        if by_mask is not None and len(by_mask) < MASKS_KEPT:
            by_mask[mask] = (eligible, names)
        return eligible, names

    def open_bids(
        self,
        lead_type: LeadType,
        lead: Mapping[str, Any],
        at: float,
        mask: int,
        memo: Memo,
        fns: Functions,
        start: int = 0,
    ) -> list[Candidate]:
        """Return the bids the lead's bidding stages may read for: those whose condition
        holds, that the stage takes and whose schedule is open at `at`, in the stages that
        can run (from stage `start` up to the marketplace)."""
        type_router = self.by_type[lead_type.id]
        eligible, _ = self.eligible_bids(type_router, lead, mask, memo, fns)
        found: dict[str, Candidate] = {}
        stages = type_router.stages[start:] if start else type_router.stages
        for kind, stage in stages:
            if kind == "marketplace":
                break
            if isinstance(stage, Outgoing):  # ping_post: its own bids; post, enrich: none
                stage = stage.auction
            if isinstance(stage, tuple):  # an alter stage: the bids after it read its values
                changed = alter(lead, stage, None)
                if changed is not None:
                    lead = changed
                    eligible, _ = self.eligible_on(type_router, lead)
            elif stage is not None and eligible:
                for candidate in sort_out(type_router.bids, stage, eligible, at)[2]:
                    found.setdefault(candidate.bid.id, candidate)
        return list(found.values())

    def eligible_on(
        self, type_router: TypeRouter, lead: Mapping[str, Any]
    ) -> tuple[int, tuple[str, ...]]:
        """Return (flags, ids) of the lead type's bids whose condition holds for values an
        alter stage changed: evaluated in Python (the mask and memo hold the stored values')."""
        eligible = 0
        for candidate in type_router.bids:
            condition = candidate.bid.condition
            if condition is None or condition.predicate(lead):
                eligible |= candidate.flag
        names = type_router.names.get(eligible)
        if names is None:
            names = type_router.names[eligible] = tuple(
                [c.bid.id for c in type_router.bids if c.flag & eligible]
            )
        return eligible, names

    def route(
        self,
        lead: Mapping[str, Any],
        at: float,
        mask: int,
        memo: Memo,
        fns: Functions,
        ledger: Ledger,
        trace: Trace | None = None,
        *,
        audit: bool = True,
        start: int = 0,
        passed: Passed | None = None,
    ) -> tuple[Any, ...]:
        """Decide a lead received at `at` (epoch seconds); return the decision tuple.

        `mask` holds the database's verdicts (bit i: condition i holds); `memo` the Python
        ones evaluated so far for this lead (None: not yet), computed with `fns`. The
        ledger's counters, last wins and the dedupe history entries (in the memo) are
        updated as the lead is decided; `trace`, when given, hears every decision. Without
        `audit` the audits are skipped (a lead whose review approved it). The plan's stages
        are tried from stage `start` (a reprocess from a stage; 0: all of them): the lead
        is classified, audited and checked for duplicates all the same. `passed`: see
        `run_stages`.
        """
        lead_type, flagged = self.classify(lead, mask, memo, fns, audit=audit)
        if trace is not None:
            trace.classified(lead_type)
        if lead_type is None:
            if trace is not None:
                trace.uncategorized()
            return (UNCATEGORIZED, None, (), None, None, None, 0, ())
        type_id = lead_type.id
        if flagged:
            if trace is not None:
                trace.audited(flagged)
            return (AUDIT, type_id, flagged, None, None, None, 0, ())
        if self.dedupes:
            side = ledger.side
            entries = []
            for check, slot, window in self.dedupes:
                entry = memo[slot]
                if entry is None:
                    entry = memo[slot] = fns[slot](lead)
                if entry is False:
                    continue  # a field is missing: the check is skipped
                if entry[side] >= at - window:
                    if trace is not None:
                        trace.duplicate(check, entry)
                    return (DUPLICATE_STATUS, type_id, (), check.label, None, None, 0, ())
                entries.append(entry)
            for entry in entries:  # only a lead that passes extends its keys' windows
                entry[side] = at
            if trace is not None:
                trace.recorded(entries)
        type_router = self.by_type[type_id]
        by_mask = type_router.by_mask
        found = by_mask.get(mask) if by_mask is not None else None
        eligible, names = found or self.eligible_bids(type_router, lead, mask, memo, fns)
        return self.run_stages(
            type_router, type_id, lead, eligible, names, at, ledger, trace, start, passed=passed
        )

    def resume(
        self,
        lead: Mapping[str, Any],
        at: float,
        resume: Resume,
        ledger: Ledger,
        trace: Trace,
    ) -> tuple[Any, ...]:
        """Take routing up again at the calling stage `resume.stage`, with what its calls
        answered: the lead keeps its type, and its audits and dedupe checks (passed before
        the calls) are not run again."""
        type_router = self.by_type[resume.lead_type]
        eligible, names = self.eligible_on(type_router, lead)
        return self.run_stages(
            type_router,
            resume.lead_type,
            lead,
            eligible,
            names,
            at,
            ledger,
            trace,
            resume.stage,
            resume=resume,
        )

    def run_stages(
        self,
        type_router: TypeRouter,
        type_id: str,
        lead: Mapping[str, Any],
        eligible: int,
        names: tuple[str, ...],
        at: float,
        ledger: Ledger,
        trace: Trace | None,
        start: int,
        *,
        resume: Resume | None = None,
        passed: Passed | None = None,
    ) -> tuple[Any, ...]:
        """Run the plan's stages from `start`; return the decision tuple.

        A stage that calls out stops live routing (a `trace` that is given a `resume` or
        none): the decision is pending and the trace hears the calls to make. With the
        calls' records (`resume`, for that stage) it decides on them. Without a trace (the
        replay), or one that does not call out (a ping's quote), nothing is called: enrich
        and post stages pass, a ping_post stage sells to Sluice's own bids alone, and
        `passed` (when given) gets the index of each."""
        stages = type_router.stages
        for index in range(start, len(stages)):
            kind, stage = stages[index]
            if isinstance(stage, Outgoing) and (trace is None or not trace.calls_out):
                if passed is not None:  # the replay: never calls
                    passed.append(index)
                if stage.auction is None:
                    continue
                stage = stage.auction  # ping_post: Sluice's own bids alone
            if isinstance(stage, StageRouter):
                if trace is not None:
                    set_aside, considered, open_bids = sort_out(
                        type_router.bids, stage, eligible, at
                    )
                    excluded, ranked = rank_open_bids(open_bids, stage, at, ledger)
                    trace.auction(stage, considered, set_aside + excluded, ranked, at)
                    winner = ranked[0] if ranked else None
                elif eligible:
                    winner = run_auction(stage, eligible, at, ledger)
                else:
                    winner = None
                if winner is not None:
                    bid = winner.bid
                    return (ASSIGNED, type_id, (), None, bid.id, bid.customer, winner.price, names)
            elif kind == "marketplace":
                if trace is not None:
                    trace.marketplace(self.offer_cents)
                return (MARKETPLACE, type_id, (), None, None, None, self.offer_cents, names)
            elif isinstance(stage, Outgoing):
                assert trace is not None
                if resume is None or resume.stage != index:
                    trace.outbound(stage.first_call())
                    return (PENDING, type_id, (), None, None, None, 0, names)
                records = resume.records
                if kind == "enrich":
                    changed = self._enrich(lead, stage.stage, records[-1], trace)
                    if changed is not None:
                        lead = changed
                        eligible, names = self.eligible_on(type_router, lead)
                    continue
                sold = next(
                    (record for record in records if record.phase == "post" and record.accepted),
                    None,
                )
                if sold is not None:
                    price = _posted_price(sold, records)
                    trace.posted(sold, price)
                    return (POSTED, type_id, (), None, None, None, price, names)
                if kind == "post":
                    trace.not_posted(records)
                    continue
                decided = self._offers(
                    type_router, type_id, stage, eligible, names, at, ledger, trace, resume
                )
                if decided is not None:
                    return decided
            elif stage is not None:  # an alter stage's lines
                lines: list[Alteration] | None = [] if trace is not None else None
                changed = alter(lead, stage, lines)
                if changed is not None:
                    lead = changed
                    eligible, names = self.eligible_on(type_router, lead)
                if trace is not None and lines is not None:
                    trace.altered(lines, lead)
            elif trace is not None:
                trace.skipped(kind)
        if trace is not None:
            trace.unassigned()
        return (UNASSIGNED, type_id, (), None, None, None, 0, names)

    def _offers(
        self,
        type_router: TypeRouter,
        type_id: str,
        stage: Outgoing,
        eligible: int,
        names: tuple[str, ...],
        at: float,
        ledger: Ledger,
        trace: Trace,
        resume: Resume,
    ) -> tuple[Any, ...] | None:
        """Decide a ping_post stage on its partners' offers and Sluice's own bids: the best
        price wins (a tie: the own bid, sold without a post). A partner's best offer is
        posted to next (pending); one whose post failed is out. None: nobody can take it."""
        records = resume.records
        failed = {record.partner for record in records if record.phase == "post"}
        offers = sorted(
            (
                Offer(record.partner, record.answer.price_cents, record.answer.reference)
                for record in records
                if record.phase == "ping"
                and record.accepted
                and record.partner not in failed
                and record.answer is not None
                and record.answer.price_cents is not None
            ),
            key=lambda offer: -offer.price_cents,
        )
        auction = stage.auction
        assert auction is not None
        set_aside, considered, open_bids = sort_out(type_router.bids, auction, eligible, at)
        excluded, ranked = rank_open_bids(open_bids, auction, at, ledger)
        best = offers[0] if offers else None
        if ranked and (best is None or ranked[0].price >= best.price_cents):
            trace.offers(resume, offers, ranked, ranked[0])
            trace.auction(auction, considered, set_aside + excluded, ranked, at)
            bid = ranked[0].bid
            return (ASSIGNED, type_id, (), None, bid.id, bid.customer, ranked[0].price, names)
        trace.offers(resume, offers, ranked, best)
        if best is None:
            return None
        post = Outbound(stage.index, "ping_post", "post", (best.partner,), None, best)
        trace.outbound(post)
        return (PENDING, type_id, (), None, None, None, 0, names)

    def _enrich(
        self, lead: Mapping[str, Any], stage: Stage, record: CallRecord, trace: Trace
    ) -> dict[str, Any] | None:
        """Fill the lead's declared fields from a provider's answer (`fill_empty`: those it
        lacks; `overwrite`: all it answers); return the changed lead, or None."""
        data = record.answer.data if record.answer is not None and record.accepted else None
        filled: dict[str, Any] = {}
        for name, value in (data or {}).items():
            field = self.fields.get(name)
            if field is None or value is None or name.startswith("@"):
                continue
            if stage.mode != "overwrite" and lead.get(name) not in (None, ""):
                continue
            try:
                normal = normalize_value(field.type, value, field.choices)
            except ValueError:
                continue  # not a value of the field's type: kept in the answer only
            if lead.get(name) != normal:
                filled[name] = normal
        changed = {**lead, **filled} if filled else None
        before = {name: lead.get(name) for name in filled}
        trace.enriched(stage, record, filled, before, changed if changed is not None else lead)
        return changed


def _auction(
    candidates: list[Candidate], method: str | None, bids: tuple[str, ...] | None
) -> StageRouter:
    """Return the auction of a stage's bids (`bids`: those it names; None: every bid of
    the lead type), best price first unless round robin."""
    tried = list(candidates) if bids is None else [c for c in candidates if c.bid.id in bids]
    if method != "round_robin":
        tried.sort(key=lambda c: (-c.price, c.index))
    listed = frozenset(bids) if bids is not None else None
    ties = len({c.price for c in tried}) < len(tried)
    return StageRouter(method, listed, tuple(tried), ties)


def _posted_price(sold: CallRecord, records: Sequence[CallRecord]) -> int:
    """Return what a partner pays for a posted lead: what the post's answer says, else its
    ping's offer, else nothing said (0)."""
    if sold.answer is not None and sold.answer.price_cents is not None:
        return sold.answer.price_cents
    for record in records:
        if record.phase == "ping" and record.partner == sold.partner and record.answer is not None:
            if record.answer.price_cents is not None:
                return record.answer.price_cents
    return 0


def alter(
    lead: Mapping[str, Any], lines: tuple[Assignment, ...], results: list[Alteration] | None
) -> dict[str, Any] | None:
    """Apply an alter stage's `set` lines in order (each reads what the ones before it set);
    return the changed lead, a copy, or None when no line changed it. With `results`, what
    each line did is appended to it."""
    changed: dict[str, Any] | None = None
    for line in lines:
        current = lead if changed is None else changed
        result, value = line.outcome(current)
        if results is not None:
            results.append((line, result, current.get(line.field), value))
        if result is APPLIED:
            if changed is None:
                changed = dict(lead)
            changed[line.field] = value
    return changed


def compile_routers(ruleset: RuleSet, conditions: Conditions) -> dict[str, CategoryRouter]:
    """Return a router per category of the rule set, its conditions in `conditions`."""
    return {name: CategoryRouter(ruleset, name, conditions) for name in ruleset.categories}
