"""The compiled, immutable rule set and the declarations it is made of."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from app.dsl import ast
from app.dsl.diagnostics import Diagnostic
from app.dsl.fieldtypes import (
    EXPRESSION_TYPES,
    FieldValue,
    normalize_dedupe_value,
    normalize_value,
)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PERIODS = ("hour", "day", "week", "month")


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a field type name from fieldtypes, "one_of" for `one of [...]`
    choices: tuple[str, ...] = ()
    required_ping: bool = False
    required_post: bool = False
    deliverable: bool = False
    example: FieldValue | None = None

    @property
    def expression_type(self) -> str:
        return EXPRESSION_TYPES[self.type]


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    fields: tuple[Field, ...]

    @property
    def field_map(self) -> Mapping[str, Field]:
        return MappingProxyType({f.name: f for f in self.fields})


@dataclass(frozen=True, eq=False)
class Condition:
    """A compiled `when` expression: its source text, AST and Python predicate."""

    source: str
    node: ast.Node
    predicate: Callable[[Mapping[str, Any]], bool]

    def __call__(self, lead: Mapping[str, Any]) -> bool:
        return self.predicate(lead)


@dataclass(frozen=True)
class LeadType:
    id: str
    label: str
    category: str
    priority: int
    fallback: bool
    condition: Condition | None
    order: int  # position in the rule set, for ties


@dataclass(frozen=True)
class Audit:
    label: str
    category: str | None  # None: every category
    condition: Condition


@dataclass(frozen=True)
class DedupeCheck:
    label: str
    category: str | None
    fields: tuple[str, ...]
    window: timedelta


@dataclass(frozen=True)
class Cap:
    limit: int
    period: str


@dataclass(frozen=True)
class Budget:
    amount: Decimal
    period: str


@dataclass(frozen=True)
class Schedule:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # time(0, 0) with end_of_day=True means 24:00
    timezone: str
    end_of_day: bool = False

    def is_open(self, at: datetime) -> bool:
        """Tell whether the window is open at an aware datetime (windows may cross midnight)."""
        local = at.astimezone(ZoneInfo(self.timezone))
        now = local.time().replace(tzinfo=None)
        weekday = local.weekday()
        if self.end_of_day or self.start < self.end:
            after_start = now >= self.start
            before_end = self.end_of_day or now < self.end
            return weekday in self.days and after_start and before_end
        # Overnight window: opened on a listed day, closes the next morning.
        if now >= self.start:
            return weekday in self.days
        return now < self.end and (weekday - 1) % 7 in self.days


@dataclass(frozen=True)
class Bid:
    id: str
    customer: str
    lead_types: tuple[str, ...]
    price: Decimal
    condition: Condition | None = None
    cap: Cap | None = None
    budget: Budget | None = None
    schedule: Schedule | None = None

    @property
    def timezone(self) -> str:
        return self.schedule.timezone if self.schedule else "UTC"

    def period_start(self, period: str, at: datetime) -> datetime:
        """Return the UTC start of the hour/day/week/month containing `at`, in the bid's zone."""
        local = at.astimezone(ZoneInfo(self.timezone))
        if period == "hour":
            start = local.replace(minute=0, second=0, microsecond=0)
        else:
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            if period == "week":
                start -= timedelta(days=start.weekday())
            elif period == "month":
                start = start.replace(day=1)
        # Rebuild through the zone so a DST change inside the period is accounted for.
        naive = start.replace(tzinfo=None)
        return naive.replace(tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)


#: What a `set` line did to a lead (`Assignment.outcome`).
APPLIED, UNCHANGED, CONDITION_FALSE, MISSING, INVALID = (
    "applied",
    "unchanged",
    "condition_false",
    "missing",
    "invalid",
)


@dataclass(frozen=True, eq=False)
class Assignment:
    """A compiled `set FIELD = EXPRESSION [when CONDITION]` line of a `stage alter`."""

    field: str
    type: str  # the field's type name (its value is normalized as the intake's are)
    choices: tuple[str, ...]
    source: str  # the expression's text
    node: ast.Node
    value: Callable[[Mapping[str, Any]], Any]  # the expression's value, None when missing
    condition: Condition | None
    line: int

    def outcome(self, lead: Mapping[str, Any]) -> tuple[str, Any]:
        """Return what the line does to the lead: (APPLIED, new value), (UNCHANGED, value),
        (CONDITION_FALSE, None), (MISSING, None) or (INVALID, why)."""
        if self.condition is not None and not self.condition.predicate(lead):
            return CONDITION_FALSE, None
        return self.settle(self.value(lead), lead)

    def settle(self, value: Any, lead: Mapping[str, Any]) -> tuple[str, Any]:
        """Return what setting the field to an expression's value does (see `outcome`)."""
        if value is None:
            return MISSING, None
        try:
            value = normalize_value(self.type, value, self.choices)
        except ValueError as problem:
            return INVALID, str(problem)
        if lead.get(self.field) == value and type(lead.get(self.field)) is type(value):
            return UNCHANGED, value
        return APPLIED, value


@dataclass(frozen=True)
class Stage:
    kind: str  # "bidding", "marketplace", "alter", ...
    method: str | None = None  # "highest_price" | "round_robin" for bidding
    bids: tuple[str, ...] | None = None  # restrict a bidding stage to these bids
    price: Decimal | None = None  # a marketplace stage's claim price; None: not given (0)
    teaser: tuple[str, ...] = ()  # the deliverable fields a marketplace listing shows
    sets: tuple[Assignment, ...] = ()  # an alter stage's lines, in order
    #: ping_post and post: the partners called, in order; enrich: its provider, alone
    partners: tuple[str, ...] = ()
    timeout_ms: int | None = None  # ping_post: how long it waits for offers
    mode: str | None = None  # enrich: "fill_empty" (the default) or "overwrite"

    @property
    def calls_out(self) -> bool:
        """Tell whether the stage calls partners or a provider (never in a dry-run)."""
        return bool(self.partners)

    @property
    def would_call(self) -> str:
        """Say what a stage that calls out would call: explain and the dry-run say it, and
        never call."""
        what = "provider" if self.kind == "enrich" else "partner"
        plural = "s" if len(self.partners) > 1 else ""
        return f"would call {what}{plural} {', '.join(self.partners)}"


