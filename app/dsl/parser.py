"""Parse rule files into AST declarations, turning Lark's errors into plain-word diagnostics."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Literal

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

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


def _parse_with_recovery(text: str, path: str, first: UnexpectedInput) -> ParsedFile:
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
        declarations, problems = _build(tree, chunk, path)
        result.declarations.extend(declarations)
        result.diagnostics.extend(problems)
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
        # lark declares pos_in_stream None on UnexpectedInput; the lexer's error sets the offset.
        offset: int = error.pos_in_stream  # type: ignore[assignment]
        char = text[offset] if offset < len(text) else ""
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
        elif token.value == "=":  # a terminal of `set` lines only: elsewhere a typo for ==
            found = "character '='"
            hint = "compare with '==' (a single '=' is not an operator)"
        else:
            found = f"'{token.value}'"
            if token.value == "/" or token.type == "REGEX":
                hint = "a /regex/ can only follow 'matches'"
        expected = _describe_expected(getattr(error, "expected", None) or set())
        if found == "character '='":
            expected = ""
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


def _build(
    tree: Tree[Token], text: str, path: str
) -> tuple[list[ast.Declaration], list[Diagnostic]]:
    declarations: list[ast.Declaration] = []
    diagnostics: list[Diagnostic] = []
    builder = _Builder(text, path, diagnostics)
    for child in tree.children:
        if not isinstance(child, Tree):  # `start` holds declarations only
            continue
        if (problem := _check_size(child, path)) is not None:
            diagnostics.append(problem)
            continue
        try:
            declarations.append(builder.transform(child))
        except VisitError as error:  # unwrap at the boundary
            raise error.orig_exc from None
    return declarations, diagnostics


def _check_size(tree: Tree[Token], path: str) -> Diagnostic | None:
    """Bound expression depth and size before the (recursive) transform runs."""
    if tree.data == "category":  # fields are flat: only expressions nest
        return None
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data == "list":
            if len(node.children) > MAX_LIST_ITEMS:
                message = f"list has more than {MAX_LIST_ITEMS:,} items"
                return _diagnostic_at(node, path, "list-too-long", message)
            continue
        nodes += 1
        if depth > MAX_EXPRESSION_DEPTH:
            message = f"expression is nested more than {MAX_EXPRESSION_DEPTH} levels deep"
            hint = "split it into simpler conditions"
            return _diagnostic_at(node, path, "expression-too-deep", message, hint)
        if nodes > MAX_EXPRESSION_NODES:
            message = f"declaration has more than {MAX_EXPRESSION_NODES:,} expression parts"
            hint = "use lists with `in [...]` instead of long chains of `or`"
            return _diagnostic_at(tree, path, "expression-too-large", message, hint)
        stack.extend((child, depth + 1) for child in node.children)
    return None


def _diagnostic_at(
    tree: Tree[Token], path: str, code: str, message: str, hint: str | None = None
) -> Diagnostic:
    line = getattr(tree.meta, "line", 1)
    column = getattr(tree.meta, "column", 1)
    return Diagnostic(path, line or 1, column or 1, ERROR, code, message, hint)


def _token_pos(path: str, token: Token) -> ast.Pos:
    line, column = _token_start(token)
    return ast.Pos(path, line, column, token.end_line, token.end_column)


def _token_start(token: Token) -> tuple[int, int]:
    """Return a token's line and column (the lexer sets both; a made-up token has none)."""
    return token.line or 1, token.column or 1


# What the builder returns for the parts of a declaration; a clause is tagged by its keyword.
_FieldType = tuple[ast.Name, tuple[str, ...]]
_FieldOption = (
    tuple[Literal["required"], tuple[ast.Name, ...]]
    | tuple[Literal["deliverable"], bool]
    | tuple[Literal["example"], ast.Literal[ast.Scalar]]
)
_When = tuple[Literal["when"], ast.Node, str]
_Priority = tuple[Literal["priority"], int]
_Fallback = tuple[Literal["fallback"]]
_InCategory = tuple[Literal["in"], ast.Name]
_BidClause = (
    _When
    | tuple[Literal["cap"], ast.CapDecl]
    | tuple[Literal["budget"], ast.BudgetDecl]
    | tuple[Literal["schedule"], ast.ScheduleDecl]
)
_StageArgument = ast.Name | ast.Literal[ast.Scalar] | tuple[ast.Name, ...]


