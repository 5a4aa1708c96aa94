"""Check a rule set's declarations: names, types, values, schedules, plans, shadowed rules."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, TypeVar

from app.dsl import ast
from app.dsl.diagnostics import ERROR, WARNING, Diagnostic, did_you_mean
from app.dsl.fieldtypes import FIELD_TYPE_NAMES, normalize_value
from app.dsl.interpreter import evaluate
from app.dsl.ruleset import DAY_NAMES, PERIODS, Field
from app.dsl.types import TypeChecker, describe

DEDUPE_UNITS = {
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
    "week": 604800,
    "weeks": 604800,
}
BUDGET_PERIODS = ("day", "week", "month")
BIDDING_METHODS = ("highest_price", "round_robin")
STAGE_KINDS = ("bidding", "marketplace", "alter", "ping_post", "post", "enrich")
#: The stages that call out (partners, providers): what each takes.
OUTBOUND_USAGE = {
    "ping_post": "stage ping_post [partner, ...] [timeout NUMBER ms]",
    "post": "stage post [partner, ...]",
    "enrich": "stage enrich PROVIDER [fill_empty | overwrite]",
}
ENRICH_MODES = ("fill_empty", "overwrite")
#: A ping_post stage waits this long for offers unless it says (and at most MAX_TIMEOUT_MS).
DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS = 300, 10_000
TIMEOUT_UNITS = {"ms": 1, "s": 1000}
MARKETPLACE_ARGUMENTS = ("price", "teaser")
MARKETPLACE_USAGE = "stage marketplace [price NUMBER] [teaser [field, ...]]"
ALTER_USAGE = "stage alter { set FIELD = EXPRESSION [when CONDITION] ... }"
#: Money is stored in whole cents, below app.domain.money's MAX_AMOUNT (a sibling layer).
CENT, MAX_AMOUNT = Decimal("0.01"), Decimal("1000000000000")
_WORDS = {"string": "text", "number": "numbers", "bool": "true/false", "date": "dates"}
_WORDS["datetime"] = "dates and times"
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class FieldMap(dict[str, Field]):
    """A category's fields; `broken` names fields whose declaration has an error."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()


@dataclass
class CheckedRules:
    """What the compiler needs: declarations by kind and each category's fields."""

    categories: dict[str, ast.CategoryDecl] = field(default_factory=dict)
    fields: dict[str, FieldMap] = field(default_factory=dict)
    lead_types: list[ast.LeadTypeDecl] = field(default_factory=list)
    audits: list[ast.AuditDecl] = field(default_factory=list)
    dedupes: list[ast.DedupeDecl] = field(default_factory=list)
    bids: dict[str, ast.BidDecl] = field(default_factory=dict)
    plans: dict[str, ast.PlanDecl] = field(default_factory=dict)
    bid_categories: dict[str, str] = field(default_factory=dict)


class _Located(Protocol):
    """Something written in a rule file: a name, a literal, a declaration."""

    @property
    def pos(self) -> ast.Pos | None: ...


_Declaration = TypeVar("_Declaration", bound=ast.Declaration)


