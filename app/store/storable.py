"""What the database can store: PostgreSQL text and JSONB hold no NUL, no lone surrogate, no NaN.

`unstorable(value)` tells what is wrong with a value an integrator sent (so the request can
be refused cleanly, before anything is written); `storable(value)` repairs a value that is
kept only as a record of what arrived (a post's payload and headers), so that record can
always be written.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_DEPTH = 32  # lead payloads are flat; nothing legitimate nests deeper
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "an unpaired surrogate (\\ud800-\\udfff)"
    return None


def unstorable(value: Any) -> str | None:
    """Return what in a parsed JSON value cannot be stored (keys included), or None."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else f"a non-finite number ({item})"
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"values nested more than {MAX_DEPTH} levels deep"
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str) and (problem := _text_problem(key)):
                    return problem
                stack.append((child, depth + 1))
            continue
        else:
            problem = None
        if problem:
            return problem
    return None


def storable(value: Any, _depth: int = 0) -> Any:
    """Return the value with NUL and lone surrogates replaced by U+FFFD, non-finite numbers
    by their names, and anything nested too deeply by a note."""
    if isinstance(value, str):
        if _text_problem(value) is None:
            return value
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list):
        if _depth >= MAX_DEPTH:
            return f"(nested more than {MAX_DEPTH} levels deep: not kept)"
        if isinstance(value, list):
            return [storable(item, _depth + 1) for item in value]
        return {
            storable(key, _depth + 1): storable(item, _depth + 1) for key, item in value.items()
        }
    return value
