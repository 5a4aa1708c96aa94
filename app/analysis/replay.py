"""Replaying routing decisions in memory, in received order, for one rule set.

`Side` routes leads the way `app.pipeline` does (classify, audit, dedupe, the plan's
stages), but against counters of its own: a dedupe history, cap and budget counters per
period and each bid's last win, all kept in memory and all starting empty. Conditions are
shared between the two sides of a comparison through `Conditions`, so a condition both
rule sets contain is evaluated once per lead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.dsl import ast
from app.dsl.fieldtypes import _E164, normalize_dedupe_value
from app.dsl.ruleset import Bid, RuleSet
from app.store.money import to_cents

NEVER = float("-inf")
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
    """

    def __init__(self, translate: Callable[..., Any] | None = None) -> None:
        self.translate = translate  # (category, node, field types) -> exact SqlWhere, or None
        self.refs: dict[Any, tuple[int, int]] = {}
        self.sql: list[tuple[str, Any]] = []  # bit -> (category, SqlWhere)
        self.functions: list[Callable[[Mapping[str, Any]], Any]] = []  # slot -> function
        self.python_nodes: list[tuple[str, ast.Node | None]] = []  # slot -> (category, node)

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
        """Return the slot of a dedupe key: its 64-bit hash, or 0 when a field is missing."""
        key = ("key", category, fields, tuple(types[name] for name in fields))
        if key not in self.refs:
            self.refs[key] = (-1, len(self.functions))
            self.functions.append(_key_function(category, fields, types))
            self.python_nodes.append((category, None))
        return self.refs[key][1]


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
    return lambda value: normalize_dedupe_value(type_name, value)


def _key_function(category: str, fields: tuple[str, ...], types: Mapping[str, str]):
    pairs = [(name, _normalizer(types[name])) for name in fields]
    if len(pairs) == 1:  # most checks: one field, the same key without the list
        ((name, normalize),) = pairs

        def single(lead: Mapping[str, Any]) -> int:
            value = lead.get(name)
            if value is None or value == "":
                return 0
            return hash((category, name, normalize(value))) or 1

        return single

    def key(lead: Mapping[str, Any]) -> int:
        parts = [category]
        for name, normalize in pairs:
            value = lead.get(name)
            if value is None or value == "":
                return 0
            parts.append(name)
            parts.append(normalize(value))
        # Keys hold personal data and there may be millions: keep a 64-bit hash of the
        # category and the normalized values (the service keeps a SHA-256 of the same).
        return hash(tuple(parts)) or 1

    return key


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
    schedule: list | None  # [minute, open?] cache of the bid's schedule, None: always open


@dataclass(frozen=True, eq=False)
class SimCategory:
    lead_types: tuple[tuple[str, int, int], ...]  # (id, bit, slot); both -1: the fallback
    audits: tuple[tuple[str, int, int], ...]  # (label, bit, slot)
    dedupes: tuple[tuple[str, int, float], ...]  # (label, key slot, window seconds)
    bids: Mapping[str, tuple[SimBid, ...]]  # lead type id -> its bids, file order
    stages: tuple[tuple[str, str | None, frozenset[str] | None], ...]


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


