"""Reading a CSV file of leads and mapping its columns to a category's fields, pure.

The file is UTF-8 (a byte-order mark is dropped), comma-separated, quoted as RFC 4180
says (commas and newlines inside quotes); empty lines are skipped. Each row keeps the line
of the file it starts on, so a report names the line a person sees in an editor.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.domain.errors import InvalidError

#: The most bytes and data rows one import takes.
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
#: What a header holding one column with one of these in it was probably separated by.
OTHER_DELIMITERS = (";", "\t", "|")


@dataclass(frozen=True)
class Row:
    line: int  # the file's line the row starts on (the header is line 1)
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class ColumnMap:
    """Which column feeds which field, and what could not be matched."""

    columns: dict[str, str]  # column header -> field
    unmapped: tuple[str, ...] = ()  # columns matching no field (ignored)
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field -> columns

    def fields(self) -> list[str]:
        """Return the mapped fields, in the file's column order."""
        return list(self.columns.values())


def read_table(data: bytes, *, max_rows: int = MAX_ROWS) -> Table:
    """Return the file's header and rows; raise InvalidError saying what is wrong with it."""
    if len(data) > MAX_BYTES:
        raise InvalidError(
            f"The file has {len(data):,} bytes: an import takes at most {MAX_BYTES:,}.",
            {"file": [f"larger than {MAX_BYTES:,} bytes"]},
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        message = (
            f"The file is not UTF-8: byte 0x{data[error.start]:02x} on line {line} is not"
            " UTF-8 text. Save it as CSV UTF-8 and import it again."
        )
        raise InvalidError(message, {"file": [message]}) from None
    if "\x00" in text:
        raise _bad_file("The file holds NUL characters: it is not a CSV text file.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[Row] = []
    headers: tuple[str, ...] | None = None
    try:
        start = 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not cells or all(not cell.strip() for cell in cells):
                continue  # an empty line
            if headers is None:
                headers = tuple(cell.strip() for cell in cells)
                continue
            if len(records) >= max_rows:
                raise _bad_file(
                    f"The file has more than {max_rows:,} rows: split it into several imports."
                )
            records.append(Row(line, tuple(cells)))
    except csv.Error as error:
        raise _bad_file(f"The file is not valid CSV on line {reader.line_num}: {error}.") from None
    if headers is None:
        raise _bad_file("The file is empty: its first line must name the columns.")
    _check_headers(headers)
    return Table(headers, tuple(records))


def _check_headers(headers: tuple[str, ...]) -> None:
    if len(headers) == 1:
        for delimiter in OTHER_DELIMITERS:
            if delimiter in headers[0]:
                shown = "tab" if delimiter == "\t" else repr(delimiter)
                raise _bad_file(
                    f"The header has one column holding {shown}: the file seems separated by"
                    f" {shown}. Separate the columns with commas."
                )
    seen: dict[str, int] = {}
    for number, name in enumerate(headers, 1):
        if not name:
            continue  # an unnamed column is never mapped
        if name in seen:
            raise _bad_file(
                f"Columns {seen[name]} and {number} are both named {name!r}: name each column once."
            )
        seen[name] = number


def _bad_file(message: str) -> InvalidError:
    return InvalidError(message, {"file": [message]})


def name_key(name: str) -> str:
    """Return a column or field name as names are matched: case, spaces, `_`, `-` ignored."""
    return "".join(ch for ch in name.casefold() if ch not in " _-\t")


def map_columns(
    headers: Iterable[str],
    fields: Iterable[str],
    explicit: Mapping[str, str | None] | None = None,
) -> ColumnMap:
    """Return which column feeds which field.

    `explicit` ({column: field}, a null or empty field to skip the column) is taken as
    given; the other columns map to the field of the same name (see `name_key`). A column
    of `explicit` not in the file, a field the category does not declare, or two columns
    for one field raise InvalidError naming each.
    """
    headers = [name for name in headers if name]
    declared = list(fields)
    by_key = {name_key(name): name for name in declared}
    errors: dict[str, list[str]] = {}
    columns: dict[str, str] = {}
    skipped: set[str] = set()
    for column, target in (explicit or {}).items():
        if column not in headers:
            errors.setdefault(f"mapping.{column}", []).append(
                f"the file has no column {column!r} (its columns: {', '.join(headers)})"
            )
        elif not target:
            skipped.add(column)
        elif target not in declared:
            errors.setdefault(f"mapping.{column}", []).append(
                f"the category has no field {target!r} (its fields: {', '.join(declared)})"
            )
        else:
            columns[column] = target
    taken = set(columns.values())
    candidates: dict[str, list[str]] = {}
    unmapped = []
    for column in headers:
        if column in columns or column in skipped:
            continue
        target = by_key.get(name_key(column))
        if target is None or target in taken:
            unmapped.append(column)
        else:
            candidates.setdefault(target, []).append(column)
    ambiguous = {}
    for target, found in candidates.items():
        if len(found) == 1:
            columns[found[0]] = target
        else:
            ambiguous[target] = tuple(found)
            unmapped += found
    targets: dict[str, list[str]] = {}
    for column, target in columns.items():
        targets.setdefault(target, []).append(column)
    for target, found in targets.items():
        if len(found) > 1:
            errors.setdefault(f"mapping.{target}", []).append(
                f"columns {', '.join(map(repr, found))} all map to {target!r}: map one"
            )
    if errors:
        raise InvalidError("The column mapping is wrong: " + _sentences(errors), errors)
    ordered = {column: columns[column] for column in headers if column in columns}
    return ColumnMap(ordered, tuple(c for c in headers if c in unmapped), ambiguous)


def row_fields(table: Table, mapping: ColumnMap, row: Row) -> tuple[dict[str, str], str | None]:
    """Return the row's mapped values ({field: text}) and, if its cells do not line up
    with the header, why."""
    if len(row.cells) > len(table.headers):
        extra = row.cells[len(table.headers) :]
        if any(cell.strip() for cell in extra):
            return {}, (
                f"the row has {len(row.cells)} values, the header {len(table.headers)} columns"
            )
    values = {}
    for index, column in enumerate(table.headers):
        target = mapping.columns.get(column) if column else None
        if target is not None and index < len(row.cells):
            values[target] = row.cells[index]
    return values, None


def _sentences(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{key}: {text}" for key, texts in errors.items() for text in texts)
