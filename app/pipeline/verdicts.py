"""Where a router finds each condition's verdict and each dedupe key: a table of slots.

A condition is evaluated once per lead however many rules (or rule sets) hold it. One whose
verdict the database computes (the dry-run's streaming query, when its SQL translation is
exact) arrives as a bit of the row's mask; any other is a Python function with a slot in the
per-lead memo (`None`: not evaluated yet). Live routing has no mask: every condition is a
slot. A dedupe key's slot holds the key's history entry (a list whose `side` item is when the
key was last recorded, in epoch seconds), or False when one of its fields is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.dsl import ast
from app.dsl.ruleset import Condition

#: (category, field names, their types) -> the lead's function to its key's history entry
KeyFunction = Callable[[Mapping[str, Any]], Any]
KeyFactory = Callable[[str, tuple[str, ...], Mapping[str, str]], KeyFunction]


def _filled_by_the_caller(
    category: str, fields: tuple[str, ...], types: Mapping[str, str]
) -> KeyFunction:
    """Return the slot function of a key whose entry the caller puts in the memo (live)."""

    def missing(lead: Mapping[str, Any]) -> Any:
        raise LookupError(f"the history of the dedupe key on {fields} was not given")

    return missing


class Conditions:
    """Every distinct condition and dedupe key of some rule sets: its bit or its slot."""

    def __init__(
        self,
        translate: Callable[..., Any] | None = None,
        keys: KeyFactory = _filled_by_the_caller,
    ) -> None:
        self.translate = translate  # (category, node, field types) -> exact SqlWhere, or None
        self.keys = keys
        self.refs: dict[Any, tuple[int, int]] = {}
        self.sql: list[tuple[str, Any]] = []  # bit -> (category, SqlWhere)
        self.functions: list[Callable[[Mapping[str, Any]], Any]] = []  # slot -> function
        self.python_nodes: list[tuple[str, ast.Node | None]] = []  # slot -> (category, node)

    def condition(
        self, category: str, condition: Condition, fields: Mapping[str, str]
    ) -> tuple[int, int]:
        """Return the (bit, slot) of a compiled condition over a category's field types:
        exactly one of them is >= 0."""
        key = ("when", category, condition.node, tuple(sorted(fields.items())))
        if key not in self.refs:
            where = self.translate(category, condition.node, fields) if self.translate else None
            if where is not None:
                self.refs[key] = (len(self.sql), -1)
                self.sql.append((category, where))
            else:
                self.refs[key] = (-1, len(self.functions))
                self.functions.append(condition.predicate)
                self.python_nodes.append((category, condition.node))
        return self.refs[key]

    def dedupe_key(self, category: str, fields: tuple[str, ...], types: Mapping[str, str]) -> int:
        """Return the slot of a dedupe key: its history entry, or False when a field is missing."""
        key = ("key", category, fields, tuple(types[name] for name in fields))
        if key not in self.refs:
            self.refs[key] = (-1, len(self.functions))
            self.functions.append(self.keys(category, fields, types))
            self.python_nodes.append((category, None))
        return self.refs[key][1]
