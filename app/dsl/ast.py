"""AST of the rules language: small frozen dataclasses that keep their source position.

Positions are excluded from equality, so two conditions written alike compare equal
(the checker uses this to find lead types that can never be chosen).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, TypeVar

#: The value of a literal in an expression; dates and datetimes as canonical ISO strings.
Scalar = str | bool | int | float
#: The value a literal holds: a Scalar, or a Decimal for prices and budgets.
_Value = TypeVar("_Value", bound=Scalar | Decimal, covariant=True)


@dataclass(frozen=True)
class Pos:
    path: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None


def _pos() -> Pos | None:
    """Declare an optional position, left out of equality (nodes built in code have none)."""
    return field(default=None, compare=False, repr=False)


class Node:
    """Base class of expression nodes."""

    pos: Pos | None  # each node class declares it last, with _pos()


# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal(Node, Generic[_Value]):
    value: _Value
    type: str  # "string" | "number" | "bool" | "date" | "datetime"
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class ListLiteral(Node):
    items: tuple[Literal[Scalar], ...]
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Regex(Node):
    pattern: str
    flags: str
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class FieldRef(Node):
    name: str
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class MetaRef(Node):
    name: str  # without the "@"
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Neg(Node):
    operand: Node
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Compare(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: ListLiteral
    negated: bool
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class StringTest(Node):
    op: str  # starts_with | ends_with | contains
    left: Node
    right: Node
    negated: bool
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Matches(Node):
    operand: Node
    regex: Regex
    negated: bool
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class IsMissing(Node):
    operand: Node
    negated: bool  # True: `is present`
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Not(Node):
    operand: Node
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class And(Node):
    items: tuple[Node, ...]
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class Or(Node):
    items: tuple[Node, ...]
    pos: Pos | None = _pos()


BOOLEAN_NODES = (Compare, InList, Between, StringTest, Matches, IsMissing, Not, And, Or)


def children(node: Node) -> tuple[Node, ...]:
    """Return a node's sub-expressions, in source order."""
    match node:
        case Call(args=args):
            return args
        case Neg(operand=operand) | Not(operand=operand) | IsMissing(operand=operand):
            return (operand,)
        case Arith(left=left, right=right) | Compare(left=left, right=right):
            return (left, right)
        case StringTest(left=left, right=right):
            return (left, right)
        case InList(operand=operand, items=items):
            return (operand, items)
        case Between(operand=operand, low=low, high=high):
            return (operand, low, high)
        case Matches(operand=operand, regex=regex):
            return (operand, regex)
        case And(items=items) | Or(items=items):
            return items
        case ListLiteral(items=items):
            return items
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Yield a node and all its descendants, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


# ---- declarations ------------------------------------------------------------------------
# A declaration (and each clause with a `pos`) starts with a keyword, so it always has a
# position; like a node's, it is left out of equality.


@dataclass(frozen=True)
class Name:
    """An identifier as written, with its position (for references and ids)."""

    value: str
    pos: Pos | None = _pos()


@dataclass(frozen=True)
class FieldDecl:
    name: Name
    type: Name  # "one_of" for `one of [...]`
    choices: tuple[str, ...]
    required: tuple[Name, ...]
    deliverable: bool
    example: Literal[Scalar] | None
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class CategoryDecl:
    id: Name
    label: str
    fields: tuple[FieldDecl, ...]
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class LeadTypeDecl:
    id: Name
    label: str
    category: Name
    priority: int
    fallback: bool
    condition: Node | None
    source: str | None  # the condition's text
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class AuditDecl:
    label: str
    category: Name | None
    condition: Node
    source: str
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class DedupeDecl:
    label: str
    category: Name | None
    fields: tuple[Name, ...]
    amount: Literal[int | float]
    unit: Name
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class CapDecl:
    limit: Literal[int | float]
    period: Name


@dataclass(frozen=True)
class BudgetDecl:
    amount: Literal[Decimal]
    period: Name


@dataclass(frozen=True)
class DaySpec:
    first: Name
    last: Name | None


