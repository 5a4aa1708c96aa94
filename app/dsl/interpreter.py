"""The reference semantics of expressions: a plain tree-walking interpreter.

The compiler generates faster code for the same semantics; property tests check the two
agree. `explain` uses this interpreter because it can record every clause's value.

Missing values: a field that is absent or null is missing. Any comparison, membership or
string test involving a missing value is false; arithmetic and functions on a missing value
give a missing value; `not` negates a boolean (two-valued logic: `not (x == 1)` holds when x
is missing). A value of the wrong type makes the whole condition false.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from app.dsl import ast
from app.dsl.regex import compile_regex

_ERRORS = (TypeError, ValueError, AttributeError, OverflowError)
#: One clause's verdict for explain: its text, value, operand values and sub-clauses (JSON).
Trace = dict[str, Any]
_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "starts_with": str.startswith,
    "ends_with": str.endswith,
    "contains": operator.contains,
}


def reference_time(lead: Mapping[str, Any]) -> datetime:
    """Return the moment `age` and `days_since` count to: @received_at, else now.

    Counting to the time the lead was received makes replays (dry-runs) deterministic.
    """
    received = lead.get("@received_at")
    if isinstance(received, str):
        moment = _parse_received(received)
        if moment is not None:
            return moment
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def _parse_received(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def _utc_date(text: str) -> date | None:
    moment = _parse_received(text)
    return None if moment is None else moment.astimezone(UTC).date()


@functools.lru_cache(maxsize=65536)  # leads share birth dates and received times
def _parse_moment(value: object) -> tuple[date, datetime | None] | None:
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value), None
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).date(), moment
    except ValueError:
        return None


def age(value: object, lead: Mapping[str, Any]) -> int | None:
    """Return whole years from a date (or date and time) to the lead's reference time."""
    parsed = _parse_moment(value)
    if parsed is None:
        return None
    born = parsed[0]
    received = lead.get("@received_at")
    today = _utc_date(received) if isinstance(received, str) else None
    if today is None:
        today = reference_time(lead).astimezone(UTC).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def days_since(value: object, lead: Mapping[str, Any]) -> int | None:
    """Return whole days elapsed from a date (or date and time) to the reference time."""
    parsed = _parse_moment(value)
    if parsed is None:
        return None
    day, moment = parsed
    if moment is None:
        received = lead.get("@received_at")
        today = _utc_date(received) if isinstance(received, str) else None
        if today is None:
            today = reference_time(lead).astimezone(UTC).date()
        return (today - day).days
    now = reference_time(lead)
    return math.floor((now - moment).total_seconds() / 86400)


def evaluate(node: ast.Node, lead: Mapping[str, Any]) -> bool:
    """Evaluate a condition for a lead."""
    try:
        return _truth(node, lead, None)
    except _ERRORS:
        return False


def evaluate_traced(node: ast.Node, lead: Mapping[str, Any]) -> tuple[bool, Trace]:
    """Evaluate a condition and return its value with a trace of every clause."""
    trace: list[Trace] = []
    try:
        result = _truth(node, lead, trace)
    except _ERRORS as error:
        return False, {"clause": ast.unparse(node), "value": False, "error": str(error)}
    return result, trace[-1]


def evaluate_value(node: ast.Node, lead: Mapping[str, Any]) -> Any:
    """Evaluate an expression for a lead: its value, None when missing or of a wrong type."""
    try:
        return value_of(node, lead)
    except _ERRORS:
        return None


