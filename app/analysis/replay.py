"""Replaying routing decisions in memory, in received order, for one rule set.

`Side` routes leads the way `app.pipeline` does (classify, audit, dedupe, the plan's
stages), but against counters of its own: its times in the dedupe history, cap and budget
counters per period and each bid's last win, all kept in memory and all starting empty.
Conditions and dedupe keys are shared between the two sides of a comparison through
`Conditions`, so a condition both rule sets contain is evaluated once per lead, and a key
looked up once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.domain.money import to_cents
from app.dsl import ast
from app.dsl.fieldtypes import _E164, normalize_dedupe_value
from app.dsl.ruleset import Bid, RuleSet

NEVER = float("-inf")
#: what the database's verdicts alone decide (a category's lead types and audits left to try,
#: a lead type's eligible bids) is remembered for this many distinct masks each
MASKS_KEPT = 4096
_SPAN = {  # from a period's start, a moment surely inside the next period
    "hour": timedelta(minutes=90),
    "day": timedelta(hours=36),
    "week": timedelta(days=7, hours=12),
    "month": timedelta(days=32),
}


class Conditions:
    """Every distinct condition and dedupe key of both rule sets, each evaluated once per lead.

    A condition whose SQL translation is exact is evaluated by the database in the streaming
    query and arrives as a bit of the row's mask; any other condition, and every dedupe key,
    is a Python function with a slot in the per-lead memo. `refs` hands out (bit, slot)
    pairs, exactly one of them >= 0.

    Both sides' dedupe histories live here, in one dict: key hash -> [when the baseline
    last passed a lead with that key, when the proposed set did] (NEVER: not yet). A dedupe
    key's slot holds the key's entry (or False when a field is missing), so a lead's key is
    looked up once for both sides.
    """

    def __init__(self, translate: Callable[..., Any] | None = None) -> None:
        self.translate = translate  # (category, node, field types) -> exact SqlWhere, or None
        self.refs: dict[Any, tuple[int, int]] = {}
        self.sql: list[tuple[str, Any]] = []  # bit -> (category, SqlWhere)
        self.functions: list[Callable[[Mapping[str, Any]], Any]] = []  # slot -> function
        self.python_nodes: list[tuple[str, ast.Node | None]] = []  # slot -> (category, node)
        self.history: dict[int, list[float]] = {}  # key hash -> [baseline, proposed] last passed

    def condition(self, category: str, condition, fields: Mapping[str, str]) -> tuple[int, int]:
        """Return the (bit, slot) of a compiled condition over a category's field types."""
        key = ("when", category, condition.node, tuple(sorted(fields.items())))
        if key not in self.refs:
            where = self.translate(category, condition.node, fields) if self.translate else None
            if where is not None:
                self.refs[key] = (len(self.sql), -1)
                self.sql.append((category, where))
            else:
                self.refs[key] = (-1, len(self.functions))
                self.functions.append(condition.predicate)
                self.python_nodes.append((category, condition.node))
        return self.refs[key]

    def dedupe_key(self, category: str, fields: tuple[str, ...], types: Mapping[str, str]) -> int:
        """Return the slot of a dedupe key: its history entry, or False when a field is missing."""
        key = ("key", category, fields, tuple(types[name] for name in fields))
        if key not in self.refs:
            self.refs[key] = (-1, len(self.functions))
            self.functions.append(_key_function(category, fields, types, self.history))
            self.python_nodes.append((category, None))
        return self.refs[key][1]

    def forget_before(self, horizons: tuple[float, float]) -> None:
        """Drop the dedupe keys neither side has passed since its horizon (memory stays bounded)."""
        before, after = horizons
        history = self.history
        for key in [k for k, (b, a) in history.items() if b < before and a < after]:
            del history[key]


def _normalizer(type_name: str) -> Callable[[Any], str]:
    """Return normalize_dedupe_value for one field type, its common case without dispatch."""
    if type_name == "phone":

        def phone(value):
            if type(value) is str and _E164.fullmatch(value):
                return value[1:]
            return normalize_dedupe_value("phone", value)

        return phone
    if type_name == "email":
        return lambda value: str(value).strip().lower()

    def other(value):
        if type(value) is str:
            return " ".join(value.casefold().split())
        return normalize_dedupe_value(type_name, value)

    return other