@dataclass(frozen=True)
class Plan:
    category: str
    stages: tuple[Stage, ...]


@dataclass(frozen=True, eq=False)
class RuleSet:
    """A checked and compiled rule set. Immutable; evaluate leads with its methods.

    A lead is a plain dict of normalized field values (see fieldtypes), plus metadata
    under `@`-prefixed keys: `@category`, `@source`, `@partner`, `@received_at`, `@is_test`.
    """

    content_hash: str
    categories: Mapping[str, Category]
    lead_types: tuple[LeadType, ...]
    all_audits: tuple[Audit, ...]  # `audits(lead)` returns those that hold for a lead
    dedupes: tuple[DedupeCheck, ...]
    bids: Mapping[str, Bid]
    plans: Mapping[str, Plan]
    warnings: tuple[Diagnostic, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # file name -> text
    bids_by_lead_type: Mapping[str, tuple[Bid, ...]] = field(default_factory=dict, repr=False)
    _by_category: Mapping[str, CategoryIndex] = field(default_factory=dict, repr=False)

    # -- evaluation -------------------------------------------------------------------

    def category_of(self, lead: Mapping[str, Any], category: str | None = None) -> str:
        """Return the lead's category: the argument, the lead's `@category`, or the only one."""
        name = category or lead.get("@category")
        if name is None:
            if len(self.categories) != 1:
                raise ValueError("this rule set has several categories: name the lead's category")
            return next(iter(self.categories))
        if name not in self.categories:
            raise KeyError(f"unknown category {name!r}")
        return name

    def classify(self, lead: Mapping[str, Any], category: str | None = None) -> LeadType | None:
        """Return the first lead type whose condition holds, by priority; None: uncategorized."""
        for lead_type in self._by_category[self.category_of(lead, category)].lead_types:
            if lead_type.condition is None or lead_type.condition.predicate(lead):
                return lead_type
        return None

    def audits(self, lead: Mapping[str, Any], category: str | None = None) -> list[Audit]:
        """Return the audits whose condition holds for the lead."""
        checks = self._by_category[self.category_of(lead, category)].audits
        return [audit for audit in checks if audit.condition.predicate(lead)]

    def dedupe_keys(
        self, lead: Mapping[str, Any], category: str | None = None
    ) -> list[tuple[DedupeCheck, str]]:
        """Return (check, normalized key) for every dedupe check whose fields are all present."""
        name = self.category_of(lead, category)
        types = self._by_category[name].field_types
        keys = []
        for check in self._by_category[name].dedupes:
            parts = []
            for field_name in check.fields:
                value = lead.get(field_name)
                if value is None or value == "":
                    break
                parts.append(f"{field_name}={normalize_dedupe_value(types[field_name], value)}")
            else:
                keys.append((check, "|".join(parts)))
        return keys

    def eligible_bids(self, lead: Mapping[str, Any], lead_type: LeadType | str | None) -> list[Bid]:
        """Return the bids on the lead type whose `when` holds (caps, schedules: the service's)."""
        if lead_type is None:
            return []
        type_id = lead_type if isinstance(lead_type, str) else lead_type.id
        return [
            bid
            for bid in self.bids_by_lead_type.get(type_id, ())
            if bid.condition is None or bid.condition.predicate(lead)
        ]

    def explain(
        self,
        lead: Mapping[str, Any],
        category: str | None = None,
        enriched: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Return every rule's verdict for the lead, with each clause's value; `enriched`:
        the fields each enrich stage filled, by provider, as recorded (never called)."""
        from app.dsl.explain import explain_lead

        return explain_lead(self, lead, self.category_of(lead, category), enriched)

    # -- reference --------------------------------------------------------------------

    def fields(self, category: str) -> tuple[Field, ...]:
        """Return the field reference of a category, in declaration order."""
        return self.categories[category].fields

    def customers(self) -> frozenset[str]:
        """Return the customer slugs the bids name."""
        return frozenset(bid.customer for bid in self.bids.values())

    def lead_types_of(self, category: str) -> tuple[LeadType, ...]:
        """Return a category's lead types in evaluation order."""
        return self._by_category[category].lead_types

    def audits_of(self, category: str) -> tuple[Audit, ...]:
        """Return the audits that apply to a category, in file order."""
        return self._by_category[category].audits

    def dedupes_of(self, category: str) -> tuple[DedupeCheck, ...]:
        """Return the dedupe checks that apply to a category, in file order."""
        return self._by_category[category].dedupes

    def bids_of(self, category: str) -> tuple[Bid, ...]:
        """Return the bids on a category's lead types, in file order."""
        return self._by_category[category].bids

    def marketplace_of(self, category: str) -> Stage | None:
        """Return the marketplace stage of a category's plan (the first: it ends the plan)."""
        plan = self.plans.get(category)
        stages = plan.stages if plan is not None else ()
        return next((stage for stage in stages if stage.kind == "marketplace"), None)


@dataclass(frozen=True)
class CategoryIndex:
    """What one category evaluates, precomputed in evaluation order."""

    lead_types: tuple[LeadType, ...]
    audits: tuple[Audit, ...]
    dedupes: tuple[DedupeCheck, ...]
    field_types: Mapping[str, str]
    bids: tuple[Bid, ...]
