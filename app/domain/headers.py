"""The HTTP headers a tenant adds to what Sluice sends (a destination's, a partner's: often
its credentials), checked before they are stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: A header name (RFC 9110 token), at most 100 characters.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
MAX_HEADERS = 50
MAX_VALUE = 4000


def checked_headers(
    headers: Any, reserved: frozenset[str], refuse: Callable[[str, str], object]
) -> dict[str, str]:
    """Return the headers ({} for none), calling `refuse("headers", why)` for each problem:
    not a name, one Sluice sets itself (`reserved`, lower case), a value that is not one
    line of printable ASCII of at most MAX_VALUE characters."""
    headers = headers or {}
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        refuse("headers", f"at most {MAX_HEADERS} headers, name: value")
        return {}
    for header, value in headers.items():
        if not isinstance(header, str) or not HEADER_NAME.fullmatch(header):
            refuse("headers", f"{str(header)[:40]!r} is not a header name")
        elif header.lower() in reserved:
            refuse("headers", f"{header} is set by Sluice itself")
        elif not isinstance(value, str) or len(value) > MAX_VALUE:
            refuse("headers", f"{header}: a text value of at most {MAX_VALUE} characters")
        elif any(c in value for c in "\r\n\0"):
            refuse("headers", f"{header}: a value may not hold a line break")
        elif not value.isascii() or not value.isprintable():
            refuse("headers", f"{header}: a value is printable ASCII text")
    return dict(headers)
