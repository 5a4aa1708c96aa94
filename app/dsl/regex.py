"""Regular expressions for rules: RE2 semantics, so no rule can hang the service.

Every pattern is validated by RE2 and, in general, executed by RE2. Google's Python
binding costs about 1 µs a call, so patterns that cannot backtrack at all -- sequences
of literals, character classes, anchors and fixed counts, with no alternation and no
variable repetition, no /i flag -- run on Python's `re` with ASCII classes, which
matches them exactly as RE2 does and in time linear in the input. A property test
checks that both engines agree on that class.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import re2

if TYPE_CHECKING:  # typeshed types these modules under the names Python 3.11 deprecated
    import sre_constants
    import sre_parse
else:
    import re._constants as sre_constants
    import re._parser as sre_parse

MAX_PATTERN_LENGTH = 2000
FLAGS = {"i": "case-insensitive"}

_SAFE_OPCODES = {
    sre_constants.LITERAL,
    sre_constants.NOT_LITERAL,
    sre_constants.IN,
    sre_constants.ANY,
    sre_constants.AT,
    sre_constants.SUBPATTERN,
}
_SAFE_AT = {
    sre_constants.AT_BEGINNING,
    sre_constants.AT_BEGINNING_STRING,
    sre_constants.AT_END,
    sre_constants.AT_END_STRING,
    sre_constants.AT_BOUNDARY,
    sre_constants.AT_NON_BOUNDARY,
}
_UNANCHORED: object = re2._re2.RE2.Anchor.UNANCHORED


class _RE2(Protocol):
    """What rules use of a pattern compiled by google-re2's extension (`re2._re2.RE2`)."""

    def ok(self) -> bool: ...

    def error(self) -> bytes | str: ...

    def Match(self, anchor: object, text: bytes, start: int, end: int) -> list[tuple[int, int]]: ...


class RegexError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class Regex:
    """A compiled rule regex. `test(text) -> bool`; `fast_search` is set on the fast path."""

    __slots__ = ("pattern", "flags", "test", "fast_search", "engine")

    def __init__(self, pattern: str, flags: str):
        self.pattern, self.flags = pattern, flags
        options = re2.Options()
        options.log_errors = False
        options.never_capture = True
        options.case_sensitive = "i" not in flags
        compiled: _RE2 = re2._re2.RE2(pattern.encode("utf-8", "surrogatepass"), options)
        if not compiled.ok():
            message = compiled.error()
            message = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            hint = None
            if "perl operator" in message or "escape" in message:
                hint = "RE2 has no lookaround or backreferences"
            raise RegexError(message, hint)
        match = compiled.Match

        def test_re2(text: str) -> bool:
            data = text.encode("utf-8", "surrogatepass")
            return match(_UNANCHORED, data, 0, len(data))[0][0] >= 0

        self.fast_search: Callable[[str], re.Match[str] | None] | None = None
        self.engine = "re2"
        self.test: Callable[[str], bool] = test_re2
        fast = _fast_pattern(pattern) if not flags else None
        if fast is not None:
            compiled_re, ends_with_dollar = fast
            self.engine = "re"
            if ends_with_dollar:  # Python's `$` also matches before a final newline; RE2's not

                def test_dollar(text: str) -> bool:
                    if text.endswith("\n"):
                        return test_re2(text)
                    return compiled_re.search(text) is not None

                self.test = test_dollar
            else:
                self.fast_search = compiled_re.search
                self.test = lambda text: compiled_re.search(text) is not None

    def __repr__(self) -> str:
        return f"Regex(/{self.pattern}/{self.flags}, engine={self.engine})"


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str, flags: str = "") -> Regex:
    """Compile a rule regex, or raise RegexError with RE2's reason."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"pattern is longer than {MAX_PATTERN_LENGTH} characters")
    for flag in flags:
        if flag not in FLAGS:
            raise RegexError(f"unknown flag '{flag}'", "the only flag is /i (case-insensitive)")
    if len(set(flags)) != len(flags):
        raise RegexError("repeated flag")
    return Regex(pattern, flags)


def _fast_pattern(pattern: str) -> tuple[re.Pattern[str], bool] | None:
    """Return (compiled re, uses $) when the pattern cannot backtrack, else None."""
    try:
        parsed = sre_parse.parse(pattern, re.ASCII)
    except (re.error, OverflowError, RecursionError):
        return None
    uses_dollar = [False]
    if not _is_linear(parsed.data, uses_dollar):
        return None
    try:
        return re.compile(pattern, re.ASCII), uses_dollar[0]
    except re.error:  # pragma: no cover - parsed above
        return None


def _is_linear(items: Iterable[tuple[object, Any]], uses_dollar: list[bool]) -> bool:
    """Tell whether parsed items cannot backtrack (an argument's shape depends on its opcode)."""
    for opcode, argument in items:
        if opcode in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, body = argument
            if low != high or not _is_linear(body.data, uses_dollar):
                return False
        elif opcode not in _SAFE_OPCODES:
            return False
        elif opcode is sre_constants.SUBPATTERN:
            group, add_flags, del_flags, body = argument
            if add_flags or del_flags or not _is_linear(body.data, uses_dollar):
                return False
        elif opcode is sre_constants.AT:
            if argument not in _SAFE_AT:
                return False
            uses_dollar[0] |= argument is sre_constants.AT_END
        elif opcode is sre_constants.IN:
            if any(kind not in _SAFE_CLASS_ITEMS for kind, _ in argument):
                return False
    return True


_SAFE_CLASS_ITEMS = {
    sre_constants.LITERAL,
    sre_constants.RANGE,
    sre_constants.NEGATE,
    sre_constants.CATEGORY,
}