def _key_function(category: str, fields: tuple[str, ...], types: Mapping[str, str], history):
    """Return a lead's function to its key's history entry (created on first sight), or False.

    Keys hold personal data and there may be millions: an entry is keyed by a 64-bit hash of
    the normalized values, mixed with the hash of the category and field names (the service
    keeps a SHA-256 of the same)."""
    pairs = [(name, _normalizer(types[name])) for name in fields]
    salt = hash((category, fields))
    setdefault = history.setdefault
    if len(pairs) == 1 and types[fields[0]] == "phone":  # the commonest check, inlined
        ((name, normalize),) = pairs
        fullmatch = _E164.fullmatch

        def phone(lead: Mapping[str, Any]) -> list[float] | bool:
            value = lead.get(name)
            if value is None or value == "":
                return False
            # The normalizer's common case (a stored E.164 number) without the call.
            text = value[1:] if type(value) is str and fullmatch(value) else normalize(value)
            return setdefault(hash(text) ^ salt, [NEVER, NEVER])

        return phone
    if len(pairs) == 1:  # one field: the same key without a tuple
        ((name, normalize),) = pairs

        def single(lead: Mapping[str, Any]) -> list[float] | bool:
            value = lead.get(name)
            if value is None or value == "":
                return False
            return setdefault(hash(normalize(value)) ^ salt, [NEVER, NEVER])

        return single

    if len(pairs) == 2:  # two fields (email and zip): without the loop
        (first, normalize_first), (second, normalize_second) = pairs

        def two(lead: Mapping[str, Any]) -> list[float] | bool:
            one, other = lead.get(first), lead.get(second)
            if one is None or one == "" or other is None or other == "":
                return False
            key = hash((normalize_first(one), normalize_second(other))) ^ salt
            return setdefault(key, [NEVER, NEVER])

        return two

    def several(lead: Mapping[str, Any]) -> list[float] | bool:
        parts = []
        for name, normalize in pairs:
            value = lead.get(name)
            if value is None or value == "":
                return False
            parts.append(normalize(value))
        return setdefault(hash(tuple(parts)) ^ salt, [NEVER, NEVER])

    return several


@dataclass(frozen=True, eq=False)
class SimBid:
    bid: Bid
    index: int  # position among the rule set's bids (file order)
    bit: int  # condition bit, -1: none or evaluated in Python
    slot: int  # condition slot in the memo, -1: none or evaluated by the database
    price: int  # cents
    #: (is a cap, limit, period box [start, end) shared per zone and period, this side's
    #: usage [period start, leads, cents]): only the current period matters, time moving on
    limits: tuple[tuple[bool, int, list, list], ...]
    customer_ok: bool  # the customer exists and is active
    schedule: list | None  # schedule_cache() of the bid's schedule, None: always open
    flag: int  # this bid's bit in a set of the category's bids (an int)
    #: [until]: a cap or budget found spent stays spent until its period ends
    spent: list = field(default_factory=lambda: [NEVER])


@dataclass(frozen=True, eq=False)
class SimLeadType:
    """A lead type's bids, and how each stage of the plan goes through them."""

    bids: tuple[SimBid, ...]  # file order
    #: bids' flags -> their ids (the eligible bids reported), and when every condition is a
    #: database bit or none: mask -> (eligible flags, ids), filled as masks come
    names: dict[int, tuple[str, ...]]
    by_mask: dict[int, tuple[int, tuple[str, ...]]] | None
    #: (kind, method, the stage's candidates in the order they are tried, ties?): for
    #: highest_price by price then file order (ties: equal prices next to each other), for
    #: round_robin in file order; bids of missing or inactive customers left out
    stages: tuple[tuple[str, str | None, tuple[SimBid, ...], bool], ...]