@dataclass(frozen=True)
class ScheduleDecl:
    days: tuple[DaySpec, ...]
    start: Name  # "HH:MM" with the position of the time
    end: Name
    timezone: Name
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class BidDecl:
    id: Name
    customer: Name
    lead_types: tuple[Name, ...]
    price: Literal[Decimal]
    condition: Node | None
    source: str | None
    caps: tuple[CapDecl, ...]
    budgets: tuple[BudgetDecl, ...]
    schedules: tuple[ScheduleDecl, ...]
    pos: Pos = field(compare=False, repr=False)


@dataclass(frozen=True)
class SetDecl:
    """`set FIELD = EXPR [when CONDITION]`: one line of a `stage alter` block."""

    target: Name  # the field set
    value: Node
    source: str  # the expression's text
    condition: Node | None
    condition_source: str | None
    pos: Pos = field(compare=False, repr=False)


StageArg = Name | Literal[Scalar] | tuple[Name, ...]


@dataclass(frozen=True)
class StageDecl:
    kind: Name
    args: tuple[StageArg, ...]
    pos: Pos = field(compare=False, repr=False)
    block: tuple[SetDecl, ...] | None = None  # its `{ ... }` lines; None: written without


@dataclass(frozen=True)
class PlanDecl:
    category: Name
    stages: tuple[StageDecl, ...]
    pos: Pos = field(compare=False, repr=False)


Declaration = CategoryDecl | LeadTypeDecl | AuditDecl | DedupeDecl | BidDecl | PlanDecl


# ---- back to text ------------------------------------------------------------------------

_PRECEDENCE = {Or: 1, And: 2, Not: 3}


def unparse(node: Node) -> str:
    """Render an expression back to rules-language text."""
    match node:
        case Literal(value=str() as value, type="string"):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        case Literal(value=value, type="bool"):
            return "true" if value else "false"
        case Literal(value=float() as value):
            text = repr(value)
            return format(Decimal(text), "f") if "e" in text else text
        case Literal(value=value):
            return str(value)
        case ListLiteral(items=items):
            return "[" + ", ".join(unparse(item) for item in items) + "]"
        case Regex(pattern=pattern, flags=flags):
            return "/" + pattern.replace("/", "\\/") + "/" + flags
        case FieldRef(name=name):
            return name
        case MetaRef(name=name):
            return "@" + name
        case Call(name=name, args=args):
            return f"{name}(" + ", ".join(unparse(arg) for arg in args) + ")"
        case Neg(operand=operand):
            return "-" + _operand(operand)
        case Arith(op=op, left=left, right=right):
            return f"{_operand(left)} {op} {_operand(right)}"
        case Compare(op=op, left=left, right=right):
            return f"{_operand(left)} {op} {_operand(right)}"
        case InList(operand=operand, items=items, negated=negated):
            return f"{_operand(operand)} {'not in' if negated else 'in'} {unparse(items)}"
        case Between(operand=operand, low=low, high=high, negated=negated):
            word = "not between" if negated else "between"
            return f"{_operand(operand)} {word} {_operand(low)} and {_operand(high)}"
        case StringTest(op=op, left=left, right=right, negated=negated):
            return f"{_operand(left)} {'not ' if negated else ''}{op} {_operand(right)}"
        case Matches(operand=operand, regex=regex, negated=negated):
            return f"{_operand(operand)} {'not ' if negated else ''}matches {unparse(regex)}"
        case IsMissing(operand=operand, negated=negated):
            return f"{_operand(operand)} is {'present' if negated else 'missing'}"
        case Not(operand=operand):
            return "not " + _wrap(operand, 3)
        case And(items=items):
            return " and ".join(_wrap(item, 2) for item in items)
        case Or(items=items):
            return " or ".join(_wrap(item, 1) for item in items)
    raise TypeError(f"not an expression node: {node!r}")


def _wrap(node: Node, level: int) -> str:
    text = unparse(node)
    return (
        f"({text})"
        if _PRECEDENCE.get(type(node), 9) <= level and type(node) in _PRECEDENCE
        else text
    )


def _operand(node: Node) -> str:
    """Parenthesize anything looser than arithmetic when it is an operand."""
    text = unparse(node)
    return f"({text})" if isinstance(node, Arith | Compare | And | Or | Not) else text
