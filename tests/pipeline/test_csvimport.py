"""Reading an import's CSV and mapping its columns: the file's edge cases, pure."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidError
from app.domain.wants import default_criteria, mismatch
from app.pipeline.csvimport import map_columns, name_key, read_table, row_fields

FIELDS = ["first_name", "phone", "email", "state", "zip", "kind"]


def test_a_byte_order_mark_is_not_part_of_the_first_column():
    table = read_table("\ufefffirst_name,zip\nKaty,33139\n".encode())
    assert table.headers == ("first_name", "zip")
    assert [row.cells for row in table.rows] == [("Katy", "33139")]


def test_quoted_commas_and_newlines_stay_in_their_cell_and_lines_are_the_files():
    data = b'first_name,kind,zip\n"Berry, Katy","Roof\nand gutters",33139\nAl,Solar,33140\n'
    table = read_table(data)
    assert [(row.line, row.cells) for row in table.rows] == [
        (2, ("Berry, Katy", "Roof\nand gutters", "33139")),
        (4, ("Al", "Solar", "33140")),  # the quoted newline took line 3
    ]


def test_empty_lines_are_skipped_and_still_counted():
    table = read_table(b"\nfirst_name,zip\n\nKaty,33139\n,\n\nAl,33140\n")
    assert [row.line for row in table.rows] == [4, 7]


def test_crlf_line_ends_are_read():
    table = read_table(b"first_name,zip\r\nKaty,33139\r\nAl,33140\r\n")
    assert [(row.line, row.cells[0]) for row in table.rows] == [(2, "Katy"), (3, "Al")]


@pytest.mark.parametrize("delimiter, shown", [(b";", "';'"), (b"\t", "tab"), (b"|", "'|'")])
def test_another_delimiter_is_named(delimiter, shown):
    data = delimiter.join([b"first_name", b"zip"]) + b"\nKaty" + delimiter + b"33139\n"
    with pytest.raises(InvalidError, match=f"separated by {shown}"):
        read_table(data)


def test_bytes_that_are_not_utf8_are_named_with_their_line():
    data = "first_name,zip\nKaty,33139\nJos\u00e9,33140\n".encode("latin-1")
    with pytest.raises(InvalidError) as caught:
        read_table(data)
    assert "byte 0xe9 on line 3 is not UTF-8" in caught.value.message
    assert caught.value.details == {"file": [caught.value.message]}


def test_duplicate_headers_are_refused_naming_both_columns():
    with pytest.raises(InvalidError, match="Columns 1 and 3 are both named 'zip'"):
        read_table(b"zip,state,zip\n33139,FL,33140\n")


def test_too_many_rows_are_refused_before_anything_else():
    data = b"zip\n" + b"33139\n" * 6
    assert len(read_table(data, max_rows=6).rows) == 6
    with pytest.raises(InvalidError, match="more than 5 rows"):
        read_table(data, max_rows=5)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(InvalidError, match="empty"):
        read_table(data)


def test_a_nul_or_an_unclosed_quote_is_refused_cleanly():
    with pytest.raises(InvalidError, match="NUL"):
        read_table(b"zip\n331\x0039\n")
    with pytest.raises(InvalidError, match="not valid CSV"):
        read_table(b'zip,kind\n33139,"Roof\n')


def test_columns_map_by_name_whatever_their_case_spaces_and_underscores():
    mapping = map_columns(["First Name", "PHONE", "e-mail", "Zip ", "notes"], FIELDS)
    assert mapping.columns == {
        "First Name": "first_name",
        "PHONE": "phone",
        "e-mail": "email",
        "Zip ": "zip",
    }
    assert mapping.unmapped == ("notes",)
    assert name_key(" Zip_Code ") == "zipcode"


def test_explicit_mapping_wins_and_can_skip_a_column():
    mapping = map_columns(
        ["Given", "phone", "Postcode", "kind"],
        FIELDS,
        {"Given": "first_name", "kind": None, "Postcode": "zip"},
    )
    assert mapping.columns == {"Given": "first_name", "phone": "phone", "Postcode": "zip"}
    assert mapping.unmapped == ()


def test_a_mapping_to_an_unknown_field_or_from_an_unknown_column_is_refused():
    with pytest.raises(InvalidError) as caught:
        map_columns(["a", "zip"], FIELDS, {"a": "colour", "b": "zip"})
    assert set(caught.value.details) == {"mapping.a", "mapping.b"}
    assert "no field 'colour'" in caught.value.message
    assert "no column 'b'" in caught.value.message


def test_two_columns_for_one_field_are_ambiguous_or_refused():
    auto = map_columns(["zip", "ZIP_", "state"], FIELDS)
    assert auto.ambiguous == {"zip": ("zip", "ZIP_")}
    assert auto.columns == {"state": "state"}
    with pytest.raises(InvalidError, match="all map to 'zip'"):
        map_columns(["zip", "postcode"], FIELDS, {"zip": "zip", "postcode": "zip"})


def test_a_row_longer_than_the_header_is_an_error_of_its_row():
    table = read_table(b"zip,state\n33139,FL,extra\n33140,FL,\n33141\n")
    mapping = map_columns(table.headers, FIELDS)
    rows = [row_fields(table, mapping, row) for row in table.rows]
    assert rows[0] == ({}, "the row has 3 values, the header 2 columns")
    assert rows[1] == ({"zip": "33140", "state": "FL"}, None)  # an empty trailing cell
    assert rows[2] == ({"zip": "33141"}, None)  # a short row: the rest is blank


def test_identity_fields_are_never_default_criteria():
    assert default_criteria(["first_name", "phone", "email", "state", "zip", "kind"]) == [
        "state",
        "zip",
        "kind",
    ]


def test_a_mismatch_names_the_criterion():
    criteria = {"state": "FL", "kind": "Roof"}
    assert mismatch(criteria, {"state": "FL", "kind": "Roof", "phone": "+1"}) is None
    assert mismatch(criteria, {"state": "TX", "kind": "Roof"}).startswith("state: ")
    assert (
        mismatch(criteria, {"state": "FL"})
        == "kind: the lead has no value, the auction wants 'Roof'"
    )