@v_args(meta=True, inline=True)
class _Builder(Transformer[Token, ast.Declaration]):
    """Turn a declaration's parse tree into AST nodes; method names are grammar rule names.

    Each method receives the rule's meta, then its children in grammar order: tokens, and
    what the methods of its sub-rules returned.
    """

    def __init__(self, text: str, path: str, diagnostics: list[Diagnostic]):
        super().__init__()
        self.text, self.path, self.diagnostics = text, path, diagnostics

    def _pos(self, meta: Meta) -> ast.Pos | None:
        if getattr(meta, "empty", True):
            return None
        return self._declaration_pos(meta)

    def _declaration_pos(self, meta: Meta) -> ast.Pos:
        """Return a declaration's position: it starts with a keyword, so it has one."""
        return ast.Pos(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _error(self, token: Token, code: str, message: str, hint: str | None = None) -> None:
        line, column = _token_start(token)
        self.diagnostics.append(Diagnostic(self.path, line, column, ERROR, code, message, hint))

    def _string(self, token: Token) -> str:
        try:
            text: str = json.loads(token.value, strict=False)  # a JSON string literal
        except ValueError:
            self._error(
                token,
                "invalid-string",
                "invalid escape sequence in string",
                r"use \" \\ \n \t or \uXXXX",
            )
            return token[1:-1]
        return text

    # -- names and literals
    def name(self, meta: Meta, token: Token) -> ast.Name:
        return ast.Name(token.value, self._pos(meta))

    def string(self, meta: Meta, token: Token) -> ast.Literal[str]:
        return ast.Literal(self._string(token), "string", self._pos(meta))

    def number(self, meta: Meta, token: Token) -> ast.Literal[int | float]:
        return ast.Literal(_number(token.value), "number", self._pos(meta))

    def negative_number(self, meta: Meta, token: Token) -> ast.Literal[int | float]:
        return ast.Literal(-_number(token.value), "number", self._pos(meta))

    def true(self, meta: Meta) -> ast.Literal[bool]:
        return ast.Literal(True, "bool", self._pos(meta))

    def false(self, meta: Meta) -> ast.Literal[bool]:
        return ast.Literal(False, "bool", self._pos(meta))

    def date(self, meta: Meta, token: Token) -> ast.Literal[str]:
        try:
            value = date.fromisoformat(token.value).isoformat()
        except ValueError:
            self._error(token, "invalid-literal", f"'{token.value}' is not a valid calendar date")
            value = token.value
        return ast.Literal(value, "date", self._pos(meta))

    def datetime(self, meta: Meta, token: Token) -> ast.Literal[str]:
        try:
            moment = datetime.fromisoformat(token.value)
            value = format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except ValueError:
            self._error(token, "invalid-literal", f"'{token.value}' is not a valid date and time")
            value = token.value
        return ast.Literal(value, "datetime", self._pos(meta))

    def list(self, meta: Meta, *items: ast.Literal[ast.Scalar]) -> ast.ListLiteral:
        return ast.ListLiteral(items, self._pos(meta))

    # -- expressions
    def field_ref(self, meta: Meta, name: ast.Name) -> ast.FieldRef:
        return ast.FieldRef(name.value, self._pos(meta))

    def meta_ref(self, meta: Meta, token: Token) -> ast.MetaRef:
        return ast.MetaRef(token.value[1:], self._pos(meta))

    def call(self, meta: Meta, name: ast.Name, *args: ast.Node) -> ast.Call:
        return ast.Call(name.value, args, self._pos(meta))

    def neg(self, meta: Meta, operand: ast.Node) -> ast.Neg:
        return ast.Neg(operand, self._pos(meta))

    def arith(self, meta: Meta, left: ast.Node, op: Token, right: ast.Node) -> ast.Arith:
        return ast.Arith(op.value, left, right, self._pos(meta))

    def compare(self, meta: Meta, left: ast.Node, op: Token, right: ast.Node) -> ast.Compare:
        return ast.Compare(op.value, left, right, self._pos(meta))

    def in_list(self, meta: Meta, operand: ast.Node, items: ast.ListLiteral) -> ast.InList:
        return ast.InList(operand, items, False, self._pos(meta))

    def not_in_list(self, meta: Meta, operand: ast.Node, items: ast.ListLiteral) -> ast.InList:
        return ast.InList(operand, items, True, self._pos(meta))

    def between(self, meta: Meta, operand: ast.Node, low: ast.Node, high: ast.Node) -> ast.Between:
        return ast.Between(operand, low, high, False, self._pos(meta))

    def not_between(
        self, meta: Meta, operand: ast.Node, low: ast.Node, high: ast.Node
    ) -> ast.Between:
        return ast.Between(operand, low, high, True, self._pos(meta))

    def string_op(self, meta: Meta, token: Token) -> str:
        return str(token)

    def string_test(self, meta: Meta, left: ast.Node, op: str, right: ast.Node) -> ast.StringTest:
        return ast.StringTest(op, left, right, False, self._pos(meta))

    def not_string_test(
        self, meta: Meta, left: ast.Node, op: str, right: ast.Node
    ) -> ast.StringTest:
        return ast.StringTest(op, left, right, True, self._pos(meta))

    def matches(self, meta: Meta, operand: ast.Node, token: Token) -> ast.Matches:
        return self._matches(meta, operand, token, negated=False)

    def not_matches(self, meta: Meta, operand: ast.Node, token: Token) -> ast.Matches:
        return self._matches(meta, operand, token, negated=True)

    def _matches(self, meta: Meta, operand: ast.Node, token: Token, negated: bool) -> ast.Matches:
        body, _, flags = token.value[1:].rpartition("/")
        regex = ast.Regex(body.replace("\\/", "/"), flags, _token_pos(self.path, token))
        return ast.Matches(operand, regex, negated, self._pos(meta))

    def is_missing(self, meta: Meta, operand: ast.Node) -> ast.IsMissing:
        return ast.IsMissing(operand, False, self._pos(meta))

    def is_present(self, meta: Meta, operand: ast.Node) -> ast.IsMissing:
        return ast.IsMissing(operand, True, self._pos(meta))

    def not_op(self, meta: Meta, operand: ast.Node) -> ast.Not:
        return ast.Not(operand, self._pos(meta))

    def and_expr(self, meta: Meta, *items: ast.Node) -> ast.And:
        return ast.And(items, self._pos(meta))

    def or_expr(self, meta: Meta, *items: ast.Node) -> ast.Or:
        return ast.Or(items, self._pos(meta))

    # -- declarations
    def _condition_source(self, when: Token, meta: Meta) -> str:
        return self.text[when.end_pos : meta.end_pos].strip()

    def named_type(self, meta: Meta, name: ast.Name) -> _FieldType:
        return name, ()

    def one_of_type(self, meta: Meta, *choices: Token) -> _FieldType:
        return ast.Name("one_of", self._pos(meta)), tuple(self._string(t) for t in choices)

    def required(self, meta: Meta, *names: ast.Name) -> _FieldOption:
        return "required", names

    def deliverable(self, meta: Meta) -> _FieldOption:
        return "deliverable", True

    def example(self, meta: Meta, literal: ast.Literal[ast.Scalar]) -> _FieldOption:
        return "example", literal

    def field_decl(
        self, meta: Meta, name: ast.Name, field_type: _FieldType, *options: _FieldOption
    ) -> ast.FieldDecl:
        type_name, choices = field_type
        required: tuple[ast.Name, ...] = ()
        deliverable = False
        example = None
        for option in options:
            match option:
                case ("required", names):
                    required += names
                case ("deliverable", flag):
                    deliverable = flag
                case ("example", literal):
                    example = literal
        return ast.FieldDecl(
            name,
            type_name,
            choices,
            required,
            deliverable,
            example,
            self._declaration_pos(meta),
        )

    def category(
        self, meta: Meta, name: ast.Name, label: Token, *fields: ast.FieldDecl
    ) -> ast.CategoryDecl:
        return ast.CategoryDecl(name, self._string(label), fields, self._declaration_pos(meta))

    def priority(self, meta: Meta, token: Token) -> _Priority:
        return "priority", _integer_or_error(self, token)

    def negative_priority(self, meta: Meta, token: Token) -> _Priority:
        return "priority", -_integer_or_error(self, token)

    def when(self, meta: Meta, when: Token, condition: ast.Node) -> _When:
        return "when", condition, self._condition_source(when, meta)

    def fallback(self, meta: Meta) -> _Fallback:
        return ("fallback",)

    def lead_type(
        self,
        meta: Meta,
        name: ast.Name,
        label: Token,
        category: ast.Name,
        *clauses: _Priority | _When | _Fallback,
    ) -> ast.LeadTypeDecl:
        priority = 0
        condition: ast.Node | None = None
        source: str | None = None
        fallback = False
        for clause in clauses:
            match clause:
                case ("priority", value):
                    priority = value
                case ("when", node, text):
                    condition, source = node, text
                case ("fallback",):
                    fallback = True
        return ast.LeadTypeDecl(
            name,
            self._string(label),
            category,
            priority,
            fallback,
            condition,
            source,
            self._declaration_pos(meta),
        )

    def in_category(self, meta: Meta, name: ast.Name) -> _InCategory:
        return "in", name

    # A rule with optional or repeated parts: its children are told apart by their types.
    def audit(
        self, meta: Meta, label: Token, *rest: _InCategory | Token | ast.Node
    ) -> ast.AuditDecl:
        category = next((part[1] for part in rest if isinstance(part, tuple)), None)
        when = next(part for part in rest if isinstance(part, Token))
        condition = next(part for part in rest if isinstance(part, ast.Node))
        return ast.AuditDecl(
            self._string(label),
            category,
            condition,
            self._condition_source(when, meta),
            self._declaration_pos(meta),
        )

    def dedupe(
        self, meta: Meta, label: Token, *rest: _InCategory | ast.Name | Token
    ) -> ast.DedupeDecl:
        category = next((part[1] for part in rest if isinstance(part, tuple)), None)
        *fields, unit = (part for part in rest if isinstance(part, ast.Name))
        amount = next(part for part in rest if isinstance(part, Token))
        amount_literal = ast.Literal(_number(amount.value), "number", _token_pos(self.path, amount))
        return ast.DedupeDecl(
            self._string(label),
            category,
            tuple(fields),
            amount_literal,
            unit,
            self._declaration_pos(meta),
        )

    def bid_when(self, meta: Meta, when: Token, condition: ast.Node) -> _When:
        return "when", condition, self._condition_source(when, meta)

    def cap(self, meta: Meta, limit: Token, period: ast.Name) -> _BidClause:
        value = ast.Literal(_number(limit.value), "number", _token_pos(self.path, limit))
        return "cap", ast.CapDecl(value, period)

    def budget(self, meta: Meta, amount: Token, period: ast.Name) -> _BidClause:
        value = ast.Literal(Decimal(amount.value), "number", _token_pos(self.path, amount))
        return "budget", ast.BudgetDecl(value, period)

    def day_spec(self, meta: Meta, first: ast.Name, last: ast.Name | None = None) -> ast.DaySpec:
        return ast.DaySpec(first, last)

    def schedule(self, meta: Meta, *parts: ast.DaySpec | Token) -> _BidClause:
        days = tuple(part for part in parts if isinstance(part, ast.DaySpec))
        start, end, zone = (part for part in parts if isinstance(part, Token))
        start_name = ast.Name(start.value, _token_pos(self.path, start))
        end_name = ast.Name(end.value, _token_pos(self.path, end))
        zone_name = ast.Name(self._string(zone), _token_pos(self.path, zone))
        return "schedule", ast.ScheduleDecl(
            days, start_name, end_name, zone_name, self._declaration_pos(meta)
        )

    def bid(
        self,
        meta: Meta,
        name: ast.Name,
        customer: ast.Name | Token,
        *rest: ast.Name | Token | _BidClause,
    ) -> ast.BidDecl:
        if isinstance(customer, Token):
            customer = ast.Name(self._string(customer), _token_pos(self.path, customer))
        lead_types = tuple(part for part in rest if isinstance(part, ast.Name))
        price_token = next(part for part in rest if isinstance(part, Token))
        price = ast.Literal(
            Decimal(price_token.value), "number", _token_pos(self.path, price_token)
        )
        whens: list[tuple[ast.Node, str]] = []
        caps: list[ast.CapDecl] = []
        budgets: list[ast.BudgetDecl] = []
        schedules: list[ast.ScheduleDecl] = []
        for clause in rest:
            match clause:
                case ("when", node, text):
                    whens.append((node, text))
                case ("cap", cap):
                    caps.append(cap)
                case ("budget", budget):
                    budgets.append(budget)
                case ("schedule", schedule):
                    schedules.append(schedule)
        condition, source = whens[0] if whens else (None, None)
        if len(whens) > 1:
            pos = whens[1][0].pos or self._declaration_pos(meta)
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
            lead_types,
            price,
            condition,
            source,
            tuple(caps),
            tuple(budgets),
            tuple(schedules),
            self._declaration_pos(meta),
        )

    def price_word(self, meta: Meta, token: Token) -> ast.Name:
        return ast.Name(token.value, self._pos(meta))

    def name_list(self, meta: Meta, *names: ast.Name) -> tuple[ast.Name, ...]:
        return names

    def stage(self, meta: Meta, kind: ast.Name, *args: _StageArgument) -> ast.StageDecl:
        return ast.StageDecl(kind, args, self._declaration_pos(meta))

    def block_stage(
        self, meta: Meta, kind: ast.Name, *parts: _StageArgument | ast.SetDecl
    ) -> ast.StageDecl:
        args = tuple(part for part in parts if not isinstance(part, ast.SetDecl))
        lines = tuple(part for part in parts if isinstance(part, ast.SetDecl))
        return ast.StageDecl(kind, args, self._declaration_pos(meta), lines)

    def set_line(
        self,
        meta: Meta,
        name: ast.Name,
        value: ast.Node,
        when: Token | None = None,
        condition: ast.Node | None = None,
    ) -> ast.SetDecl:
        condition_source = self._condition_source(when, meta) if when is not None else None
        return ast.SetDecl(
            name,
            value,
            ast.unparse(value),
            condition,
            condition_source,
            self._declaration_pos(meta),
        )

    def plan(self, meta: Meta, category: ast.Name, *stages: ast.StageDecl) -> ast.PlanDecl:
        return ast.PlanDecl(category, stages, self._declaration_pos(meta))


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _integer_or_error(builder: _Builder, token: Token) -> int:
    value = _number(token.value)
    if isinstance(value, float):
        builder._error(token, "invalid-literal", "priority must be a whole number")
        return int(value)
    return value
