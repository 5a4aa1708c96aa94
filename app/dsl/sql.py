"""Compile expression ASTs to SQL WHERE clauses over leads stored as JSON.

The SQL keeps the language's semantics exactly:
- a missing value (absent key, JSON null) is SQL NULL, and every predicate is wrapped in
  COALESCE(..., FALSE), so NULL never leaks into NOT (`NOT (x = 1)` holds when x is missing,
  as in Python);
- strings order by code point (PostgreSQL: COLLATE "C"; SQLite: BINARY), numbers are
  IEEE doubles (PostgreSQL float8; SQLite's integer division is avoided), division by zero
  is missing (NULLIF);
- every value is a bound parameter, never interpolated; JSON keys too.

On SQLite the string functions, regexes and date arithmetic call the same Python code as
the compiled predicates (registered with `register_sqlite_functions`), so they are exact.
On PostgreSQL, `lower`/`upper` (whose Unicode case mapping follows the database) and
regexes outside a portable subset are not translated: such a clause becomes TRUE or FALSE,
whichever makes the result a superset, and `SqlWhere.exact` is False so the caller
re-checks the candidates with the Python predicate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.dsl import ast, interpreter
from app.dsl.fieldtypes import EXPRESSION_TYPES
from app.dsl.regex import compile_regex
from app.dsl.types import FUNCTIONS, METADATA

DIALECTS = ("sqlite", "postgresql")
_COMPARE = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PG_ARRAY = {"string": "text[]", "date": "text[]", "datetime": "text[]", "number": "float8[]",
             "bool": "boolean[]"}  # fmt: skip


@dataclass(frozen=True)
class SqlWhere:
    sql: str
    params: tuple[Any, ...]
    exact: bool  # False: a superset of the matching leads; re-check with the predicate


@dataclass(frozen=True)
class Sql:
    """A piece of SQL and the parameters of its placeholders, in textual order."""

    text: str
    params: tuple[Any, ...] = ()


_SLOT = re.compile(r"\{(\w+)\}")


def sql(template: str, **parts: Sql | str) -> Sql:
    """Fill `{name}` slots with pieces; a piece used twice brings its parameters twice."""
    params: list[Any] = []

    def fill(match: re.Match) -> str:
        part = parts[match.group(1)]
        if isinstance(part, Sql):
            params.extend(part.params)
            return part.text
        return part

    text = _SLOT.sub(fill, template)
    return Sql(text, tuple(params))


class _Unknown(Exception):
    """A value this dialect cannot compute exactly."""


class _Translator:
    def __init__(
        self, dialect: str, column: str, types: Mapping[str, str], meta: Mapping[str, str]
    ):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {dialect!r}")
        self.types, self.meta = types, meta
        self.column = Sql(column)
        self.exact = True
        self.pg = dialect == "postgresql"

    # -- helpers
    def bind(self, value: Any) -> Sql:
        return Sql("%s" if self.pg else "?", (value,))

    def key(self, name: str) -> Sql:
        if self.pg:
            return self.bind(name)
        return self.bind('$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')

    def extract(self, name: str, kind: str) -> Sql:
        """A key's value as an SQL value of the expression type, NULL when missing."""
        parts = {"col": self.column, "key": self.key(name)}
        if self.pg:
            json_type = {"number": "number", "bool": "boolean"}.get(kind, "string")
            cast = {"number": "::float8", "bool": "::boolean"}.get(kind, "")
            return sql(
                f"(CASE WHEN jsonb_typeof({{col}} -> {{key}}) = '{json_type}' "
                f"THEN ({{col}} ->> {{key}}){cast} END)",
                **parts,
            )
        if kind == "number":
            template = ("(CASE WHEN json_type({col}, {key}) IN ('integer', 'real') "
                        "THEN json_extract({col}, {key}) END)")  # fmt: skip
        elif kind == "bool":
            template = "(CASE json_type({col}, {key}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
        else:
            template = (
                "(CASE WHEN json_type({col}, {key}) = 'text' THEN json_extract({col}, {key}) END)"
            )
        return sql(template, **parts)

    def missing(self, name: str) -> Sql:
        function = "jsonb_typeof({col} -> {key})" if self.pg else "json_type({col}, {key})"
        return sql(f"(COALESCE({function}, 'null') = 'null')", col=self.column, key=self.key(name))

    def literal(self, node: ast.Literal) -> Sql:
        if node.type == "bool":
            return Sql("TRUE" if node.value else "FALSE")
        placeholder = self.bind(node.value)
        if self.pg:
            cast = "::float8" if node.type == "number" else "::text"
            return sql("{value}" + cast, value=placeholder)
        return placeholder

    @staticmethod
    def two_valued(part: Sql) -> Sql:
        return sql("COALESCE({test}, FALSE)", test=part)

    # -- values (NULL is missing)
    def type_of(self, node: ast.Node) -> str:
        match node:
            case ast.Literal(type=kind):
                return kind
            case ast.FieldRef(name=name):
                return EXPRESSION_TYPES[self.types[name]]
            case ast.MetaRef(name=name):
                return METADATA[name]
            case ast.Call(name=name):
                return FUNCTIONS[name][1]
            case ast.Neg() | ast.Arith():
                return "number"
        return "bool"

    def meta_value(self, name: str) -> Sql:
        if name in self.meta:
            return Sql(self.meta[name])
        return self.extract("@" + name, METADATA[name])

    def value(self, node: ast.Node) -> Sql:
        match node:
            case ast.Literal():
                return self.literal(node)
            case ast.FieldRef(name=name):
                return self.extract(name, EXPRESSION_TYPES[self.types[name]])
            case ast.MetaRef(name=name):
                return self.meta_value(name)
            case ast.Neg(operand=operand):
                return sql("(-{x})", x=self.value(operand))
            case ast.Arith(op=op, left=left, right=right):
                a, b = self.value(left), self.value(right)
                if op == "/":
                    # SQLite divides integers as integers; Python and float8 do not.
                    template = (
                        "({a} / NULLIF({b}, 0))"
                        if self.pg
                        else "(CAST({a} AS REAL) / NULLIF({b}, 0))"
                    )
                    return sql(template, a=a, b=b)
                return sql("({a} " + op + " {b})", a=a, b=b)
            case ast.Call(name=name, args=(arg,)):
                return self.call(name, arg)
        return sql("({c})", c=self.condition(node, True))

    def call(self, name: str, arg: ast.Node) -> Sql:
        value = self.value(arg)
        if not self.pg:
            if name in ("age", "days_since"):
                reference = self.meta_value("received_at")
                return sql(f"sluice_{name}({{v}}, {{r}})", v=value, r=reference)
            return sql(f"sluice_{name}({{v}})", v=value)
        if name == "len":
            return sql("length({v})::float8", v=value)
        if name in ("lower", "upper"):
            raise _Unknown(name)  # Unicode case mapping follows the database's collation
        reference = sql("COALESCE(({r})::timestamptz, now())", r=self.meta_value("received_at"))
        today = sql("(({r}) AT TIME ZONE 'UTC')::date", r=reference)
        if name == "age":
            born = sql("(substr({v}, 1, 10))::date", v=value)
            # age() counts whole years exactly as Python does for a birth date not in the
            # future, in one pass instead of six EXTRACTs; future dates take the long way.
            return sql(
                "(CASE WHEN {b} <= {t} THEN EXTRACT(YEAR FROM age({t}, {b})) ELSE "
                "EXTRACT(YEAR FROM {t}) - EXTRACT(YEAR FROM {b}) - CASE WHEN "
                "(EXTRACT(MONTH FROM {t}), EXTRACT(DAY FROM {t})) < "
                "(EXTRACT(MONTH FROM {b}), EXTRACT(DAY FROM {b})) THEN 1 ELSE 0 END END)::float8",
                t=today,
                b=born,
            )
        if self.type_of(arg) == "date":
            return sql("({t} - ({v})::date)::float8", t=today, v=value)
        return sql(
            "floor(EXTRACT(EPOCH FROM ({r} - ({v})::timestamptz)) / 86400)::float8",
            r=reference,
            v=value,
        )

    # -- conditions: two-valued SQL booleans; `positive` tracks NOT for superset fallbacks
    def condition(self, node: ast.Node, positive: bool) -> Sql:
        try:
            return self._condition(node, positive)
        except _Unknown:
            self.exact = False
            return Sql("TRUE" if positive else "FALSE")

    def _condition(self, node: ast.Node, positive: bool) -> Sql:
        match node:
            case ast.Literal(value=value):
                return Sql("TRUE" if value is True else "FALSE")
            case ast.FieldRef() | ast.MetaRef():
                return self.two_valued(sql("{v} = TRUE", v=self.value(node)))
            case ast.Compare(op=op, left=left, right=right):
                a, b = self.value(left), self.value(right)
                if op not in ("==", "!=") and self.type_of(left) != "number":
                    a = self.collate(a)
                return self.two_valued(sql("{a} " + _COMPARE[op] + " {b}", a=a, b=b))
            case ast.InList(operand=operand, items=items, negated=negated):
                return self.in_list(operand, items, negated)
            case ast.Between(operand=operand, low=low, high=high, negated=negated):
                v = self.value(operand)
                if self.type_of(operand) != "number":
                    v = self.collate(v)
                # `1 BETWEEN NULL AND 0` is FALSE, not NULL: guard every operand explicitly.
                template = (
                    "({v} IS NOT NULL AND {lo} IS NOT NULL AND {hi} IS NOT NULL AND "
                    + ("NOT " if negated else "")
                    + "({v} BETWEEN {lo} AND {hi}))"
                )
                return sql(template, v=v, lo=self.value(low), hi=self.value(high))
            case ast.StringTest(op=op, left=left, right=right, negated=negated):
                a, b = self.value(left), self.value(right)
                if not self.pg:
                    template = f"sluice_{op}({{a}}, {{b}})"
                elif op == "starts_with":
                    template = "(left({a}, length({b})) = {b})"
                elif op == "ends_with":
                    template = "(right({a}, length({b})) = {b})"
                else:
                    template = "(strpos({a}, {b}) > 0)"
                test = sql(template, a=a, b=b)
                return self.two_valued(sql("NOT {t}", t=test) if negated else test)
            case ast.Matches(operand=operand, regex=regex, negated=negated):
                value = self.value(operand)
                if self.pg:
                    pattern = portable_pattern(regex.pattern, regex.flags)
                    if pattern is None:
                        raise _Unknown("regex")
                    test = sql("({v} ~ {p})", v=value, p=self.bind(pattern))
                else:
                    test = sql("sluice_regexp({p}, {f}, {v})", p=self.bind(regex.pattern),
                               f=self.bind(regex.flags), v=value)  # fmt: skip
                return self.two_valued(sql("NOT {t}", t=test) if negated else test)
            case ast.IsMissing(operand=operand, negated=negated):
                if isinstance(operand, ast.FieldRef):
                    test = self.missing(operand.name)
                elif isinstance(operand, ast.MetaRef) and operand.name not in self.meta:
                    test = self.missing("@" + operand.name)
                else:
                    test = sql("({v} IS NULL)", v=self.value(operand))
                return sql("(NOT {t})", t=test) if negated else test
            case ast.Not(operand=operand):
                return sql("(NOT {c})", c=self.condition(operand, not positive))
            case ast.And(items=items) | ast.Or(items=items):
                word = " AND " if isinstance(node, ast.And) else " OR "
                parts = {f"c{i}": self.condition(item, positive) for i, item in enumerate(items)}
                return sql("(" + word.join("{" + name + "}" for name in parts) + ")", **parts)
        raise TypeError(f"not a condition: {ast.unparse(node)}")

    def collate(self, part: Sql) -> Sql:
        return sql('({v} COLLATE "C")', v=part) if self.pg else part

    def in_list(self, operand: ast.Node, items: ast.ListLiteral, negated: bool) -> Sql:
        value = self.value(operand)
        values = [item.value for item in items.items]
        if self.pg:
            array = _PG_ARRAY[self.type_of(operand)]
            members = sql("{v} = ANY({list}::" + array + ")", v=value, list=self.bind(values))
        else:
            members = sql("{v} IN (SELECT value FROM json_each({list}))", v=value,
                          list=self.bind(json.dumps(values)))  # fmt: skip
        if negated:
            return self.two_valued(sql("({v} IS NOT NULL AND NOT ({m}))", v=value, m=members))
        return self.two_valued(members)


