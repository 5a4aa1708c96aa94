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

PostgreSQL evaluates an expression as often as it is written, and reading a typed value out
of JSONB (look the key up, check its JSON type, convert) costs far more than comparing it.
So the PostgreSQL translation reads each value the cheapest exact way its use allows: a
true/false test is one containment (`data @> '{"homeowner": true}'`), a string compared
with literals that no other JSON type prints as (`"CA"`, not `"12"` or `"true"`) is the
`->>` text, `is missing` is `->> IS NULL`; only the other uses read the typed value. And a
query with several conditions (counts, the dry-run's masks) translates them over one
`RowValues`: a subquery that reads each value once per row, shared by all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.dsl import ast
from app.dsl.fieldtypes import EXPRESSION_TYPES
from app.dsl.sqldialects import literal_prefixes, portable_pattern
from app.dsl.types import FUNCTIONS, METADATA

DIALECTS = ("sqlite", "postgresql")
_COMPARE = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PG_ARRAY = {
    "string": "text[]",
    "date": "text[]",
    "datetime": "text[]",
    "number": "float8[]",
    "bool": "boolean[]",
}


@dataclass(frozen=True)
class SqlWhere:
    sql: str
    params: tuple[Any, ...]
    exact: bool  # False: a superset of the matching leads; re-check with the predicate
    #: What it was translated from (node, field types), so a query holding several
    #: conditions can translate them again over shared `RowValues`.
    source: tuple[ast.Node, Mapping[str, str]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sql:
    """A piece of SQL and the parameters of its placeholders, in textual order."""

    text: str
    params: tuple[Any, ...] = ()


_SLOT = re.compile(r"\{(\w+)\}")


def sql(template: str, **parts: Sql | str) -> Sql:
    """Fill `{name}` slots with pieces; a piece used twice brings its parameters twice."""
    params: list[Any] = []

    def fill(match: re.Match[str]) -> str:
        part = parts[match.group(1)]
        if isinstance(part, Sql):
            params.extend(part.params)
            return part.text
        return part

    text = _SLOT.sub(fill, template)
    return Sql(text, tuple(params))


class _Unknown(Exception):
    """A value this dialect cannot compute exactly."""


_JSON_TYPE = {"number": "number", "bool": "boolean"}  # any other expression type: string
_TEXT_KINDS = ("string", "date", "datetime")
_CAST = {"number": "::float8", "bool": "::boolean"}
_NOT_PLAIN = re.compile(r"[-0-9\[{]|(?:true|false)$")


def plain_string(value: str) -> bool:
    """Whether no JSON value but this string has it as its `->>` text.

    `->>` prints numbers as `-?digits[.digits]`, booleans as true/false, arrays and objects
    from `[` and `{`; a string starting otherwise can only be that string.
    """
    return _NOT_PLAIN.match(value) is None


class _Inline:
    """Reads lead values straight from the JSONB column, where each condition uses them."""

    def __init__(self, column: str):
        self.column = Sql(column)

    def typed(self, key: str, kind: str) -> Sql:
        """The value as SQL of its expression type; NULL when missing or of another type."""
        return sql(
            f"(CASE WHEN jsonb_typeof({{c}} -> {{k}}) = '{_JSON_TYPE.get(kind, 'string')}' "
            f"THEN ({{c}} ->> {{k}}){_CAST.get(kind, '')} END)",
            c=self.column,
            k=_bind(key),
        )

    def text(self, key: str) -> Sql:
        """The `->>` text of any JSON value; NULL when missing (absent or null)."""
        return sql("({c} ->> {k})", c=self.column, k=_bind(key))

    def present(self, key: str) -> Sql:
        return sql("(({c} ->> {k}) IS NOT NULL)", c=self.column, k=_bind(key))

    def string_check(self, key: str) -> Sql:
        """Whether the key holds a string (its text having been tested)."""
        return sql(
            "COALESCE(jsonb_typeof({c} -> {k}) = 'string', FALSE)", c=self.column, k=_bind(key)
        )

    def holds(self, key: str, value: Any) -> Sql:
        """Whether the key holds exactly this JSON scalar (type included): never NULL."""
        document = json.dumps({key: value}, ensure_ascii=False)
        return sql("COALESCE({c} @> {d}::jsonb, FALSE)", c=self.column, d=_bind(document))

    def share(self, expression: Sql) -> Sql:
        return expression


#: How a RowValues column was asked for: a method name, then its arguments (JSON values).
Recipe = tuple[Any, ...]


class RowValues:
    """Lead values read once per row, shared by every condition of one query (PostgreSQL).

    Conditions translated with `to_sql(..., row=values)` read columns of `values.alias`;
    the query selects FROM `values.rows(table, where)`, a subquery that reads each JSON key
    once per row (`data -> key`), then types each value once. `expression()` adds any other
    per-row SQL over the table (metadata, the columns a query returns). Each level selects
    `clock_timestamp()`, a volatile but parallel-safe function: PostgreSQL then neither
    merges the subquery into the query (which would copy every expression back to each
    place it is used) nor gives up a parallel scan, as `OFFSET 0` would.
    """

    def __init__(self, column: str = "data", alias: str = "v"):
        self.column, self.alias = Sql(column), alias
        self.first: dict[str, Sql] = {}  # column -> SQL over the table
        self.second: dict[str, Sql] = {}  # column -> SQL over the first level's columns
        self.names: dict[tuple[str, ...], str] = {}
        #: column -> (method, *arguments) that asked for it, so that a projection of stored
        #: leads (app/analysis/projection.py) can ask again and keep the value in a column
        self.recipes: dict[str, Recipe] = {}

    def _name(self, key: tuple[str, ...], level: dict[str, Sql], make: Callable[[], Sql]) -> str:
        if key not in self.names:
            name = f"{'a' if level is self.first else 'b'}{len(self.names)}"
            level[name] = make()
            self.names[key] = name
        return self.names[key]

    def _column(
        self, key: tuple[str, ...], level: dict[str, Sql], make: Callable[[], Sql], recipe: Recipe
    ) -> Sql:
        name = self._name(key, level, make)
        self.recipes.setdefault(name, recipe)
        return Sql(f"{self.alias}.{name}")

    def expression(self, expression: Sql) -> Sql:
        """Return a reference to a per-row expression over the table, computed once."""
        key = ("sql", expression.text, repr(expression.params))  # lists are unhashable
        recipe = ("expression", expression.text, list(expression.params))
        return self._column(key, self.first, lambda: expression, recipe)

    share = expression

    def _raw(self, key: str) -> str:
        """Return the first level's `data -> key` (JSONB, NULL when absent), for the second."""
        make = lambda: sql("({c} -> {k})", c=self.column, k=_bind(key))  # noqa: E731
        return "r." + self._name(("raw", key), self.first, make)

    def typed(self, key: str, kind: str) -> Sql:
        json_type = _JSON_TYPE.get(kind, "string")
        raw = self._raw(key)
        convert = {"number": f"({raw} ->> 0)::float8", "bool": f"{raw}::boolean"}
        return self._column(
            ("typed", key, json_type),
            self.second,
            lambda: Sql(
                f"CASE WHEN jsonb_typeof({raw}) = '{json_type}' THEN "
                f"{convert.get(kind, f'({raw} ->> 0)')} END"
            ),
            ("typed", key, kind),
        )

    def date_number(self, key: str) -> Sql:
        """The string's first 10 characters, a date, as the integer YYYYMMDD; NULL when
        missing or not a string (text that is no date fails, as `::date` does)."""
        raw = self._raw(key)
        day = f"substr({raw} ->> 0, 1, 10)"
        return self._column(
            ("date_number", key),
            self.second,
            lambda: Sql(
                f"CASE WHEN jsonb_typeof({raw}) = 'string' THEN CASE WHEN ({day})::date IS NOT NULL"
                f" THEN translate({day}, '-', '')::int4 END END"
            ),
            ("date_number", key),
        )

    def text(self, key: str) -> Sql:
        return self._column(
            ("text", key),
            self.first,
            lambda: sql("({c} ->> {k})", c=self.column, k=_bind(key)),
            ("text", key),
        )

    def present(self, key: str) -> Sql:
        test = Sql(f"COALESCE(jsonb_typeof({self._raw(key)}) <> 'null', FALSE)")
        return self._column(("present", key), self.second, lambda: test, ("present", key))

    def string_check(self, key: str) -> Sql:
        """Whether the key holds a string, its shared text having been tested: true at once
        when the text starts as no number, true/false, array or object prints; else
        looked up (only then)."""
        text = self.text(key)
        return sql(
            "COALESCE((ascii({t}) NOT BETWEEN 45 AND 57 AND ascii({t}) NOT IN (91, 102, 116, 123))"
            " OR jsonb_typeof({d} -> {k}) = 'string', FALSE)",
            t=text,
            d=self.expression(self.column),
            k=_bind(key),
        )

    def holds(self, key: str, value: Any) -> Sql:
        document = json.dumps({key: value}, ensure_ascii=False)
        return self._column(
            ("holds", document),
            self.first,
            lambda: sql("COALESCE({c} @> {d}::jsonb, FALSE)", c=self.column, d=_bind(document)),
            ("holds", key, value),
        )

    def rows(self, source: Sql, order: Sequence[Sql] = ()) -> Sql:
        """Return the subquery (aliased) over `source`, "table alias WHERE ...", to select
        FROM. When `source` ends with an ORDER BY, `order` names the same keys as columns
        (from `expression()`), so that the ordering survives to the query above."""
        first = [sql("{e} AS " + name, e=e) for name, e in self.first.items()]
        inner = sql(
            "(SELECT {c} FROM {s})", c=_join([*first, Sql("clock_timestamp() AS _once")]), s=source
        )
        if not self.second:
            return sql("{i} " + self.alias, i=inner)
        second = [Sql(f"{e.text} AS {name}") for name, e in self.second.items()]
        columns = _join([Sql("r.*"), *second, Sql("clock_timestamp() AS _twice")])
        keys = ", ".join("r." + key.text.split(".", 1)[1] for key in order)
        return sql(
            "(SELECT {c} FROM {i} r" + (f" ORDER BY {keys}" if keys else "") + ") " + self.alias,
            c=columns,
            i=inner,
        )


def _bind(value: Any) -> Sql:
    return Sql("%s", (value,))


def _join(parts: list[Sql]) -> Sql:
    return Sql(", ".join(p.text for p in parts), tuple(v for p in parts for v in p.params))


class _Translator:
    def __init__(
        self,
        dialect: str,
        column: str,
        types: Mapping[str, str],
        meta: Mapping[str, str],
        row: RowValues | None = None,
        received: str | None = None,
    ):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {dialect!r}")
        self.types, self.meta, self.received = types, meta, received
        self.column = Sql(column)
        self.exact = True
        self.pg = dialect == "postgresql"
        self.read = row if row is not None else _Inline(column)
        self.checks: list[Sql] | None = None  # inside `test()`: the string checks to add

    # -- helpers
    def bind(self, value: Any) -> Sql:
        return Sql("%s" if self.pg else "?", (value,))

    def key(self, name: str) -> Sql:
        if self.pg:
            return self.bind(name)
        return self.bind('$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')

    def extract(self, name: str, kind: str) -> Sql:
        """A key's value as an SQL value of the expression type, NULL when missing."""
        if self.pg:
            return self.read.typed(name, kind)
        parts = {"col": self.column, "key": self.key(name)}
        if kind == "number":
            template = (
                "(CASE WHEN json_type({col}, {key}) IN ('integer', 'real') "
                "THEN json_extract({col}, {key}) END)"
            )
        elif kind == "bool":
            template = "(CASE json_type({col}, {key}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
        else:
            template = (
                "(CASE WHEN json_type({col}, {key}) = 'text' THEN json_extract({col}, {key}) END)"
            )
        return sql(template, **parts)

    def missing(self, name: str) -> Sql:
        if self.pg:
            return sql("(NOT {p})", p=self.read.present(name))
        return sql(
            "(COALESCE(json_type({col}, {key}), 'null') = 'null')",
            col=self.column,
            key=self.key(name),
        )

    def json_key(self, node: ast.Node) -> str | None:
        """The JSON key a field (or metadata read from the JSON) is stored under, else None."""
        if isinstance(node, ast.FieldRef):
            return node.name
        if isinstance(node, ast.MetaRef) and node.name not in self.meta:
            return "@" + node.name
        return None

    def literal(self, node: ast.Literal[ast.Scalar]) -> Sql:
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
            return self.read.share(Sql(self.meta[name])) if self.pg else Sql(self.meta[name])
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
        if self.pg and name in ("lower", "upper"):
            raise _Unknown(name)  # Unicode case mapping follows the database's collation
        if self.pg and name == "age" and isinstance(arg, ast.FieldRef):
            if isinstance(self.read, RowValues):  # the birth date read once per row
                return self.age(self.read.date_number(arg.name))
        value = self.value(arg)
        if not self.pg:
            if name in ("age", "days_since"):
                reference = self.meta_value("received_at")
                return sql(f"sluice_{name}({{v}}, {{r}})", v=value, r=reference)
            return sql(f"sluice_{name}({{v}})", v=value)
        if name == "len":
            return sql("length({v})::float8", v=value)
        utc, moment = self.reference()
        if name == "age":
            born = sql("substr({v}, 1, 10)", v=value)  # checked as a date first
            return self.age(
                sql(
                    "(CASE WHEN ({b})::date IS NOT NULL THEN translate({b}, '-', '')::int4 END)",
                    b=born,
                )
            )
        if self.type_of(arg) == "date":
            today = self.per_row(sql("({u})::date", u=utc))
            return sql("({t} - ({v})::date)::float8", t=today, v=value)
        return sql(
            "floor(EXTRACT(EPOCH FROM ({r} - ({v})::timestamptz)) / 86400)::float8",
            r=self.per_row(moment),
            v=value,
        )

    def age(self, born: Sql) -> Sql:
        """Whole years since `born` (an integer YYYYMMDD) as Python counts them, born in
        the future included: the difference of the two dates as YYYYMMDD numbers, floored
        to 10,000s (kept positive so that integer division floors)."""
        utc, _ = self.reference()
        today = self.per_row(
            sql(
                "(date_part('year', {u}) * 10000 + date_part('month', {u}) * 100 "
                "+ date_part('day', {u}))::int4",
                u=utc,
            )
        )
        return sql("(({t} - {b} + 100000000) / 10000 - 10000)::float8", t=today, b=born)

    def reference(self) -> tuple[Sql, Sql]:
        """Return the moment age and days_since count to, as a UTC timestamp and as
        timestamptz (@received_at truncated to seconds, as the rules see it; else now)."""
        if self.received is None:
            moment = sql("COALESCE(({r})::timestamptz, now())", r=self.meta_value("received_at"))
            return sql("({m} AT TIME ZONE 'UTC')", m=moment), moment
        return Sql(self.received), Sql(
            f"(date_trunc('second', {self.received}) AT TIME ZONE 'UTC')"
        )

    def per_row(self, expression: Sql) -> Sql:
        """Share an expression of the reference time between conditions, when it is a column."""
        return self.read.share(expression) if self.received is not None else expression

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
                key = self.json_key(node)
                if self.pg and key is not None:
                    return self.read.holds(key, True)
                return self.two_valued(sql("{v} = TRUE", v=self.value(node)))
            case ast.Compare(op=op, left=left, right=right):
                if self.pg and self.type_of(left) == "bool":
                    cheap = self.bool_equality(op, left, right)
                    if cheap is not None:
                        return cheap

                def compare() -> Sql:
                    a, b = self.operand(left), self.operand(right)
                    if op not in ("==", "!=") and self.type_of(left) != "number":
                        a = self.collate(a)
                    return sql("{a} " + _COMPARE[op] + " {b}", a=a, b=b)

                return self.test(compare, proven=op == "==" and _plain(left, right))
            case ast.InList(operand=operand, items=items, negated=negated):
                return self.in_list(operand, items, negated)
            case ast.Between(operand=operand, low=low, high=high, negated=negated):

                def between() -> Sql:
                    v, lo, hi = self.operand(operand), self.operand(low), self.operand(high)
                    if self.type_of(operand) != "number":
                        v = self.collate(v)
                    # `1 BETWEEN NULL AND 0` is FALSE, not NULL: guard every operand.
                    template = (
                        "({v} IS NOT NULL AND {lo} IS NOT NULL AND {hi} IS NOT NULL AND "
                        + ("NOT " if negated else "")
                        + "({v} BETWEEN {lo} AND {hi}))"
                    )
                    return sql(template, v=v, lo=lo, hi=hi)

                return self.test(between)
            case ast.StringTest(op=op, left=left, right=right, negated=negated):
                return self.test(
                    lambda: self.string_test(op, self.operand(left), self.operand(right)),
                    negated,
                    _proves_string(op, right),
                )
            case ast.Matches(operand=operand, regex=regex, negated=negated):
                if not self.pg:
                    test = sql(
                        "sluice_regexp({p}, {f}, {v})",
                        p=self.bind(regex.pattern),
                        f=self.bind(regex.flags),
                        v=self.value(operand),
                    )
                    return self.two_valued(sql("NOT {t}", t=test) if negated else test)
                prefixes = literal_prefixes(regex.pattern, regex.flags)
                if prefixes is not None:  # `^(3|9)`: no regex engine needed
                    return self.test(
                        lambda: self.starts_with_any(self.operand(operand), prefixes),
                        negated,
                        all(p and p[0] not in _NOT_STRING_START for p in prefixes),
                    )
                pattern = portable_pattern(regex.pattern, regex.flags)
                if pattern is None:
                    raise _Unknown("regex")
                return self.test(
                    lambda: sql("({v} ~ {p})", v=self.operand(operand), p=self.bind(pattern)),
                    negated,
                )
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

    def string_test(self, op: str, a: Sql, b: Sql) -> Sql:
        if not self.pg:
            return sql(f"sluice_{op}({{a}}, {{b}})", a=a, b=b)
        template = {
            "starts_with": "(left({a}, length({b})) = {b})",
            "ends_with": "(right({a}, length({b})) = {b})",
            "contains": "(strpos({a}, {b}) > 0)",
        }[op]
        return sql(template, a=a, b=b)

    def starts_with_any(self, text: Sql, prefixes: list[str]) -> Sql:
        tests = [
            sql(
                f"left({{t}}, {n}) = ANY({{p}}::text[])",
                t=text,
                p=self.bind([p for p in prefixes if len(p) == n]),
            )
            for n in sorted({len(p) for p in prefixes})
        ]
        return _join_with(tests, " OR ")

    def bool_equality(self, op: str, left: ast.Node, right: ast.Node) -> Sql | None:
        """Return `key == true` (`!=`, `false`) as one containment, else None (PostgreSQL)."""
        if isinstance(left, ast.Literal):
            left, right = right, left
        key = self.json_key(left)
        if key is None or not isinstance(right, ast.Literal) or op not in ("==", "!="):
            return None
        return self.read.holds(key, right.value == (op == "=="))  # `b != true`: b is false

    # -- tests that fail when an operand is missing, negated or not: on PostgreSQL a string
    # key is read as its `->>` text, which prints any JSON value, and checked to be a string
    # (the check is lazy: after the test, and cheap where the text cannot print a non-string).
    def test(self, build: Callable[[], Sql], negated: bool = False, proven: bool = False) -> Sql:
        """Translate a test built with `operand()`; `proven`: a literal shows that text that
        passes the (not negated) test is a string's."""
        outer, self.checks = self.checks, ([] if self.pg else None)
        try:
            test = build()
        finally:
            checks, self.checks = self.checks, outer
        test = self.two_valued(sql("NOT {t}", t=test) if negated else test)
        return _join_with([test] + (checks or [] if negated or not proven else []), " AND ")

    def operand(self, node: ast.Node) -> Sql:
        key = self.json_key(node)
        if self.checks is None or key is None or self.type_of(node) not in _TEXT_KINDS:
            return self.value(node)
        self.checks.append(self.read.string_check(key))
        return self.read.text(key)

    def collate(self, part: Sql) -> Sql:
        return sql('({v} COLLATE "C")', v=part) if self.pg else part

    def in_list(self, operand: ast.Node, items: ast.ListLiteral, negated: bool) -> Sql:
        values = [item.value for item in items.items]
        key = self.json_key(operand) if self.pg else None
        if key is not None and self.type_of(operand) == "bool":
            wanted = [v for v in (True, False) if (v in values) != negated]
            tests = [self.read.holds(key, v) for v in wanted]
            return _join_with(tests, " OR ") if tests else Sql("FALSE")
        if not values and not negated:
            return Sql("FALSE")

        def members(value: Sql) -> Sql:
            if self.pg:
                array = _PG_ARRAY[self.type_of(operand)]
                return sql("{v} = ANY({list}::" + array + ")", v=value, list=self.bind(values))
            return sql(
                "{v} IN (SELECT value FROM json_each({list}))",
                v=value,
                list=self.bind(json.dumps(values)),
            )

        if not negated:
            plain = all(isinstance(v, str) and plain_string(v) for v in values)
            return self.test(lambda: members(self.operand(operand)), proven=plain)

        def absent() -> Sql:  # `x = ANY('{}')` is FALSE even when x is NULL
            value = self.operand(operand)
            return sql("({v} IS NOT NULL AND NOT ({m}))", v=value, m=members(value))

        return self.test(absent)


def _join_with(parts: list[Sql], word: str) -> Sql:
    if len(parts) == 1:
        return parts[0]
    names = {f"p{i}": part for i, part in enumerate(parts)}
    return sql("(" + word.join("{" + name + "}" for name in names) + ")", **names)


def _plain(left: ast.Node, right: ast.Node) -> bool:
    """Whether one side is a literal string that only a string prints as."""
    return any(
        isinstance(side, ast.Literal) and isinstance(side.value, str) and plain_string(side.value)
        for side in (left, right)
    )


_NOT_STRING_START = "-0123456789tf[{"  # how `->>` starts numbers, true/false, arrays, objects
_NOT_STRING_END = "0123456789e]}"


def _proves_string(op: str, right: ast.Node) -> bool:
    """Whether text passing `op` with this literal can only be a string's: no number,
    true/false, array or object prints as starting (ending) that way."""
    if not isinstance(right, ast.Literal) or not right.value:
        return False
    if op == "starts_with":
        return right.value[0] not in _NOT_STRING_START
    return op == "ends_with" and right.value[-1] not in _NOT_STRING_END


def to_sql(
    node: ast.Node,
    fields: Mapping[str, str],
    dialect: str,
    *,
    column: str = "data",
    meta: Mapping[str, str] | None = None,
    received: str | None = None,
    row: RowValues | None = None,
) -> SqlWhere:
    """Translate a checked condition to a WHERE clause over a JSON column.

    `fields` maps field names to field type names; `meta` optionally maps metadata names
    (source, partner, received_at, is_test, category) to trusted SQL expressions, else they
    are read from the JSON under "@name" keys. `received` optionally gives @received_at as a
    UTC `timestamp` column, for age and days_since (PostgreSQL). With `row` (PostgreSQL),
    the clause reads the values of that `RowValues` (whose column it is) instead.
    """
    if row is not None and dialect != "postgresql":
        raise ValueError("shared row values are for PostgreSQL")
    translator = _Translator(dialect, column, fields, meta or {}, row, received)
    where = translator.condition(node, True)
    return SqlWhere(where.text, where.params, translator.exact, (node, fields))
