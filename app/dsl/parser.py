"""Parse rule files into AST declarations, turning Lark's errors into plain-word diagnostics."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.resources import files

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from app.dsl import ast
from app.dsl.diagnostics import ERROR, Diagnostic
from app.dsl.fieldtypes import format_datetime

# grammar/sluice.lark in the checkout, shipped in the wheel as app.grammar (setup.py).
GRAMMAR_FILE = files("app.grammar") / "sluice.lark"

MAX_FILE_BYTES = 2_000_000
MAX_EXPRESSION_DEPTH = 48
MAX_EXPRESSION_NODES = 2_000  # list items do not count: zip lists may be long
MAX_LIST_ITEMS = 100_000
MAX_SYNTAX_ERRORS = 20

DECLARATION_KEYWORDS = ("category", "lead_type", "audit", "dedupe", "bid", "plan")
# Where a declaration starts, for error recovery: the keyword and the shape that follows it,
# so a continuation line that starts with a field called `plan` or `bid` is not a split point.
_DECLARATION_START = re.compile(
    r'^[ \t]*(?:category[ \t]+\w+[ \t]+"|lead_type[ \t]+\w+[ \t]+"|audit[ \t]+"|dedupe[ \t]+"'
    r"|bid[ \t]+\w+[ \t]+for\b|plan[ \t]+\w+[ \t]*\{)",
    re.M,
)

_TERMINAL_WORDS = {
    "NAME": "a name",
    "META": "a metadata name such as @source",
    "STRING": 'a quoted string ("...")',
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "DATETIME": "a date and time (YYYY-MM-DDTHH:MM:SSZ)",
    "TIME": "a time (HH:MM)",
    "REGEX": "a regular expression (/.../)",
    "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "$END": "end of file",
}
_OPERATOR_TERMINALS = {
    "COMPARE",
    "ADD_OP",
    "MUL_OP",
    "IN",
    "NOT",
    "BETWEEN",
    "MATCHES",
    "IS",
    "STARTS_WITH",
    "ENDS_WITH",
    "CONTAINS",
    "AND",
    "OR",
}


@functools.cache
def get_parser() -> Lark:
    """Build the LALR parser once."""
    return Lark(
        GRAMMAR_FILE.read_text(encoding="utf-8"),
        parser="lalr",
        strict=True,
        propagate_positions=True,
        maybe_placeholders=False,
    )


_DECLARED_ID = re.compile(
    r"^[ \t]*(?:category|lead_type|bid|plan)[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M
)


@dataclass
class ParsedFile:
    declarations: list[ast.Declaration]
    diagnostics: list[Diagnostic]
    broken_ids: set[str] = field(default_factory=set)  # ids declared in unparsable text


def parse_file(text: str, path: str) -> ParsedFile:
    """Parse one rule file into declarations and diagnostics (never raises)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        message = f"rule file is larger than {MAX_FILE_BYTES:,} bytes"
        return ParsedFile([], [Diagnostic(path, 1, 1, ERROR, "file-too-large", message)])
    try:
        tree = get_parser().parse(text)
    except UnexpectedInput as error:
        return _parse_with_recovery(text, path, error)
    return ParsedFile(*_build(tree, text, path))


def _parse_with_recovery(text: str, path: str, first: UnexpectedInput):
    """Re-parse declaration by declaration, so each broken declaration reports its error."""
    starts = [match.start() for match in _DECLARATION_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    result = ParsedFile([], [])
    syntax_errors = 0
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        # Pad with the lines before the chunk so positions stay those of the file.
        chunk = "\n" * text.count("\n", 0, start) + " " * (start - text.rfind("\n", 0, start) - 1)
        chunk += text[start:end]
        try:
            tree = get_parser().parse(chunk)
        except UnexpectedInput as error:
            syntax_errors += 1
            if syntax_errors <= MAX_SYNTAX_ERRORS:
                last = index + 1 == len(starts)
                ending = "end of file" if last else "end of the declaration"
                result.diagnostics.append(syntax_diagnostic(error, chunk, path, ending))
            result.broken_ids.update(_DECLARED_ID.findall(text[start:end]))
            continue
        found, more = _build(tree, chunk, path)
        result.declarations.extend(found)
        result.diagnostics.extend(more)
    if not syntax_errors:  # splitting changed the meaning: report the original error
        broken = set(_DECLARED_ID.findall(text))
        return ParsedFile([], [syntax_diagnostic(first, text, path)], broken)
    return result


def syntax_diagnostic(
    error: UnexpectedInput, text: str, path: str, ending: str = "end of file"
) -> Diagnostic:
    """Describe a Lark parse error in plain words."""
    line, column = error.line, error.column
    if line is None or line < 1:
        line, column = _end_position(text)
    hint = None
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        found = f"character '{char}'" if char.strip() else "a blank character"
        if char == "=":
            hint = "compare with '==' (a single '=' is not an operator)"
        elif char in "&|":
            hint = "combine conditions with 'and' / 'or'"
        elif char == '"':
            found, hint = "unterminated string", 'a string ends with " on the same line'
        elif char == "'":
            hint = 'strings are written in double quotes: "CA"'
        elif char == "/":
            hint = "a /regex/ can only follow 'matches'"
        expected = ""  # the lexer's list is every token; the character is the news
    else:
        token = error.token if isinstance(error, UnexpectedToken) else None
        if token is None or token.type == "$END":
            found = ending
            line, column = _end_position(text)
        else:
            found = f"'{token.value}'"
            if token.value == "/" or token.type == "REGEX":
                hint = "a /regex/ can only follow 'matches'"
        expected = _describe_expected(getattr(error, "expected", None) or set())
    message = f"unexpected {found}"
    if expected:
        message += f"; expected {expected}"
    return Diagnostic(path, line, column, ERROR, "syntax", message, hint)


def _end_position(text: str) -> tuple[int, int]:
    """Return the position just after the last character that is not blank or a comment."""
    code = re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), text).rstrip()
    lines = code.split("\n")
    return len(lines), len(lines[-1]) + 1


