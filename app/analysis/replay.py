"""Replaying routing decisions in memory, in received order, for one rule set.

`Side` routes leads with the rule set's routers (app/pipeline/router.py: the very decisions
live routing makes) against a ledger of its own (`ReplayLedger`): its times in the dedupe
history, cap and budget counters per period and each bid's last win, all kept in memory and
all starting empty. Customers are as they are now; wallets are not replayed (every customer
can pay: docs/analysts.md). Conditions and dedupe keys are shared between the two sides of
a comparison through `Conditions`, so a condition both rule sets contain is evaluated once
per lead, and a key looked up once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from app.domain.routing import CustomerFacts
from app.dsl import ast
from app.dsl.fieldtypes import _E164, normalize_dedupe_value
from app.dsl.ruleset import RuleSet
from app.pipeline import verdicts
from app.pipeline.bidding import NEVER, Candidate
from app.pipeline.router import (
    AUDITS,
    BID,
    CUSTOMER,
    DUPLICATE,
    ELIGIBLE,
    LEAD_TYPE,
    PRICE,
    STATUS,
    compile_routers,
)

__all__ = [
    "AUDITS",
    "BID",
    "CUSTOMER",
    "DUPLICATE",
    "ELIGIBLE",
    "LEAD_TYPE",
    "PRICE",
    "STATUS",
    "NOT_ROUTED",
    "Conditions",
    "ReplayLedger",
    "Side",
    "outcome_json",
    "python_needs",
]

#: the outcome of a lead whose category is not in the rule set
NOT_ROUTED = ("no_rules", None, (), None, None, None, 0, ())


class Conditions(verdicts.Conditions):
    """The verdict table of both rule sets of a comparison, with their dedupe history.

    Both sides' dedupe histories live here, in one dict: key hash -> [when the baseline
    last passed a lead with that key, when the proposed set did] (NEVER: not yet). A dedupe
    key's slot holds the key's entry (or False when a field is missing), so a lead's key is
    looked up once for both sides.
    """

    def __init__(self, translate: Callable[..., Any] | None = None) -> None:
        self.history: dict[int, list[float]] = {}  # key hash -> [baseline, proposed] last passed
        history = self.history

        def keys(category: str, fields: tuple[str, ...], types: Mapping[str, str]):
            return _key_function(category, fields, types, history)

        super().__init__(translate, keys)

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


class ReplayLedger:
    """One side's counters, last wins and customers, in memory, updated after each sale."""

    def __init__(self, ruleset: RuleSet, customers: Mapping[str, bool], side: int) -> None:
        self.side = side  # 0: the baseline, 1: the proposed set (its place in history entries)
        #: slug -> the customer as bidding sees it: active or not, and never short of money
        self.customers = {
            slug: CustomerFacts(0, "", slug, active, math.inf) for slug, active in customers.items()
        }
        self.last_won: dict[str, float] = {}
        #: candidate -> why its customer cannot buy (None: it can): customers do not change
        self.customer_verdicts: dict[Candidate, str | None] = {}
        #: bid index -> until when it is skipped: a cap or budget found spent stays spent until
        #: its period ends (only this replay's sales add to the counters)
        self.spent = [NEVER] * len(ruleset.bids)
        #: bid index -> per limit (cap, budget) [period start, leads, cents]
        self.usage = [
            [[None, 0, 0] for limit in (bid.cap, bid.budget) if limit is not None]
            for bid in ruleset.bids.values()
        ]

    def won(self, candidate: Candidate, at: float) -> None:
        """Count the bid's sale in its current periods, and remember when it won."""
        for used in self.usage[candidate.index]:
            used[1] += 1
            used[2] += candidate.price
        self.last_won[candidate.bid.id] = at


class Side:
    """One rule set's simulated routing, with its own ledger."""

    def __init__(
        self, ruleset: RuleSet, conditions: Conditions, customers: Mapping[str, bool], side: int
    ) -> None:
        self.ruleset = ruleset
        self.routers = compile_routers(ruleset, conditions)
        self.ledger = ReplayLedger(ruleset, customers, side)
        self.longest_window = max(
            (check.window.total_seconds() for check in ruleset.dedupes), default=0.0
        )

    def route(self, lead, category: str, at: float, mask: int, memo: list, fns) -> tuple:
        """Decide a lead received at `at` (epoch seconds), updating this side's ledger.

        `mask` holds the database's verdicts (bit i: condition i holds); `memo` the Python
        ones evaluated so far for this lead (None: not yet), computed with `fns`.
        """
        router = self.routers.get(category)
        if router is None:
            return NOT_ROUTED
        return router.route(lead, at, mask, memo, fns, self.ledger)


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


def python_needs(conditions: Conditions, rulesets) -> tuple[set[str], set[str]]:
    """Return (fields, metadata names) the Python-evaluated conditions and dedupe keys read,
    and, in a plan with an alter stage, its lines and its category's bids' conditions (the
    bids after it are evaluated in Python, on the values it changed)."""
    fields: set[str] = set()
    meta: set[str] = set()
    for _, node in conditions.python_nodes:
        if node is not None:
            _reads(node, fields, meta)
    for rules in rulesets:
        for check in rules.dedupes:
            fields.update(check.fields)
        for category, plan in rules.plans.items():
            lines = [line for stage in plan.stages if stage.kind == "alter" for line in stage.sets]
            if not lines:
                continue
            for line in lines:
                fields.add(line.field)
                _reads(line.node, fields, meta)
                if line.condition is not None:
                    _reads(line.condition.node, fields, meta)
            for bid in rules.bids_of(category):
                if bid.condition is not None:
                    _reads(bid.condition.node, fields, meta)
    return fields, meta


def _reads(node: ast.Node, fields: set[str], meta: set[str]) -> None:
    """Add the fields and metadata names an expression reads."""
    for part in ast.walk(node):
        if isinstance(part, ast.FieldRef):
            fields.add(part.name)
        elif isinstance(part, ast.MetaRef):
            meta.add(part.name)
        elif isinstance(part, ast.Call) and part.name in ("age", "days_since"):
            meta.add("received_at")