def schedule_open(bid: Bid, cache: list, at: float) -> bool:
    """Tell whether the bid's schedule is open at `at`, cached per minute."""
    minute = int(at // 60)  # windows are whole minutes in zones offset by whole minutes
    if cache[0] != minute:
        cache[0] = minute
        cache[1] = bid.schedule.is_open(datetime.fromtimestamp(minute * 60, UTC))
    return cache[1]


class Side:
    """One rule set's simulated routing, with its own dedupe history and bid counters."""

    def __init__(
        self,
        ruleset: RuleSet,
        conditions: Conditions,
        customers: Mapping[str, bool],
        clock: Clock,
    ):
        self.ruleset = ruleset
        self.customers = customers  # slug -> active (absent: no such customer)
        self.clock = clock
        self.categories = {name: self._compile(name, conditions) for name in ruleset.categories}
        self.history: dict[int, float] = {}
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
        for bid in rules.bids_of(category):
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
                [None, False] if bid.schedule is not None else None,
            )
            for type_id in bid.lead_types:
                bids.setdefault(type_id, []).append(sim)
        plan = rules.plans.get(category)
        stages = tuple(
            (s.kind, s.method, frozenset(s.bids) if s.bids is not None else None)
            for s in (plan.stages if plan is not None else ())
        )
        return SimCategory(
            lead_types, audits, dedupes, {k: tuple(v) for k, v in bids.items()}, stages
        )

    def route(self, lead, category: str, at: float, mask: int, memo: list, fns) -> tuple:
        """Decide a lead received at `at` (epoch seconds), updating this side's counters.

        `mask` holds the database's verdicts (bit i: condition i holds); `memo` the Python
        ones evaluated so far for this lead (None: not yet), computed with `fns`.
        """
        sim = self.categories.get(category)
        if sim is None:
            return ("no_rules", None, (), None, None, None, 0, ())
        lead_type = None
        for type_id, bit, slot in sim.lead_types:
            if bit >= 0:
                if mask >> bit & 1:
                    lead_type = type_id
                    break
                continue
            if slot < 0:
                lead_type = type_id  # the fallback
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
        for label, bit, slot in sim.audits:
            if bit >= 0:
                if mask >> bit & 1:
                    flagged += (label,)
                continue
            value = memo[slot]
            if value is None:
                value = memo[slot] = fns[slot](lead)
            if value:
                flagged += (label,)
        if flagged:
            return ("audit", lead_type, flagged, None, None, None, 0, ())
        if sim.dedupes:
            duplicate = self._dedupe(sim.dedupes, lead, at, memo, fns)
            if duplicate is not None:
                return ("duplicate", lead_type, (), duplicate, None, None, 0, ())
        return self._bidding(sim, lead_type, lead, at, mask, memo, fns)

    def _dedupe(self, checks, lead, at: float, memo: list, fns) -> str | None:
        history = self.history
        keys = []
        for label, slot, window in checks:
            key = memo[slot]
            if key is None:
                key = memo[slot] = fns[slot](lead)
            if not key:
                continue  # a field is missing: the check is skipped
            seen = history.get(key)
            if seen is not None and seen >= at - window:
                return label
            keys.append(key)
        for key in keys:  # only leads that pass extend the window, as in the service
            history[key] = at
        return None

    def forget_before(self, at: float) -> None:
        """Drop dedupe keys last seen longer ago than the longest window (memory stays bounded)."""
        horizon = at - self.longest_window
        self.history = {key: seen for key, seen in self.history.items() if seen >= horizon}

    def _bidding(self, sim: SimCategory, lead_type: str, lead, at, mask, memo, fns) -> tuple:
        eligible = []
        for candidate in sim.bids.get(lead_type, ()):
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
            eligible.append(candidate)
        names = tuple([c.bid.id for c in eligible])
        for kind, method, allowed in sim.stages:
            if kind == "bidding":
                if eligible:
                    winner = self._auction(eligible, method, allowed, at)
                    if winner is not None:
                        bid = winner.bid
                        return ("assigned", lead_type, (), None, bid.id, bid.customer,
                                winner.price, names)  # fmt: skip
            elif kind == "marketplace":
                return ("marketplace", lead_type, (), None, None, None, 0, names)
        return ("unassigned", lead_type, (), None, None, None, 0, names)

    def _auction(self, eligible, method, allowed, at: float):
        open_bids = []
        move = Clock.move
        for candidate in eligible:
            if not candidate.customer_ok:
                continue  # no such customer, or inactive
            if allowed is not None and candidate.bid.id not in allowed:
                continue
            if candidate.schedule is not None and not schedule_open(
                candidate.bid, candidate.schedule, at
            ):
                continue
            fits = True
            for is_cap, limit, box, used in candidate.limits:
                if not box[0] <= at < box[1]:
                    move(box, at)
                if used[0] != box[0]:  # a new period: nothing used yet
                    used[0], used[1], used[2] = box[0], 0, 0
                if used[1] >= limit if is_cap else used[2] + candidate.price > limit:
                    fits = False
                    break
            if fits:
                open_bids.append(candidate)
        if not open_bids:
            return None
        if len(open_bids) == 1:
            winner = open_bids[0]
        else:
            last_won = self.last_won
            if method == "round_robin":
                winner = min(open_bids, key=lambda c: (last_won.get(c.bid.id, NEVER), c.index))
            else:
                winner = min(
                    open_bids, key=lambda c: (-c.price, last_won.get(c.bid.id, NEVER), c.index)
                )
        for _, _, _, used in winner.limits:
            used[1] += 1
            used[2] += winner.price
        self.last_won[winner.bid.id] = at
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