def _describe_expected(terminals: set[str]) -> str:
    patterns = {t.name: t.pattern for t in get_parser().terminals}
    words: list[str] = []
    declarations = [t for t in terminals if t.lower() in DECLARATION_KEYWORDS]
    operators = [t for t in terminals if t in _OPERATOR_TERMINALS]
    for name in sorted(terminals):
        if name in declarations or (name in operators and len(operators) > 2):
            continue
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
        elif name in patterns and patterns[name].type == "str":
            words.append(f"'{patterns[name].value}'")
    if len(operators) > 2:
        words.append("an operator (and, or, ==, in, matches, ...)")
    if declarations:
        words.append("a new declaration (" + ", ".join(DECLARATION_KEYWORDS) + ")")
    if len(words) > 1:
        return "one of: " + ", ".join(words)
    return words[0] if words else ""


# ---- tree -> AST -------------------------------------------------------------------------


def _build(tree: Tree, text: str, path: str):
    declarations, diagnostics = [], []
    builder = _Builder(text, path, diagnostics)
    for child in tree.children:
        if (problem := _check_size(child, path)) is not None:
            diagnostics.append(problem)
            continue
        try:
            declarations.append(builder.transform(child))
        except VisitError as error:  # unwrap at the boundary
            if isinstance(error.orig_exc, _Invalid):
                diagnostics.append(error.orig_exc.diagnostic)
            else:
                raise error.orig_exc from None
    return declarations, diagnostics


