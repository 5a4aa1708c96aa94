"""The Sluice rules language: parse, check and compile rule files.

Public entry points: `compile_rules` (a whole rule set -> RuleSet) and `compile_condition`
(one expression -> predicate). Everything else is internal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from app.dsl import ast
from app.dsl.build import check_texts, compile_rules, read_rule_files, read_sources
from app.dsl.compiler import compile_node
from app.dsl.diagnostics import Diagnostic, RulesError
from app.dsl.fieldtypes import EXPRESSION_TYPES
from app.dsl.parser import MAX_EXPRESSION_NODES, parse_file
from app.dsl.ruleset import Field, RuleSet
from app.dsl.types import TypeChecker

__all__ = [
    "MAX_EXPRESSION_NODES",
    "Diagnostic",
    "RuleSet",
    "RulesError",
    "check_texts",
    "compile_condition",
    "compile_rules",
    "parse_condition",
    "read_rule_files",
    "read_sources",
]

CONDITION_PATH = "<condition>"


def parse_condition(text: str, fields: Mapping[str, str | Field]) -> ast.Node:
    """Parse and type-check one expression against {field name: type name or Field}; return its AST.

    Pass a category's `Field`s to check literals against `one of` choices too.
    """
    field_map: dict[str, Field] = {}
    for name, type_name in fields.items():
        if isinstance(type_name, Field):
            field_map[name] = type_name
            continue
        if type_name not in EXPRESSION_TYPES:
            raise ValueError(f"unknown field type {type_name!r} for field {name!r}")
        field_map[name] = Field(name, type_name)
    parsed = parse_file(f'audit "condition" when {text}', CONDITION_PATH)
    diagnostics = list(parsed.diagnostics)
    node = None
    if not diagnostics:
        declaration = parsed.declarations[0] if len(parsed.declarations) == 1 else None
        if not isinstance(declaration, ast.AuditDecl):
            message = "expected a single expression"
            diagnostics.append(Diagnostic(CONDITION_PATH, 1, 1, "error", "syntax", message))
        else:
            node = declaration.condition
            checker = TypeChecker(field_map, CONDITION_PATH)
            checker.check_condition(node)
            diagnostics.extend(checker.diagnostics)
    if node is None or any(d.is_error for d in diagnostics):
        # Report columns relative to the expression the caller wrote.
        offset = len('audit "condition" when ')
        shifted = [
            Diagnostic(
                d.path,
                d.line,
                max(1, d.column - offset) if d.line == 1 else d.column,
                d.severity,
                d.code,
                d.message,
                d.hint,
            )
            for d in diagnostics
        ]
        raise RulesError(shifted, {CONDITION_PATH: text})
    return node


@functools.lru_cache(maxsize=1024)
def _compile_condition(
    text: str, fields: tuple[tuple[str, str | Field], ...]
) -> Callable[[Mapping[str, Any]], bool]:
    node = parse_condition(text, dict(fields))
    predicate, _ = compile_node(node)
    return predicate


def compile_condition(
    text: str, fields: Mapping[str, str | Field]
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile one expression to `predicate(lead_dict) -> bool`; raises RulesError."""
    return _compile_condition(text, tuple(sorted(fields.items())))
