"""Type-check expressions against a category's fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from app.dsl import ast
from app.dsl.diagnostics import ERROR, Diagnostic, did_you_mean
from app.dsl.fieldtypes import US_STATES
from app.dsl.regex import RegexError, compile_regex
from app.dsl.ruleset import Field

#: Lead metadata readable as @name, and its expression type.
METADATA = {
    "category": "string",
    "source": "string",
    "partner": "string",
    "received_at": "datetime",
    "is_test": "bool",
}

#: Function name -> (argument types accepted, result type).
FUNCTIONS = {
    "lower": (("string",), "string"),
    "upper": (("string",), "string"),
    "len": (("string",), "number"),
    "age": (("date", "datetime"), "number"),
    "days_since": (("date", "datetime"), "number"),
}

_ORDERED = ("number", "string", "date", "datetime")
_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "bool": "true/false",
    "date": "a date",
    "datetime": "a date and time",
    "list": "a list",
}


def describe(node: ast.Node, type_name: str) -> str:
    """Describe an operand for a message: `number field 'monthly_bill'`, `the text "x"`."""
    word = _TYPE_WORDS.get(type_name, type_name)
    match node:
        case ast.FieldRef(name=name):
            return f"field '{name}' ({word})"
        case ast.MetaRef(name=name):
            return f"@{name} ({word})"
        case ast.Literal(value=value) if type_name == "string":
            return f'the text "{value}"'
        case ast.Literal(value=value):
            return f"{word} {value!r}" if type_name != "number" else f"the number {value}"
    return word


class TypeChecker:
    """Check one expression; collect diagnostics; return the expression's type (None: broken)."""

    def __init__(self, fields: Mapping[str, Field], path: str, context: str = ""):
        self.fields, self.path, self.context = fields, path, context
        self.diagnostics: list[Diagnostic] = []
        self.fields_used: dict[str, ast.FieldRef] = {}

    def check_condition(self, node: ast.Node) -> None:
        found = self.type_of(node)
        if found is not None and found != "bool":
            self._error(
                node,
                "type-mismatch",
                f"a condition must be true or false, but this is {describe(node, found)}",
                "compare it with something, e.g. `x == ...` or `x is present`",
            )

    def _error(self, node: ast.Node, code: str, message: str, hint: str | None = None) -> None:
        pos = node.pos
        line, column = (pos.line, pos.column) if pos else (1, 1)
        self.diagnostics.append(
            Diagnostic(self.path, line, column, ERROR, code, message + self.context, hint)
        )

    def type_of(self, node: ast.Node) -> str | None:
        """Return the node's type; each node class has a method of its name."""
        method: Callable[[ast.Node], str | None] = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _Literal(self, node: ast.Literal[ast.Scalar]) -> str | None:
        return node.type

    def _ListLiteral(self, node: ast.ListLiteral) -> str | None:
        return "list"

    def _FieldRef(self, node: ast.FieldRef) -> str | None:
        found = self.fields.get(node.name)
        if found is None and node.name in getattr(self.fields, "broken", ()):
            return None  # its declaration already has an error: no cascade
        if found is None:
            self._error(
                node,
                "unknown-field",
                f"unknown field '{node.name}'",
                did_you_mean(node.name, self.fields),
            )
            return None
        self.fields_used.setdefault(node.name, node)
        return found.expression_type

    def _MetaRef(self, node: ast.MetaRef) -> str | None:
        if node.name not in METADATA:
            hint = did_you_mean(node.name, METADATA) or "metadata: " + ", ".join(
                "@" + name for name in METADATA
            )
            self._error(node, "unknown-metadata", f"unknown metadata '@{node.name}'", hint)
            return None
        return METADATA[node.name]

    def _Call(self, node: ast.Call) -> str | None:
        if node.name not in FUNCTIONS:
            self._error(
                node,
                "unknown-function",
                f"unknown function '{node.name}'",
                did_you_mean(node.name, FUNCTIONS) or "functions: " + ", ".join(FUNCTIONS),
            )
            for arg in node.args:
                self.type_of(arg)
            return None
        accepted, result = FUNCTIONS[node.name]
        if len(node.args) != 1:
            self._error(
                node, "wrong-arity", f"{node.name}() takes 1 argument, {len(node.args)} given"
            )
            return result
        arg_type = self.type_of(node.args[0])
        if arg_type is not None and arg_type not in accepted:
            wanted = " or ".join(_TYPE_WORDS[t] for t in accepted)
            self._error(
                node.args[0],
                "type-mismatch",
                f"{node.name}() needs {wanted}, not {describe(node.args[0], arg_type)}",
            )
        return result

    def _Neg(self, node: ast.Neg) -> str | None:
        found = self.type_of(node.operand)
        if found not in (None, "number"):
            self._error(node, "type-mismatch", f"cannot negate {describe(node.operand, found)}")
            return None
        return "number"

    def _Arith(self, node: ast.Arith) -> str | None:
        left, right = self.type_of(node.left), self.type_of(node.right)
        for side, found in ((node.left, left), (node.right, right)):
            if found not in (None, "number"):
                self._error(
                    side,
                    "type-mismatch",
                    f"arithmetic ('{node.op}') needs numbers, not {describe(side, found)}",
                )
                return None
        return "number"

    def _Compare(self, node: ast.Compare) -> str | None:
        left, right = self.type_of(node.left), self.type_of(node.right)
        if left is None or right is None:
            return "bool"
        if left != right:
            self._error(
                node,
                "type-mismatch",
                f"cannot compare {describe(node.left, left)} with {describe(node.right, right)}",
                _date_hint(left, right),
            )
        elif node.op not in ("==", "!=") and left not in _ORDERED:
            self._error(
                node,
                "type-mismatch",
                f"'{node.op}' cannot order {_TYPE_WORDS[left]} values",
                "use == or !=",
            )
        else:
            self._check_allowed(node.left, node.right)
            self._check_allowed(node.right, node.left)
        return "bool"

    def _InList(self, node: ast.InList) -> str | None:
        operand = self.type_of(node.operand)
        for item in node.items.items:
            if operand is not None and item.type != operand:
                self._error(
                    item,
                    "type-mismatch",
                    f"list item {describe(item, item.type)} does not match "
                    f"{describe(node.operand, operand)}",
                )
                break
            self._check_allowed(node.operand, item)
        return "bool"

    def _Between(self, node: ast.Between) -> str | None:
        types = [self.type_of(n) for n in (node.operand, node.low, node.high)]
        known = [t for t in types if t is not None]
        if known and any(t != known[0] for t in known):
            self._error(
                node,
                "type-mismatch",
                "between needs three values of the same type, got "
                + ", ".join(_TYPE_WORDS.get(t, t) for t in known),
            )
        elif known and known[0] not in _ORDERED:
            self._error(
                node, "type-mismatch", f"between cannot order {_TYPE_WORDS[known[0]]} values"
            )
        return "bool"

    def _StringTest(self, node: ast.StringTest) -> str | None:
        for side in (node.left, node.right):
            found = self.type_of(side)
            if found not in (None, "string"):
                self._error(
                    side, "type-mismatch", f"{node.op} works on text, not {describe(side, found)}"
                )
        return "bool"

    def _Matches(self, node: ast.Matches) -> str | None:
        found = self.type_of(node.operand)
        if found not in (None, "string"):
            self._error(
                node.operand,
                "type-mismatch",
                f"matches works on text, not {describe(node.operand, found)}",
                "compare numbers with <, >, between",
            )
        self._Regex(node.regex)
        return "bool"

    def _Regex(self, node: ast.Regex) -> None:
        try:
            compile_regex(node.pattern, node.flags)
        except RegexError as error:
            self._error(
                node,
                "invalid-regex",
                f"invalid regular expression /{node.pattern}/: {error}",
                error.hint,
            )
        return None

    def _IsMissing(self, node: ast.IsMissing) -> str | None:
        self.type_of(node.operand)
        return "bool"

    def _Not(self, node: ast.Not) -> str | None:
        self._boolean_operand(node.operand, "not")
        return "bool"

    def _And(self, node: ast.And) -> str | None:
        for item in node.items:
            self._boolean_operand(item, "and")
        return "bool"

    def _Or(self, node: ast.Or) -> str | None:
        for item in node.items:
            self._boolean_operand(item, "or")
        return "bool"

    def _boolean_operand(self, node: ast.Node, word: str) -> None:
        found = self.type_of(node)
        if found not in (None, "bool"):
            self._error(
                node,
                "type-mismatch",
                f"'{word}' needs true/false operands, not {describe(node, found)}",
            )

    def _check_allowed(self, ref: ast.Node, value: ast.Node) -> None:
        """Check a literal compared with a `one of` or us_state field against its values."""
        if not (isinstance(ref, ast.FieldRef) and isinstance(value, ast.Literal)):
            return
        found = self.fields.get(ref.name)
        if found is None or value.type != "string":
            return
        if found.type == "one_of" and value.value not in found.choices:
            hint = did_you_mean(value.value, found.choices) or "allowed: " + ", ".join(
                f'"{c}"' for c in found.choices
            )
            self._error(
                value,
                "value-not-allowed",
                f"\"{value.value}\" is not an allowed value of field '{ref.name}'",
                hint,
            )
        elif found.type == "us_state" and value.value not in US_STATES:
            self._error(
                value,
                "value-not-allowed",
                f"\"{value.value}\" is not a US state code (field '{ref.name}')",
                _state_hint(value.value),
            )


def _state_hint(text: str) -> str | None:
    for code, name in US_STATES.items():
        if name.casefold() == text.strip().casefold():
            return f'write the code: "{code}"'
    return did_you_mean(text.upper(), US_STATES)


def _date_hint(left: str, right: str) -> str | None:
    if {left, right} == {"date", "datetime"}:
        return "write a date and time literal, e.g. 2024-01-31T00:00:00Z"
    if "date" in (left, right) and "string" in (left, right):
        return 'date literals are written without quotes: 2024-01-31, not "2024-01-31"'
    if "number" in (left, right) and "string" in (left, right):
        return "numbers are written without quotes"
    return None