def _check_size(tree: Tree, path: str) -> Diagnostic | None:
    """Bound expression depth and size before the (recursive) transform runs."""
    if tree.data == "category":  # fields are flat: only expressions nest
        return None
    stack = [(tree, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data == "list":
            if len(node.children) > MAX_LIST_ITEMS:
                message = f"list has more than {MAX_LIST_ITEMS:,} items"
                return _diag_at(node, path, "list-too-long", message)
            continue
        nodes += 1
        if depth > MAX_EXPRESSION_DEPTH:
            message = f"expression is nested more than {MAX_EXPRESSION_DEPTH} levels deep"
            hint = "split it into simpler conditions"
            return _diag_at(node, path, "expression-too-deep", message, hint)
        if nodes > MAX_EXPRESSION_NODES:
            message = f"declaration has more than {MAX_EXPRESSION_NODES:,} expression parts"
            hint = "use lists with `in [...]` instead of long chains of `or`"
            return _diag_at(tree, path, "expression-too-large", message, hint)
        stack.extend((child, depth + 1) for child in node.children)
    return None


def _diag_at(node, path, code, message, hint=None) -> Diagnostic:
    line = getattr(node.meta, "line", 1) if isinstance(node, Tree) else node.line
    column = getattr(node.meta, "column", 1) if isinstance(node, Tree) else node.column
    return Diagnostic(path, line or 1, column or 1, ERROR, code, message, hint)


class _Invalid(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def _token_pos(path: str, token: Token) -> ast.Pos:
    return ast.Pos(path, token.line, token.column, token.end_line, token.end_column)


@v_args(meta=True)
class _Builder(Transformer):
    """Turn a declaration's parse tree into AST nodes; method names are grammar rule names."""

    def __init__(self, text: str, path: str, diagnostics: list[Diagnostic]):
        super().__init__()
        self.text, self.path, self.diagnostics = text, path, diagnostics

    def _pos(self, meta) -> ast.Pos | None:
        if getattr(meta, "empty", True):
            return None
        return ast.Pos(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _error(self, token: Token, code: str, message: str, hint: str | None = None):
        self.diagnostics.append(
            Diagnostic(self.path, token.line, token.column, ERROR, code, message, hint)
        )

    def _string(self, token: Token) -> str:
        try:
            return json.loads(token.value, strict=False)
        except ValueError:
            self._error(
                token,
                "invalid-string",
                "invalid escape sequence in string",
                r"use \" \\ \n \t or \uXXXX",
            )
            return token.value[1:-1]

    # -- names and literals
    def name(self, meta, children):
        return ast.Name(children[0].value, self._pos(meta))

    def string(self, meta, children):
        return ast.Literal(self._string(children[0]), "string", self._pos(meta))

    def number(self, meta, children):
        return ast.Literal(_number(children[0].value), "number", self._pos(meta))

    def negative_number(self, meta, children):
        return ast.Literal(-_number(children[0].value), "number", self._pos(meta))

    def true(self, meta, children):
        return ast.Literal(True, "bool", self._pos(meta))

    def false(self, meta, children):
        return ast.Literal(False, "bool", self._pos(meta))

    def date(self, meta, children):
        token = children[0]
        try:
            value = date.fromisoformat(token.value).isoformat()
        except ValueError:
            self._error(token, "invalid-literal", f"'{token.value}' is not a valid calendar date")
            value = token.value
        return ast.Literal(value, "date", self._pos(meta))

    def datetime(self, meta, children):
        token = children[0]
        try:
            moment = datetime.fromisoformat(token.value)
            value = format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except ValueError:
            self._error(token, "invalid-literal", f"'{token.value}' is not a valid date and time")
            value = token.value
        return ast.Literal(value, "datetime", self._pos(meta))

    def list(self, meta, children):
        return ast.ListLiteral(tuple(children), self._pos(meta))

    # -- expressions
    def field_ref(self, meta, children):
        return ast.FieldRef(children[0].value, self._pos(meta))

    def meta_ref(self, meta, children):
        return ast.MetaRef(children[0].value[1:], self._pos(meta))

    def call(self, meta, children):
        return ast.Call(children[0].value, tuple(children[1:]), self._pos(meta))

    def neg(self, meta, children):
        return ast.Neg(children[0], self._pos(meta))

    def arith(self, meta, children):
        left, op, right = children
        return ast.Arith(op.value, left, right, self._pos(meta))

    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(op.value, left, right, self._pos(meta))

    def in_list(self, meta, children, negated=False):
        return ast.InList(children[0], children[1], negated, self._pos(meta))

    def not_in_list(self, meta, children):
        return self.in_list(meta, children, negated=True)

    def between(self, meta, children, negated=False):
        operand, low, high = children
        return ast.Between(operand, low, high, negated, self._pos(meta))

    def not_between(self, meta, children):
        return self.between(meta, children, negated=True)

    def string_op(self, meta, children):
        return children[0].value

    def string_test(self, meta, children, negated=False):
        left, op, right = children
        return ast.StringTest(op, left, right, negated, self._pos(meta))

    def not_string_test(self, meta, children):
        return self.string_test(meta, children, negated=True)

    def matches(self, meta, children, negated=False):
        operand, token = children
        body, _, flags = token.value[1:].rpartition("/")
        regex = ast.Regex(body.replace("\\/", "/"), flags, _token_pos(self.path, token))
        return ast.Matches(operand, regex, negated, self._pos(meta))

    def not_matches(self, meta, children):
        return self.matches(meta, children, negated=True)

    def is_missing(self, meta, children):
        return ast.IsMissing(children[0], False, self._pos(meta))

    def is_present(self, meta, children):
        return ast.IsMissing(children[0], True, self._pos(meta))

    def not_op(self, meta, children):
        return ast.Not(children[0], self._pos(meta))

    def and_expr(self, meta, children):
        return ast.And(tuple(children), self._pos(meta))

    def or_expr(self, meta, children):
        return ast.Or(tuple(children), self._pos(meta))

    # -- declarations
    def _condition(self, when: Token, meta) -> str:
        return self.text[when.end_pos : meta.end_pos].strip()

    def named_type(self, meta, children):
        return children[0], ()

    def one_of_type(self, meta, children):
        return ast.Name("one_of", self._pos(meta)), tuple(self._string(t) for t in children)

    def required(self, meta, children):
        return "required", tuple(children)

    def deliverable(self, meta, children):
        return "deliverable", True

    def example(self, meta, children):
        return "example", children[0]

    def field_decl(self, meta, children):
        name, (type_name, choices), *options = children
        found = {"required": (), "deliverable": False, "example": None}
        for key, value in options:
            found[key] = found[key] + value if key == "required" else value
        return ast.FieldDecl(
            name,
            type_name,
            choices,
            found["required"],
            found["deliverable"],
            found["example"],
            self._pos(meta),
        )

    def category(self, meta, children):
        name, label, *fields = children
        return ast.CategoryDecl(name, self._string(label), tuple(fields), self._pos(meta))

    def priority(self, meta, children):
        return "priority", _integer_or_error(self, children[0])

    def negative_priority(self, meta, children):
        return "priority", -_integer_or_error(self, children[0])

    def when(self, meta, children):
        return "when", children[1], self._condition(children[0], meta)

    def fallback(self, meta, children):
        return ("fallback",)

    def lead_type(self, meta, children):
        name, label, category, *rest = children
        priority = 0
        condition = source = None
        fallback = False
        for item in rest:
            if item[0] == "priority":
                priority = item[1]
            elif item[0] == "when":
                condition, source = item[1], item[2]
            else:
                fallback = True
        return ast.LeadTypeDecl(
            name,
            self._string(label),
            category,
            priority,
            fallback,
            condition,
            source,
            self._pos(meta),
        )

    def in_category(self, meta, children):
        return "in", children[0]

    def audit(self, meta, children):
        label, *rest = children
        category = rest[0][1] if isinstance(rest[0], tuple) else None
        when, condition = rest[-2], rest[-1]
        source = self.text[when.end_pos : meta.end_pos].strip()
        return ast.AuditDecl(self._string(label), category, condition, source, self._pos(meta))

    def dedupe(self, meta, children):
        label, *rest = children
        *names, amount, unit = rest
        category = names.pop(0)[1] if isinstance(names[0], tuple) else None
        amount_literal = ast.Literal(_number(amount.value), "number", _token_pos(self.path, amount))
        return ast.DedupeDecl(
            self._string(label), category, tuple(names), amount_literal, unit, self._pos(meta)
        )

    def bid_when(self, meta, children):
        return "when", children[1], self._condition(children[0], meta)

    def cap(self, meta, children):
        limit, period = children
        value = ast.Literal(_number(limit.value), "number", _token_pos(self.path, limit))
        return "cap", ast.CapDecl(value, period)

    def budget(self, meta, children):
        amount, period = children
        value = ast.Literal(Decimal(amount.value), "number", _token_pos(self.path, amount))
        return "budget", ast.BudgetDecl(value, period)

    def day_spec(self, meta, children):
        return ast.DaySpec(children[0], children[1] if len(children) > 1 else None)

    def schedule(self, meta, children):
        *days, start, end, zone = children
        start_name = ast.Name(start.value, _token_pos(self.path, start))
        end_name = ast.Name(end.value, _token_pos(self.path, end))
        zone_name = ast.Name(self._string(zone), _token_pos(self.path, zone))
        return "schedule", ast.ScheduleDecl(
            tuple(days), start_name, end_name, zone_name, self._pos(meta)
        )

    def bid(self, meta, children):
        name, customer, *rest = children
        if isinstance(customer, Token):
            customer = ast.Name(self._string(customer), _token_pos(self.path, customer))
        lead_types = []
        while rest and isinstance(rest[0], ast.Name):
            lead_types.append(rest.pop(0))
        price_token, *clauses = rest
        price = ast.Literal(
            Decimal(price_token.value), "number", _token_pos(self.path, price_token)
        )
        found = {"when": [], "cap": [], "budget": [], "schedule": []}
        for clause in clauses:
            found[clause[0]].append(clause[1:] if clause[0] == "when" else clause[1])
        condition, source = found["when"][0] if found["when"] else (None, None)
        if len(found["when"]) > 1:
            pos = found["when"][1][0].pos
            self.diagnostics.append(
                Diagnostic(
                    self.path,
                    pos.line,
                    pos.column,
                    ERROR,
                    "duplicate-clause",
                    "a bid has one `when` clause",
                    "combine the conditions with 'and'",
                )
            )
        return ast.BidDecl(
            name,
            customer,
            tuple(lead_types),
            price,
            condition,
            source,
            tuple(found["cap"]),
            tuple(found["budget"]),
            tuple(found["schedule"]),
            self._pos(meta),
        )

    def name_list(self, meta, children):
        return tuple(children)

    def stage(self, meta, children):
        kind, *args = children
        return ast.StageDecl(kind, tuple(args), self._pos(meta))

    def plan(self, meta, children):
        category, *stages = children
        return ast.PlanDecl(category, tuple(stages), self._pos(meta))


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _integer_or_error(builder: _Builder, token: Token) -> int:
    value = _number(token.value)
    if isinstance(value, float):
        builder._error(token, "invalid-literal", "priority must be a whole number")
        return int(value)
    return value
