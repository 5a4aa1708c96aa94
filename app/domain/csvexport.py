"""CSV for spreadsheets: plain cells, formula injection guarded, rows written in chunks."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

#: A spreadsheet app reads a cell starting with one of these as a formula (or, for a tab
#: or carriage return, may drop it and read what follows as one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A plain number (a negative amount, a phone number in E.164) is no formula: kept as is.
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def cell(value: Any) -> str:
    """Return a value as a CSV cell: empty when missing, true/false, ISO dates, and text
    that a spreadsheet would run as a formula prefixed with a quote (')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):  # naive: UTC, as the store keeps it
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_chunks(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Yield the CSV text of the header, then of each batch of rows (RFC 4180 lines)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([cell(name) for name in header])
    yield buffer.getvalue()
    for batch in _batches(rows, 500):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([cell(value) for value in row] for row in batch)
        yield buffer.getvalue()


def _batches(rows: Iterable[Iterable[Any]], size: int) -> Iterator[list[Iterable[Any]]]:
    batch: list[Iterable[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