@dataclass(frozen=True, eq=False)
class SimCategory:
    lead_types: tuple[tuple[str, int, int], ...]  # (id, bit, slot); both -1: the fallback
    audits: tuple[tuple[str, int, int], ...]  # (label, bit, slot)
    dedupes: tuple[tuple[str, int, float], ...]  # (label, key slot, window seconds)
    bidding: Mapping[str, SimLeadType]  # lead type id -> its bids and stages
    #: mask -> (lead types, audits) left to try once the database's verdicts are applied:
    #: (id, slot) pairs in order, slot -1 for one that holds (the rest dropped), filled as
    #: masks come
    by_mask: dict[int, tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]]

    def plan(self, mask: int):
        """Return what is left to decide for a lead whose database verdicts are `mask`."""
        types = []
        for type_id, bit, slot in self.lead_types:
            if bit >= 0:
                if mask >> bit & 1:
                    types.append((type_id, -1))
                    break
            elif slot < 0:
                types.append((type_id, -1))  # the fallback
                break
            else:
                types.append((type_id, slot))
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


#: A simulated outcome is a tuple, cheap to make a million times:
#: (status, lead type, audits flagged, dedupe check, bid, customer, price cents, eligible bids)
STATUS, LEAD_TYPE, AUDITS, DUPLICATE, BID, CUSTOMER, PRICE, ELIGIBLE = range(8)


def outcome_json(outcome: tuple) -> dict[str, Any]:
    """Return a simulated outcome as a JSON-able dict."""
    return {
        "status": outcome[STATUS],
        "lead_type": outcome[LEAD_TYPE],
        "audits": list(outcome[AUDITS]),
        "duplicate_of_check": outcome[DUPLICATE],
        "bid": outcome[BID],
        "customer": outcome[CUSTOMER],
        "price": outcome[PRICE] / 100,
        "eligible_bids": list(outcome[ELIGIBLE]),
    }


class Clock:
    """Period boundaries, one box per (time zone, period), moved on as time moves forward."""

    def __init__(self) -> None:
        self._boxes: dict[tuple[str, str], list] = {}

    def box(self, bid: Bid, period: str) -> list:
        """Return the shared [start, end, bid, period] box of the bid's zone and period."""
        key = (bid.timezone, period)
        if key not in self._boxes:
            self._boxes[key] = [0.0, 0.0, bid, period]
        return self._boxes[key]

    @staticmethod
    def move(box: list, at: float) -> None:
        """Set the box to the period containing `at` (epoch seconds)."""
        bid, period = box[2], box[3]
        start = bid.period_start(period, datetime.fromtimestamp(at, UTC))
        end = bid.period_start(period, start + _SPAN[period])
        box[0], box[1] = start.timestamp(), end.timestamp()


def schedule_cache(schedule) -> list:
    """Return a fresh [span, open? (None: look each time), span seconds] cache for
    schedule_open: per quarter hour when the schedule opens and closes on quarter hours
    (08:00..20:00), else per minute (windows are whole minutes)."""
    quarters = all(t.minute % 15 == 0 and not t.second for t in (schedule.start, schedule.end))
    return [None, None, 900 if quarters else 60]


def _constant_over(schedule, start: int, seconds: int) -> bool | None:
    """Return whether the schedule is open throughout [start, start + seconds), or None when
    it may change inside: a quarter-hour window is constant over a quarter hour of UTC when
    the zone's offset is a whole number of quarter hours and does not change inside (most
    offset changes fall on quarter hours; a few, like St. John's at 00:01, do not)."""
    at = datetime.fromtimestamp(start, UTC)
    if seconds > 60:
        zone = ZoneInfo(schedule.timezone)
        offset = at.astimezone(zone).utcoffset()
        end = datetime.fromtimestamp(start + seconds - 1, UTC).astimezone(zone).utcoffset()
        if offset != end or offset.total_seconds() % seconds:
            return None
    return schedule.is_open(at)