def to_sql(
    node: ast.Node,
    fields: Mapping[str, str],
    dialect: str,
    *,
    column: str = "data",
    meta: Mapping[str, str] | None = None,
) -> SqlWhere:
    """Translate a checked condition to a WHERE clause over a JSON column.

    `fields` maps field names to field type names; `meta` optionally maps metadata names
    (source, partner, received_at, is_test, category) to trusted SQL expressions, else they
    are read from the JSON under "@name" keys.
    """
    translator = _Translator(dialect, column, fields, meta or {})
    where = translator.condition(node, True)
    return SqlWhere(where.text, where.params, translator.exact)


# ---- PostgreSQL regexes --------------------------------------------------------------

_PORTABLE_TOKEN = re.compile(
    r"""\\d                      # digit class, rewritten as [0-9]
      | \\[.\-()\[\]{}|*+?^$/\\]  # escaped punctuation
      | \[\^?[A-Za-z0-9 _\-.,:@]+\]  # an ASCII class (no escapes, no POSIX classes)
      | [A-Za-z0-9 _\-,:@'"!%&=<>~`;]  # a literal ASCII character
      | [()|?*+]                 # grouping, alternation, repetition
      | \{[0-9]{1,3}(?:,[0-9]{0,3})?\}  # counted repetition
    """,
    re.VERBOSE,
)