def value_of(node: ast.Node, lead: Mapping[str, Any]) -> Any:
    """Return an operand's value, None when missing."""
    match node:
        case ast.Literal(value=value):
            return value
        case ast.FieldRef(name=name):
            return lead.get(name)
        case ast.MetaRef(name=name):
            return lead.get("@" + name)
        case ast.Call(name=name, args=(arg,)):
            value = value_of(arg, lead)
            if value is None:
                return None
            if name == "lower":
                return value.lower()
            if name == "upper":
                return value.upper()
            if name == "len":
                return len(value)
            if name == "age":
                return age(value, lead)
            return days_since(value, lead)
        case ast.Neg(operand=operand):
            value = value_of(operand, lead)
            return None if value is None else -value
        case ast.Arith(op=op, left=left, right=right):
            a, b = value_of(left, lead), value_of(right, lead)
            if a is None or b is None:
                return None
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            return None if b == 0 else a / b
    # A condition used as a value (e.g. `(a == 1) == true`) is a boolean.
    return _truth(node, lead, None)


def _truth(node: ast.Node, lead: Mapping[str, Any], trace: list[Trace] | None) -> bool:
    children: list[Trace] = []
    sub_trace = children if trace is not None else None
    operands: dict[str, Any] = {}
    match node:
        case ast.Literal(value=value):
            result = value is True
        case ast.FieldRef() | ast.MetaRef():
            value = value_of(node, lead)
            operands[ast.unparse(node)] = value
            result = value is True
        case ast.Compare(op=op, left=left, right=right):
            a, b = _operand(left, lead, operands), _operand(right, lead, operands)
            result = a is not None and b is not None and _COMPARE[op](a, b)
        case ast.InList(operand=operand, items=items, negated=negated):
            value = _operand(operand, lead, operands)
            found = value is not None and value in {item.value for item in items.items}
            result = value is not None and (found != negated)
        case ast.Between(operand=operand, low=low, high=high, negated=negated):
            v = _operand(operand, lead, operands)
            lo, hi = _operand(low, lead, operands), _operand(high, lead, operands)
            result = None not in (v, lo, hi) and ((lo <= v <= hi) != negated)
        case ast.StringTest(op=op, left=left, right=right, negated=negated):
            a, b = _operand(left, lead, operands), _operand(right, lead, operands)
            result = a is not None and b is not None and (_STRING_TESTS[op](a, b) != negated)
        case ast.Matches(operand=operand, regex=regex, negated=negated):
            value = _operand(operand, lead, operands)
            matched = value is not None and compile_regex(regex.pattern, regex.flags).test(value)
            result = value is not None and (matched != negated)
        case ast.IsMissing(operand=operand, negated=negated):
            value = _operand(operand, lead, operands)
            result = (value is None) != negated
        case ast.Not(operand=operand):
            result = not _truth(operand, lead, sub_trace)
        case ast.And(items=items) | ast.Or(items=items):
            result = _junction(isinstance(node, ast.And), items, lead, sub_trace)
        case _:
            raise TypeError(f"not a condition: {ast.unparse(node)}")
    if trace is not None:
        entry: Trace = {"clause": ast.unparse(node), "value": bool(result)}
        if operands:
            entry["values"] = operands
        if children:
            entry["clauses"] = children
        trace.append(entry)
    return bool(result)


def _junction(
    is_and: bool, items: tuple[ast.Node, ...], lead: Mapping[str, Any], trace: list[Trace] | None
) -> bool:
    """Evaluate `and`/`or` with short-circuit semantics.

    Traced, the clauses after the deciding one are still shown (marked not evaluated), and
    an error in them is recorded there instead of changing the result.
    """
    decided = None
    for item in items:
        if decided is None:
            value = _truth(item, lead, trace)
            if value != is_and:
                decided = value
            continue
        if trace is None:
            break
        try:
            _truth(item, lead, trace)
        except _ERRORS as error:
            trace.append({"clause": ast.unparse(item), "value": None, "error": str(error)})
        trace[-1]["evaluated"] = False
    return is_and if decided is None else decided


def _operand(node: ast.Node, lead: Mapping[str, Any], operands: dict[str, Any]) -> Any:
    value = value_of(node, lead)
    if not isinstance(node, ast.Literal):
        operands[ast.unparse(node)] = value
    return value