def schedule_open(bid: Bid, cache: list, at: float) -> bool:
    """Tell whether the bid's schedule is open at `at`, cached per quarter hour or minute."""
    seconds = cache[2]
    span = int(at // seconds)
    if cache[0] != span:
        cache[0] = span
        cache[1] = _constant_over(bid.schedule, span * seconds, seconds)
    state = cache[1]
    if state is None:  # an offset change inside this quarter hour: by the minute
        return bid.schedule.is_open(datetime.fromtimestamp(int(at // 60) * 60, UTC))
    return state


class Side:
    """One rule set's simulated routing, with its own dedupe history and bid counters."""

    def __init__(
        self,
        ruleset: RuleSet,
        conditions: Conditions,
        customers: Mapping[str, bool],
        clock: Clock,
        side: int,
    ):
        self.ruleset = ruleset
        self.side = side  # 0: the baseline, 1: the proposed set (its place in history entries)
        self.customers = customers  # slug -> active (absent: no such customer)
        self.clock = clock
        self.categories = {name: self._compile(name, conditions) for name in ruleset.categories}
        self.longest_window = max(
            (check.window.total_seconds() for check in ruleset.dedupes), default=0.0
        )
        self.last_won: dict[str, float] = {}

    def _compile(self, category: str, conditions: Conditions) -> SimCategory:
        rules = self.ruleset
        types = rules._by_category[category].field_types

        def ref(condition) -> tuple[int, int]:
            if condition is None:
                return (-1, -1)
            return conditions.condition(category, condition, types)

        lead_types = tuple((t.id, *ref(t.condition)) for t in rules.lead_types_of(category))
        audits = tuple((a.label, *ref(a.condition)) for a in rules.audits_of(category))
        dedupes = tuple(
            (d.label, conditions.dedupe_key(category, d.fields, types), d.window.total_seconds())
            for d in rules.dedupes_of(category)
        )
        position = {bid_id: index for index, bid_id in enumerate(rules.bids)}
        bids: dict[str, list[SimBid]] = {}
        for flag, bid in enumerate(rules.bids_of(category)):
            limits = []
            if bid.cap is not None:
                box = self.clock.box(bid, bid.cap.period)
                limits.append((True, bid.cap.limit, box, [None, 0, 0]))
            if bid.budget is not None:
                box = self.clock.box(bid, bid.budget.period)
                limits.append((False, to_cents(bid.budget.amount), box, [None, 0, 0]))
            bit, slot = ref(bid.condition)
            sim = SimBid(
                bid,
                position[bid.id],
                bit,
                slot,
                to_cents(bid.price),
                tuple(limits),
                self.customers.get(bid.customer, False),
                schedule_cache(bid.schedule) if bid.schedule is not None else None,
                1 << flag,
            )
            for type_id in bid.lead_types:
                bids.setdefault(type_id, []).append(sim)
        plan = rules.plans.get(category)
        plan_stages = plan.stages if plan is not None else ()
        bidding = {}
        for type_id in (t.id for t in rules.lead_types_of(category)):
            candidates = bids.get(type_id, [])
            stages = []
            for stage in plan_stages:
                tried = [c for c in candidates if c.customer_ok]
                if stage.bids is not None:
                    tried = [c for c in tried if c.bid.id in stage.bids]
                if stage.method == "highest_price":
                    tried.sort(key=lambda c: (-c.price, c.index))
                prices = [c.price for c in tried]
                stages.append(
                    (stage.kind, stage.method, tuple(tried), len(set(prices)) < len(prices))
                )
            static = all(c.slot < 0 for c in candidates)
            bidding[type_id] = SimLeadType(
                tuple(candidates), {}, {} if static else None, tuple(stages)
            )
        return SimCategory(lead_types, audits, dedupes, bidding, {})

    def route(self, lead, category: str, at: float, mask: int, memo: list, fns) -> tuple:
        """Decide a lead received at `at` (epoch seconds), updating this side's counters.

        `mask` holds the database's verdicts (bit i: condition i holds); `memo` the Python
        ones evaluated so far for this lead (None: not yet), computed with `fns`.
        """
        sim = self.categories.get(category)
        if sim is None:
            return ("no_rules", None, (), None, None, None, 0, ())
        types, audits = sim.by_mask.get(mask) or sim.plan(mask)
        lead_type = None
        for type_id, slot in types:
            if slot < 0:
                lead_type = type_id
                break
            value = memo[slot]
            if value is None:
                value = memo[slot] = fns[slot](lead)
            if value:
                lead_type = type_id
                break
        if lead_type is None:
            return ("uncategorized", None, (), None, None, None, 0, ())
        flagged = ()
        for label, slot in audits:
            if slot >= 0:
                value = memo[slot]
                if value is None:
                    value = memo[slot] = fns[slot](lead)
                if not value:
                    continue
            flagged += (label,)
        if flagged:
            return ("audit", lead_type, flagged, None, None, None, 0, ())
        if sim.dedupes:  # inline: once or twice per lead and side
            side = self.side
            entries = []
            for label, slot, window in sim.dedupes:
                entry = memo[slot]
                if entry is None:
                    entry = memo[slot] = fns[slot](lead)
                if entry is False:
                    continue  # a field is missing: the check is skipped
                if entry[side] >= at - window:
                    return ("duplicate", lead_type, (), label, None, None, 0, ())
                entries.append(entry)
            for entry in entries:  # only leads that pass extend the window, as in the service
                entry[side] = at
        return self._bidding(sim.bidding[lead_type], lead_type, lead, at, mask, memo, fns)

    def _bidding(self, sim: SimLeadType, lead_type: str, lead, at, mask, memo, fns) -> tuple:
        by_mask = sim.by_mask
        found = by_mask.get(mask) if by_mask is not None else None
        if found is not None:
            eligible, names = found
        else:
            eligible = 0
            for candidate in sim.bids:
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
            names = sim.names.get(eligible)
            if names is None:
                names = sim.names[eligible] = tuple(
                    [c.bid.id for c in sim.bids if c.flag & eligible]
                )
            if by_mask is not None and len(by_mask) < MASKS_KEPT:
                by_mask[mask] = (eligible, names)
        for kind, method, tried, ties in sim.stages:
            if kind == "bidding":
                if eligible:
                    winner = self._auction(tried, eligible, method, ties, at)
                    if winner is not None:
                        bid = winner.bid
                        return (
                            "assigned",
                            lead_type,
                            (),
                            None,
                            bid.id,
                            bid.customer,
                            winner.price,
                            names,
                        )
            elif kind == "marketplace":
                return ("marketplace", lead_type, (), None, None, None, 0, names)
        return ("unassigned", lead_type, (), None, None, None, 0, names)

    def _auction(self, tried, eligible: int, method, ties: bool, at: float):
        """Return the stage's winner among the eligible bids open at `at`, or None.

        highest_price tries the bids by price: the first open one wins, unless bids of the
        same price are open too (the one that won least recently, then file order);
        round_robin: of all the open bids, the one that won least recently, then file order.
        """
        last_won = self.last_won
        winner, rank = None, None
        for candidate in tried:
            if not candidate.flag & eligible or at < candidate.spent[0]:
                continue
            if candidate.schedule is not None and not schedule_open(
                candidate.bid, candidate.schedule, at
            ):
                continue
            fits = True
            for is_cap, limit, box, used in candidate.limits:
                if not box[0] <= at < box[1]:
                    Clock.move(box, at)
                if used[0] != box[0]:  # a new period: nothing used yet
                    used[0], used[1], used[2] = box[0], 0, 0
                if used[1] >= limit if is_cap else used[2] + candidate.price > limit:
                    candidate.spent[0] = box[1]  # usage only grows within the period
                    fits = False
                    break
            if not fits:
                continue
            if method != "round_robin":
                if winner is None:
                    winner = candidate
                    if not ties:
                        break
                    rank = (last_won.get(candidate.bid.id, NEVER), candidate.index)
                    continue
                if candidate.price != winner.price:
                    break  # cheaper: the bids of the best price open have all been seen
            this = (last_won.get(candidate.bid.id, NEVER), candidate.index)
            if winner is None or this < rank:
                winner, rank = candidate, this
        if winner is None:
            return None
        for _, _, _, used in winner.limits:
            used[1] += 1
            used[2] += winner.price
        last_won[winner.bid.id] = at
        return winner


def python_needs(conditions: Conditions, rulesets) -> tuple[set[str], set[str]]:
    """Return (fields, metadata names) the Python-evaluated conditions and dedupe keys read."""
    fields, meta = set(), set()
    for _, node in conditions.python_nodes:
        if node is None:
            continue
        for part in ast.walk(node):
            if isinstance(part, ast.FieldRef):
                fields.add(part.name)
            elif isinstance(part, ast.MetaRef):
                meta.add(part.name)
            elif isinstance(part, ast.Call) and part.name in ("age", "days_since"):
                meta.add("received_at")
    for rules in rulesets:
        for check in rules.dedupes:
            fields.update(check.fields)
    return fields, meta