class Checker:
    def __init__(
        self, declarations: Iterable[ast.Declaration], broken_ids: Iterable[str] = ()
    ) -> None:
        self.declarations = list(declarations)
        self.broken = set(broken_ids)  # declared in text that did not parse: no cascades
        self.diagnostics: list[Diagnostic] = []
        self.result = CheckedRules()
        self._audit_labels: dict[str, ast.Pos] = {}
        self._dedupe_labels: dict[str, ast.Pos] = {}

    # -- helpers
    def _report(
        self,
        where: _Located | None,
        severity: str,
        code: str,
        message: str,
        hint: str | None = None,
    ) -> None:
        pos = where.pos if where is not None else None
        path, line, column = (pos.path, pos.line, pos.column) if pos else ("<rules>", 1, 1)
        self.diagnostics.append(Diagnostic(path, line, column, severity, code, message, hint))

    def error(
        self, where: _Located | None, code: str, message: str, hint: str | None = None
    ) -> None:
        self._report(where, ERROR, code, message, hint)

    def warning(
        self, where: _Located | None, code: str, message: str, hint: str | None = None
    ) -> None:
        self._report(where, WARNING, code, message, hint)

    def _unknown(self, name: ast.Name, kind: str, known: Iterable[str]) -> None:
        if name.value not in self.broken:
            self.error(
                name,
                f"unknown-{kind.replace(' ', '-')}",
                f"unknown {kind} '{name.value}'",
                did_you_mean(name.value, known),
            )

    def _check_condition(
        self, node: ast.Node, fields: Mapping[str, Field], path: str, context: str = ""
    ) -> TypeChecker:
        checker = TypeChecker(fields, path, context)
        checker.check_condition(node)
        self.diagnostics.extend(checker.diagnostics)
        return checker

    # -- entry point
    def check(self) -> tuple[CheckedRules, list[Diagnostic]]:
        for category in self._declared(ast.CategoryDecl):
            self.check_category(category)
        lead_type_ids: dict[str, ast.LeadTypeDecl] = {}
        for lead_type in self._declared(ast.LeadTypeDecl):
            self.check_lead_type(lead_type, lead_type_ids)
        for audit in self._declared(ast.AuditDecl):
            self.check_audit(audit)
        for dedupe in self._declared(ast.DedupeDecl):
            self.check_dedupe(dedupe)
        for bid in self._declared(ast.BidDecl):
            self.check_bid(bid, lead_type_ids)
        for plan in self._declared(ast.PlanDecl):
            self.check_plan(plan)
        self.check_categories_complete()
        self.check_shadowed_lead_types()
        return self.result, self.diagnostics

    def _declared(self, kind: type[_Declaration]) -> list[_Declaration]:
        """Return the declarations of one kind, in file order."""
        return [declaration for declaration in self.declarations if isinstance(declaration, kind)]

    # -- categories
    def check_category(self, category: ast.CategoryDecl) -> None:
        if category.id.value in self.result.categories:
            self.error(
                category.id, "duplicate-id", f"category '{category.id.value}' is declared twice"
            )
            return
        fields = FieldMap()
        for decl in category.fields:
            if decl.name.value in fields:
                self.error(
                    decl.name,
                    "duplicate-field",
                    f"field '{decl.name.value}' is declared twice in category "
                    f"'{category.id.value}'",
                )
                continue
            type_name = decl.type.value
            if type_name != "one_of" and type_name not in FIELD_TYPE_NAMES:
                self.error(
                    decl.type,
                    "unknown-type",
                    f"unknown field type '{type_name}'",
                    did_you_mean(type_name, FIELD_TYPE_NAMES)
                    or "types: " + ", ".join(FIELD_TYPE_NAMES) + ", one of [...]",
                )
                fields.broken.add(decl.name.value)
                continue
            folded = {choice.casefold() for choice in decl.choices}
            if type_name == "one_of" and len(folded) != len(decl.choices):
                self.error(decl.type, "duplicate-value", "a `one of` list repeats a value")
            required = {name.value for name in decl.required}
            for name in decl.required:
                if name.value not in ("ping", "post"):
                    self.error(
                        name,
                        "invalid-required",
                        f"required() takes ping and/or post, not '{name.value}'",
                        did_you_mean(name.value, ("ping", "post")),
                    )
            example = None
            if decl.example is not None:
                try:
                    example = normalize_value(type_name, decl.example.value, decl.choices)
                except ValueError as problem:
                    self.error(
                        decl.example,
                        "invalid-example",
                        f"example for field '{decl.name.value}' is not valid: {problem}",
                    )
                    example = decl.example.value
            fields[decl.name.value] = Field(
                name=decl.name.value,
                type=type_name,
                choices=decl.choices,
                required_ping="ping" in required,
                required_post="post" in required,
                deliverable=decl.deliverable,
                example=example,
            )
        self.result.categories[category.id.value] = category
        self.result.fields[category.id.value] = fields

    def _category(self, name: ast.Name | None) -> str | None:
        if name is None or name.value in self.result.categories:
            return name.value if name else None
        self._unknown(name, "category", self.result.categories)
        return None

    # -- lead types
    def check_lead_type(
        self, lead_type: ast.LeadTypeDecl, seen: dict[str, ast.LeadTypeDecl]
    ) -> None:
        if lead_type.id.value in seen:
            first = seen[lead_type.id.value].pos
            self.error(
                lead_type.id,
                "duplicate-id",
                f"lead type '{lead_type.id.value}' is already declared at line {first.line}",
            )
            return
        seen[lead_type.id.value] = lead_type
        category = self._category(lead_type.category)
        if category is None:
            return
        if lead_type.condition is not None:
            fields = self.result.fields[category]
            checker = self._check_condition(lead_type.condition, fields, lead_type.pos.path)
            # Only a category that declares what a ping carries takes pings: in one without
            # any required(ping) field, every field would be reported.
            takes_pings = any(declared.required_ping for declared in fields.values())
            for name, ref in checker.fields_used.items():
                if takes_pings and not fields[name].required_ping:
                    self.warning(
                        ref,
                        "not-required-for-ping",
                        f"lead type '{lead_type.id.value}' uses field '{name}', which is "
                        "not required for ping: classification of pings may fail",
                        f"mark it `required(ping)` in category '{category}'",
                    )
        self.result.lead_types.append(lead_type)

    # -- audits and dedupe
    def _scope_fields(self, category: str | None) -> list[tuple[str, FieldMap]]:
        if category is not None:
            return [(category, self.result.fields[category])]
        return list(self.result.fields.items())

    def _unique_label(
        self, kind: str, declaration: ast.AuditDecl | ast.DedupeDecl, seen: dict[str, ast.Pos]
    ) -> bool:
        """Report a label used twice: labels name rules in explain and dry-run reports."""
        label = declaration.label
        if label in seen:
            self.error(
                declaration,
                "duplicate-id",
                f'{kind} "{label}" is already declared at line {seen[label].line}',
                "give each rule its own label",
            )
            return False
        seen[label] = declaration.pos
        return True

    def check_audit(self, audit: ast.AuditDecl) -> None:
        if not self._unique_label("audit", audit, self._audit_labels):
            return
        category = self._category(audit.category)
        if audit.category is not None and category is None:
            return
        before = len(self.diagnostics)
        for name, fields in self._scope_fields(category):
            context = "" if category else f" (this audit applies to every category: '{name}')"
            self._check_condition(audit.condition, fields, audit.pos.path, context)
            if len(self.diagnostics) > before:
                break  # one category's errors are enough for an audit on all of them
        self.result.audits.append(audit)

    def check_dedupe(self, dedupe: ast.DedupeDecl) -> None:
        if not self._unique_label("dedupe check", dedupe, self._dedupe_labels):
            return
        category = self._category(dedupe.category)
        if dedupe.category is not None and category is None:
            return
        ok = True
        for name, fields in self._scope_fields(category):
            for field_name in dedupe.fields:
                if field_name.value not in fields and field_name.value not in fields.broken:
                    scope = "" if category else f" (this check applies to every category: '{name}')"
                    self.error(
                        field_name,
                        "unknown-field",
                        f"unknown field '{field_name.value}'{scope}",
                        did_you_mean(field_name.value, fields),
                    )
                    ok = False
            if not ok:
                break
        if dedupe.unit.value not in DEDUPE_UNITS:
            self.error(
                dedupe.unit,
                "invalid-unit",
                f"unknown time unit '{dedupe.unit.value}'",
                did_you_mean(dedupe.unit.value, DEDUPE_UNITS) or "use minutes, hours or days",
            )
            ok = False
        if not isinstance(dedupe.amount.value, int) or dedupe.amount.value <= 0:
            self.error(dedupe.amount, "invalid-number", "a dedupe window is a whole number above 0")
            ok = False
        if ok:
            self.result.dedupes.append(dedupe)

    # -- bids
    def check_bid(self, bid: ast.BidDecl, lead_types: dict[str, ast.LeadTypeDecl]) -> None:
        if bid.id.value in self.result.bids:
            first = self.result.bids[bid.id.value].pos
            self.error(
                bid.id,
                "duplicate-id",
                f"bid '{bid.id.value}' is already declared at line {first.line}",
            )
            return
        categories: set[str] = set()
        for name in bid.lead_types:
            if name.value not in lead_types:
                self._unknown(name, "lead type", lead_types)
            else:
                categories.add(lead_types[name.value].category.value)
        if len(categories) > 1:
            self.error(
                bid.lead_types[0],
                "mixed-categories",
                "a bid's lead types must belong to one category, not "
                + ", ".join(sorted(categories)),
            )
        # With mixed categories the condition has no single field set to check against.
        category = next(iter(categories)) if len(categories) == 1 else None
        if category is not None and category not in self.result.fields:
            category = None
        if category is not None and bid.condition is not None:
            self._check_condition(bid.condition, self.result.fields[category], bid.pos.path)
        clauses: tuple[tuple[str, tuple[_Located, ...]], ...] = (
            ("cap", tuple(cap.period for cap in bid.caps)),
            ("budget", tuple(budget.period for budget in bid.budgets)),
            ("schedule", bid.schedules),
        )
        for word, places in clauses:
            if len(places) > 1:
                self.error(places[1], "duplicate-clause", f"a bid has at most one {word}")
        for cap in bid.caps:
            self._check_period(cap.period, PERIODS)
            if not isinstance(cap.limit.value, int) or cap.limit.value <= 0:
                self.error(cap.limit, "invalid-number", "a cap is a whole number of leads above 0")
        for budget in bid.budgets:
            self._check_period(budget.period, BUDGET_PERIODS)
            if budget.amount.value <= 0:
                self.error(budget.amount, "invalid-number", "a budget is an amount above 0")
        for schedule in bid.schedules:
            self.check_schedule(schedule)
        self.result.bids[bid.id.value] = bid
        if category is not None:
            self.result.bid_categories[bid.id.value] = category

    def _check_period(self, period: ast.Name, allowed: tuple[str, ...]) -> None:
        if period.value in PERIODS and period.value not in allowed:
            self.error(
                period,
                "invalid-period",
                f"a budget cannot be per {period.value}",
                "budgets are per " + ", ".join(allowed),
            )
        elif period.value not in allowed:
            self.error(
                period,
                "invalid-period",
                f"unknown period '{period.value}'",
                did_you_mean(period.value, allowed) or "use " + ", ".join(allowed),
            )

    def check_schedule(self, schedule: ast.ScheduleDecl) -> None:
        for spec in schedule.days:
            for day in (spec.first, spec.last):
                if day is not None and day.value.lower() not in DAY_NAMES:
                    self.error(
                        day,
                        "invalid-days",
                        f"unknown day '{day.value}'",
                        did_you_mean(day.value.lower(), DAY_NAMES)
                        or "days are " + ", ".join(DAY_NAMES),
                    )
        start, end = _minutes(schedule.start.value), _minutes(schedule.end.value)
        for moment, minutes in ((schedule.start, start), (schedule.end, end)):
            if minutes is None or (minutes == 24 * 60 and moment is schedule.start):
                self.error(
                    moment,
                    "invalid-time-window",
                    f"'{moment.value}' is not a time of day",
                    "times run from 00:00 to 23:59 (24:00 may end a window)",
                )
        if start is not None and start == end:
            self.error(
                schedule.start,
                "invalid-time-window",
                f"the window {schedule.start.value}..{schedule.end.value} is empty",
                "a window that wraps past midnight ends before it starts, e.g. 22:00..06:00",
            )
        if schedule.timezone.value not in _time_zones():
            self.error(
                schedule.timezone,
                "invalid-timezone",
                f"unknown time zone '{schedule.timezone.value}'",
                did_you_mean(schedule.timezone.value, _time_zones())
                or 'use an IANA name such as "America/New_York"',
            )

    # -- plans
    def check_plan(self, plan: ast.PlanDecl) -> None:
        category = self._category(plan.category)
        if category is None:
            return
        if category in self.result.plans:
            self.error(plan.category, "duplicate-id", f"category '{category}' has two plans")
            return
        terminal = None
        for stage in plan.stages:
            if terminal is not None:
                self.warning(
                    stage.kind,
                    "unreachable-stage",
                    f"stage '{stage.kind.value}' never runs: '{terminal}' ends the plan",
                )
            kind = stage.kind.value
            if kind not in STAGE_KINDS:
                self.error(
                    stage.kind,
                    "unknown-stage",
                    f"unknown stage '{kind}'",
                    did_you_mean(kind, STAGE_KINDS) or "stages: " + ", ".join(STAGE_KINDS),
                )
                continue
            if kind == "alter":
                self.check_alter_stage(stage, category)
                continue
            if stage.block is not None:
                self.error(
                    stage.kind,
                    "invalid-stage-argument",
                    f"stage {kind} takes no block of lines",
                    "only `stage alter { set ... }` has one",
                )
            if kind == "marketplace":
                terminal = "marketplace"
                self.check_marketplace_stage(stage, category)
            elif kind in OUTBOUND_USAGE:
                self.check_outbound_stage(stage)
            else:
                self.check_bidding_stage(stage, category)
        self.result.plans[category] = plan

    def check_alter_stage(self, stage: ast.StageDecl, category: str) -> None:
        """Check `stage alter { set FIELD = EXPRESSION [when CONDITION] ... }`."""
        for arg in stage.args:
            where = arg[0] if isinstance(arg, tuple) else arg
            self.error(where, "invalid-stage-argument", "unexpected stage argument", ALTER_USAGE)
        if not stage.block:
            self.error(
                stage.kind, "invalid-stage-argument", "stage alter has no `set` lines", ALTER_USAGE
            )
            return
        fields = self.result.fields.get(category, FieldMap())
        for line in stage.block:
            self.check_set_line(line, fields)

    def check_set_line(self, line: ast.SetDecl, fields: FieldMap) -> None:
        """Check one `set` line: a declared field, a value of its type, a true/false `when`."""
        path = line.pos.path
        target = fields.get(line.target.value)
        if target is None and line.target.value not in fields.broken:
            self._unknown(line.target, "field", fields)
        checker = TypeChecker(fields, path)
        found = checker.type_of(line.value)
        if target is not None and found is not None:
            wanted = target.expression_type
            if found != wanted:
                checker._error(
                    line.value,
                    "type-mismatch",
                    f"field '{target.name}' holds {_WORDS.get(wanted, wanted)}: it cannot be "
                    f"set to {describe(line.value, found)}",
                )
            else:
                checker._check_allowed(ast.FieldRef(target.name, line.target.pos), line.value)
        if line.condition is not None:
            checker.check_condition(line.condition)
        self.diagnostics.extend(checker.diagnostics)
        if checker.diagnostics:
            return
        if line.value == ast.FieldRef(line.target.value):
            self.warning(
                line.target,
                "set-never-applies",
                f"`set {line.target.value} = {line.target.value}` never changes the lead",
                "remove the line",
            )
        elif line.condition is not None and _never_true(line.condition):
            self.warning(
                line.condition,
                "set-never-applies",
                f"the `set {line.target.value}` line never applies: its condition is always false",
                "remove the line, or correct its condition",
            )

    def check_bidding_stage(self, stage: ast.StageDecl, category: str) -> None:
        names = [arg for arg in stage.args if isinstance(arg, ast.Name)]
        lists = [arg for arg in stage.args if isinstance(arg, tuple)]
        if not names:
            self.error(
                stage.kind,
                "invalid-stage-argument",
                "stage bidding needs a method: " + " or ".join(BIDDING_METHODS),
            )
        for name in names[:1]:
            if name.value not in BIDDING_METHODS:
                self.error(
                    name,
                    "invalid-stage-argument",
                    f"unknown bidding method '{name.value}'",
                    did_you_mean(name.value, BIDDING_METHODS)
                    or "use " + " or ".join(BIDDING_METHODS),
                )
        literals = [arg for arg in stage.args if isinstance(arg, ast.Literal)]
        for extra in names[1:] + [item[0] for item in lists[1:]] + literals:
            self.error(
                extra,
                "invalid-stage-argument",
                "unexpected stage argument",
                "stage bidding METHOD [bid, ...]",
            )
        for bid_name in lists[0] if lists else ():
            if bid_name.value not in self.result.bids:
                self._unknown(bid_name, "bid", self.result.bids)
            elif self.result.bid_categories.get(bid_name.value, category) != category:
                self.error(
                    bid_name,
                    "invalid-stage-argument",
                    f"bid '{bid_name.value}' is not a bid on category '{category}'",
                )

    def check_outbound_stage(self, stage: ast.StageDecl) -> None:
        """Check a stage that calls out: `ping_post` and `post` name partners in a list,
        `enrich` one provider and how its answer fills the lead. Whether the tenant has
        those partners and providers is checked when the rules are pushed."""
        kind, usage = stage.kind.value, OUTBOUND_USAGE[stage.kind.value]
        args = list(stage.args)
        if kind == "enrich":
            if args and isinstance(args[0], ast.Name):
                args.pop(0)
            else:
                self.error(
                    stage.kind, "invalid-stage-argument", "stage enrich names no provider", usage
                )
            mode = args[0] if args else None
            if isinstance(mode, ast.Name):
                args.pop(0)
                if mode.value not in ENRICH_MODES:
                    self.error(
                        mode,
                        "invalid-stage-argument",
                        f"unknown enrich mode '{mode.value}'",
                        did_you_mean(mode.value, ENRICH_MODES)
                        or "use " + " or ".join(ENRICH_MODES),
                    )
        else:
            partners = args[0] if args else None
            if isinstance(partners, tuple):
                args.pop(0)
            else:
                partners = None
            if partners is None:
                self.error(
                    stage.kind, "invalid-stage-argument", f"stage {kind} names no partners", usage
                )
            else:
                seen: set[str] = set()
                for name in partners:
                    if name.value in seen:
                        self.error(
                            name,
                            "invalid-stage-argument",
                            f"partner '{name.value}' is listed twice",
                        )
                    seen.add(name.value)
            keyword = args[0] if args else None
            if kind == "ping_post" and isinstance(keyword, ast.Name) and keyword.value == "timeout":
                args.pop(0)
                self._check_timeout(keyword, args)
        if args:  # the first one only: the words after it are part of the same mistake
            extra = args[0]
            where = extra if not isinstance(extra, tuple) else extra[0] if extra else stage.kind
            self.error(where, "invalid-stage-argument", "unexpected stage argument", usage)

    def _check_timeout(self, keyword: ast.Name, args: list[ast.StageArg]) -> None:
        """Check `timeout NUMBER ms|s` (its words taken from `args`)."""
        value = args[0] if args else None
        if isinstance(value, ast.Literal):
            args.pop(0)
        else:
            value = None
        unit = args[0] if value is not None and args else None
        if isinstance(unit, ast.Name):
            args.pop(0)
        else:
            unit = None
        if (
            value is None
            or value.type != "number"
            or unit is None
            or unit.value not in TIMEOUT_UNITS
        ):
            self.error(
                unit or value or keyword,
                "invalid-stage-argument",
                "a timeout is a number of milliseconds or seconds",
                "timeout 300 ms",
            )
            return
        milliseconds = Decimal(str(value.value)) * TIMEOUT_UNITS[unit.value]
        if (
            milliseconds != milliseconds.to_integral_value()
            or not 1 <= milliseconds <= MAX_TIMEOUT_MS
        ):
            self.error(
                value,
                "invalid-stage-argument",
                f"a timeout is a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS:,}",
                "timeout 300 ms",
            )

    def check_marketplace_stage(self, stage: ast.StageDecl, category: str) -> None:
        """Check `stage marketplace [price NUMBER] [teaser [field, ...]]`."""
        args, given, index = stage.args, set(), 0
        while index < len(args):
            arg = args[index]
            keyword = arg.value if isinstance(arg, ast.Name) else None
            if keyword not in MARKETPLACE_ARGUMENTS:
                where = arg[0] if isinstance(arg, tuple) else arg
                self.error(
                    where, "invalid-stage-argument", "unexpected stage argument", MARKETPLACE_USAGE
                )
                index += 1
                if isinstance(arg, ast.Name) and index < len(args):
                    index += not isinstance(args[index], ast.Name)  # and its value: no cascade
                continue
            assert isinstance(arg, ast.Name)
            if keyword in given:
                self.error(arg, "invalid-stage-argument", f"'{keyword}' is given twice")
            given.add(keyword)
            value = args[index + 1] if index + 1 < len(args) else None
            if isinstance(value, ast.Name) and value.value in MARKETPLACE_ARGUMENTS:
                value = None  # the next keyword: this one has no value
            index += 1 if value is None else 2
            if keyword == "price":
                self._check_offer_price(arg, value)
            else:
                self._check_teaser(arg, value, category)
        if "price" not in given:
            self.warning(
                stage.kind,
                "marketplace-without-price",
                "stage marketplace has no price: its leads can be claimed for free",
                "give them a price: stage marketplace price 25",
            )

    def _check_offer_price(self, keyword: ast.Name, value: object) -> None:
        if not (isinstance(value, ast.Literal) and value.type == "number"):
            where = value if isinstance(value, ast.Literal | ast.Name) else keyword
            self.error(
                where,
                "invalid-stage-argument",
                "a marketplace price is a number",
                "stage marketplace price 25",
            )
            return
        amount = Decimal(str(value.value))
        if amount != amount.quantize(CENT) or amount >= MAX_AMOUNT:
            self.error(
                value,
                "invalid-stage-argument",
                f"a marketplace price is in whole cents, below {MAX_AMOUNT:,}: not {amount}",
            )

    def _check_teaser(self, keyword: ast.Name, value: object, category: str) -> None:
        if not isinstance(value, tuple):
            where = value if isinstance(value, ast.Literal | ast.Name) else keyword
            self.error(
                where,
                "invalid-stage-argument",
                "a teaser is a list of fields",
                "stage marketplace teaser [zip, state]",
            )
            return
        fields = self.result.fields.get(category, FieldMap())
        for name in value:
            field_ = fields.get(name.value)
            if field_ is None:
                if name.value not in fields.broken:
                    self._unknown(name, "field", fields)
            elif not field_.deliverable:
                self.error(
                    name,
                    "invalid-stage-argument",
                    f"field '{name.value}' is not deliverable: a teaser shows deliverable "
                    "fields only",
                    f"declare it: field {name.value} {field_.type} deliverable",
                )

    # -- whole-set checks
    def check_categories_complete(self) -> None:
        fallbacks: dict[str, ast.LeadTypeDecl] = {}
        with_types: set[str] = set()
        for lead_type in self.result.lead_types:
            category = lead_type.category.value
            with_types.add(category)
            if lead_type.fallback:
                if category in fallbacks:
                    self.error(
                        lead_type.id,
                        "multiple-fallbacks",
                        f"category '{category}' already has the fallback lead type "
                        f"'{fallbacks[category].id.value}'",
                    )
                fallbacks[category] = lead_type
        for category, decl in self.result.categories.items():
            if category in self.broken:  # its plan may be the declaration that did not parse
                continue
            if category in with_types and category not in self.result.plans:
                self.error(
                    decl.id,
                    "missing-plan",
                    f"category '{category}' has lead types but no plan",
                    f"add: plan {category} {{ stage bidding highest_price }}",
                )

    def check_shadowed_lead_types(self) -> None:
        by_category: defaultdict[str, list[tuple[int, int, ast.LeadTypeDecl]]] = defaultdict(list)
        for order, lead_type in enumerate(self.result.lead_types):
            if not lead_type.fallback and lead_type.condition is not None:
                by_category[lead_type.category.value].append(
                    (-lead_type.priority, order, lead_type)
                )
        fallbacks = {lt.category.value: lt for lt in self.result.lead_types if lt.fallback}
        for category, entries in by_category.items():
            entries.sort(key=lambda entry: entry[:2])
            always = next((e[2] for e in entries if _always_true(e[2].condition)), None)
            if always is not None and category in fallbacks:
                self.warning(
                    fallbacks[category].id,
                    "unreachable-lead-type",
                    f"fallback '{fallbacks[category].id.value}' can never be chosen: "
                    f"'{always.id.value}' has a condition that always holds",
                )
            earlier: list[ast.LeadTypeDecl] = []
            for _, _, lead_type in entries:
                for before in earlier:
                    same = before.condition == lead_type.condition
                    if same or _always_true(before.condition):
                        why = "the same condition" if same else "a condition that always holds"
                        self.warning(
                            lead_type.id,
                            "unreachable-lead-type",
                            f"lead type '{lead_type.id.value}' can never be chosen: "
                            f"'{before.id.value}' (priority {before.priority}) is tried "
                            f"first and has {why}",
                        )
                        break
                earlier.append(lead_type)


def _minutes(text: str) -> int | None:
    match = _TIME.fullmatch(text)
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def _never_true(node: ast.Node) -> bool:
    """Tell whether a condition is false whatever the lead (it reads no field)."""
    refs = (ast.FieldRef, ast.MetaRef)
    return not any(isinstance(n, refs) for n in ast.walk(node)) and not evaluate(node, {})


def _always_true(node: ast.Node | None) -> bool:
    """Tell whether a condition holds whatever the lead (constant after folding)."""
    if node is None:  # a lead type without a condition takes every lead
        return True
    if isinstance(node, ast.Or):
        return any(_always_true(item) for item in node.items)
    if isinstance(node, ast.And):
        return all(_always_true(item) for item in node.items)
    refs = (ast.FieldRef, ast.MetaRef)
    if any(isinstance(n, refs) for n in ast.walk(node)):
        return False
    return evaluate(node, {})