def portable_pattern(pattern: str, flags: str) -> str | None:
    """Return a PostgreSQL regex that matches exactly what RE2 matches, or None.

    Only a conservative subset is translated: ASCII literals and classes, groups,
    alternation, repetition, `\\d`, and `^`/`$` at the ends. `.` is excluded (PostgreSQL's
    matches a newline, RE2's does not), as are case-insensitive patterns.
    """
    if flags:
        return None
    body = pattern
    start = body.startswith("^")
    end = body.endswith("$") and not body.endswith("\\$")
    body = body[1 if start else 0 : len(body) - (1 if end else 0)]
    out = []
    position = 0
    while position < len(body):
        match = _PORTABLE_TOKEN.match(body, position)
        if match is None:
            return None
        token = match.group()
        out.append("[0-9]" if token == "\\d" else token)
        position = match.end()
    try:
        compile_regex(pattern, flags)
    except ValueError:
        return None
    return ("^" if start else "") + "".join(out) + ("$" if end else "")


# ---- SQLite functions ----------------------------------------------------------------


def _regexp(pattern, flags, value):
    if value is None or not isinstance(value, str):
        return None
    return int(compile_regex(pattern, flags or "").test(value))


def _text_function(function):
    def wrapper(*values):
        if any(value is None or not isinstance(value, str) for value in values):
            return None
        result = function(*values)
        return int(result) if isinstance(result, bool) else result

    return wrapper


def _date_function(function):
    def wrapper(value, reference):
        if value is None or not isinstance(value, str):
            return None
        lead = {"@received_at": reference} if reference is not None else {}
        return function(value, lead)

    return wrapper


SQLITE_FUNCTIONS = {
    "sluice_regexp": (_regexp, 3),
    "sluice_lower": (_text_function(str.lower), 1),
    "sluice_upper": (_text_function(str.upper), 1),
    "sluice_len": (_text_function(len), 1),
    "sluice_starts_with": (_text_function(str.startswith), 2),
    "sluice_ends_with": (_text_function(str.endswith), 2),
    "sluice_contains": (_text_function(lambda a, b: b in a), 2),
    "sluice_age": (_date_function(interpreter.age), 2),
    "sluice_days_since": (_date_function(interpreter.days_since), 2),
}


def register_sqlite_functions(connection) -> None:
    """Register the functions the SQLite translation calls on a sqlite3 connection."""
    for name, (function, arity) in SQLITE_FUNCTIONS.items():
        connection.create_function(name, arity, function, deterministic=True)
