"""What each database needs beside the rules-to-SQL translation (app/dsl/sql.py).

PostgreSQL: which regexes its engine matches exactly as RE2 does, rewritten for it, and
which are only literal prefixes (cheaper than any regex). SQLite: the Python functions its
translation calls, the same code as the compiled predicates, so they agree exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from app.dsl import interpreter
from app.dsl.regex import compile_regex

if TYPE_CHECKING:
    import sqlite3

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


_LITERAL = r"[A-Za-z0-9 _\-,:@'\"!%&=<>~`;]+"
_PREFIXES = re.compile(rf"\^(?:({_LITERAL})|\(({_LITERAL}(?:\|{_LITERAL})*)\))")


def literal_prefixes(pattern: str, flags: str) -> list[str] | None:
    """Return the literal prefixes a regex like `^abc` or `^(3|9)` stands for, else None."""
    match = _PREFIXES.fullmatch(pattern) if not flags else None
    if match is None:
        return None
    return [match.group(1)] if match.group(1) is not None else match.group(2).split("|")


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

#: A value SQLite passes to a function and takes back.
SqliteValue = str | int | float | bytes | None


def _regexp(pattern: str, flags: str | None, value: SqliteValue) -> int | None:
    if value is None or not isinstance(value, str):
        return None
    return int(compile_regex(pattern, flags or "").test(value))


def _text_function(function: Callable[..., str | int]) -> Callable[..., SqliteValue]:
    def wrapper(*values: SqliteValue) -> SqliteValue:
        if any(value is None or not isinstance(value, str) for value in values):
            return None
        result = function(*values)
        return int(result) if isinstance(result, bool) else result

    return wrapper


def _date_function(
    function: Callable[[object, Mapping[str, Any]], int | None],
) -> Callable[[SqliteValue, SqliteValue], int | None]:
    def wrapper(value: SqliteValue, reference: SqliteValue) -> int | None:
        if value is None or not isinstance(value, str):
            return None
        lead = {"@received_at": reference} if reference is not None else {}
        return function(value, lead)

    return wrapper


SQLITE_FUNCTIONS: dict[str, tuple[Callable[..., SqliteValue], int]] = {
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


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Register the functions the SQLite translation calls on a sqlite3 connection."""
    for name, (function, arity) in SQLITE_FUNCTIONS.items():
        connection.create_function(name, arity, function, deterministic=True)
