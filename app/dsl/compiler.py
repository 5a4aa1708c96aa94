"""Compile expression ASTs to Python functions.

Each condition becomes one generated function `def predicate(d): return <expr>`, where
<expr> reads the lead dict directly (`d.get("state") in _c0`), with the missing-value
guards inlined as walrus assignments. Literal strings, lists and regexes are passed as
constants, never written into the source, and the function runs with no builtins but
`len`: a rule can neither execute code nor reach a Python attribute.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from app.dsl import ast, interpreter
from app.dsl.regex import compile_regex

_EXCEPTIONS = "(TypeError, ValueError, AttributeError, OverflowError)"
_SAFE_BUILTINS = {
    "len": len,
    "TypeError": TypeError,
    "ValueError": ValueError,
    "AttributeError": AttributeError,
    "OverflowError": OverflowError,
}


class _CodeGen:
    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}
        self._names = itertools.count()

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        return f"_v{next(self._names)}"

    # -- values: (guards, expression); the expression is valid once every guard holds

    def value(self, node: ast.Node) -> tuple[list[str], str]:
        match node:
            case ast.Literal(value=value, type="string"):
                return [], self.constant(value)
            case ast.Literal(value=value, type="date" | "datetime"):
                return [], self.constant(value)
            case ast.Literal(value=value):
                return [], repr(value)
            case ast.FieldRef(name=name) | ast.MetaRef(name=name):
                key = name if isinstance(node, ast.FieldRef) else "@" + name
                temp = self.temp()
                return [f"({temp} := d.get({key!r})) is not None"], temp
            case ast.Call(name="lower" | "upper" as name, args=(arg,)):
                guards, expr = self.value(arg)
                return guards, f"{expr}.{name}()"
            case ast.Call(name="len", args=(arg,)):
                guards, expr = self.value(arg)
                return guards, f"len({expr})"
            case ast.Call(name="age" | "days_since" as name, args=(arg,)):
                guards, expr = self.value(arg)
                temp = self.temp()
                helper = "_age" if name == "age" else "_days_since"
                return [*guards, f"({temp} := {helper}({expr}, d)) is not None"], temp
            case ast.Neg(operand=operand):
                guards, expr = self.value(operand)
                return guards, f"(-{expr})"
            case ast.Arith(op=op, left=left, right=right):
                left_guards, left_expr = self.value(left)
                right_guards, right_expr = self.value(right)
                guards = left_guards + right_guards
                if op == "/":
                    temp = self.temp()
                    guards.append(f"({temp} := {right_expr}) != 0")
                    right_expr = temp
                return guards, f"({left_expr} {op} {right_expr})"
        # A condition used as a value is a boolean and is never missing.
        return [], f"({self.boolean(node)})"

    # -- conditions: a Python expression that is True or False

    def boolean(self, node: ast.Node) -> str:
        match node:
            case ast.Literal(value=value):
                return "True" if value is True else "False"
            case ast.FieldRef(name=name):
                return f"(d.get({name!r}) is True)"
            case ast.MetaRef(name=name):
                return f"(d.get({'@' + name!r}) is True)"
            case ast.Compare(op=op, left=left, right=right):
                left_guards, left_expr = self.value(left)
                right_guards, right_expr = self.value(right)
                return _all(left_guards + right_guards + [f"{left_expr} {op} {right_expr}"])
            case ast.InList(operand=operand, items=items, negated=negated):
                values = self.constant(frozenset(item.value for item in items.items))
                if not negated and isinstance(operand, ast.FieldRef | ast.MetaRef):
                    # None is never in the set, so a missing value needs no guard.
                    key = operand.name if isinstance(operand, ast.FieldRef) else "@" + operand.name
                    return f"(d.get({key!r}) in {values})"
                guards, expr = self.value(operand)
                return _all(guards + [f"{expr} {'not in' if negated else 'in'} {values}"])
            case ast.Between(operand=operand, low=low, high=high, negated=negated):
                guards, expr = self.value(operand)
                low_guards, low_expr = self.value(low)
                high_guards, high_expr = self.value(high)
                test = f"{low_expr} <= {expr} <= {high_expr}"
                return _all(guards + low_guards + high_guards + [_negate(test, negated)])
            case ast.StringTest(op=op, left=left, right=right, negated=negated):
                left_guards, left_expr = self.value(left)
                right_guards, right_expr = self.value(right)
                if op == "starts_with":
                    test = f"{left_expr}.startswith({right_expr})"
                elif op == "ends_with":
                    test = f"{left_expr}.endswith({right_expr})"
                else:
                    test = f"({right_expr} in {left_expr})"
                return _all(left_guards + right_guards + [_negate(test, negated)])
            case ast.Matches(operand=operand, regex=regex, negated=negated):
                compiled = compile_regex(regex.pattern, regex.flags)
                guards, expr = self.value(operand)
                if compiled.fast_search is not None:
                    test = f"{self.constant(compiled.fast_search)}({expr}) is not None"
                else:
                    test = f"{self.constant(compiled.test)}({expr})"
                return _all(guards + [_negate(test, negated)])
            case ast.IsMissing(operand=operand, negated=negated):
                if isinstance(operand, ast.FieldRef | ast.MetaRef):
                    key = operand.name if isinstance(operand, ast.FieldRef) else "@" + operand.name
                    return f"(d.get({key!r}) is {'not ' if negated else ''}None)"
                guards, _ = self.value(operand)
                present = _all(guards) if guards else "True"
                return present if negated else f"(not {present})"
            case ast.Not(operand=operand):
                return f"(not {self.boolean(operand)})"
            case ast.And(items=items):
                return "(" + " and ".join(self.boolean(item) for item in items) + ")"
            case ast.Or(items=items):
                return "(" + " or ".join(self.boolean(item) for item in items) + ")"
        raise TypeError(f"not a condition: {ast.unparse(node)}")


def _all(parts: list[str]) -> str:
    return "(" + " and ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _negate(test: str, negated: bool) -> str:
    return f"(not {test})" if negated else test


def compile_node(node: ast.Node) -> tuple[Callable[[Mapping[str, Any]], bool], str]:
    """Compile a checked condition; return the predicate and its generated source."""
    generator = _CodeGen()
    body = generator.boolean(node)
    source = (
        "def predicate(d):\n"
        "    try:\n"
        f"        return {body}\n"
        f"    except {_EXCEPTIONS}:\n"
        "        return False\n"
    )
    namespace: dict[str, Any] = {
        "__builtins__": _SAFE_BUILTINS,
        "_age": interpreter.age,
        "_days_since": interpreter.days_since,
        **generator.constants,
    }
    exec(compile(source, "<sluice rule>", "exec"), namespace)  # noqa: S102 - source built from the AST
    predicate = namespace["predicate"]
    predicate.__doc__ = ast.unparse(node)
    return predicate, source


def compile_value(node: ast.Node) -> tuple[Callable[[Mapping[str, Any]], Any], str]:
    """Compile a checked expression to a function of the lead returning its value, None
    when missing (a missing operand, a division by zero, a value of the wrong type)."""
    generator = _CodeGen()
    guards, expr = generator.value(node)
    body = f"{expr} if {_all(guards)} else None" if guards else expr
    source = (
        "def value(d):\n"
        "    try:\n"
        f"        return {body}\n"
        f"    except {_EXCEPTIONS}:\n"
        "        return None\n"
    )
    namespace: dict[str, Any] = {
        "__builtins__": _SAFE_BUILTINS,
        "_age": interpreter.age,
        "_days_since": interpreter.days_since,
        **generator.constants,
    }
    exec(compile(source, "<sluice rule>", "exec"), namespace)  # noqa: S102 - source built from the AST
    function = namespace["value"]
    function.__doc__ = ast.unparse(node)
    return function, source
