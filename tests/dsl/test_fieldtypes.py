"""Field values: validation and normalization before rules see them."""

import pytest

from app.dsl.fieldtypes import is_blank, normalize_dedupe_value, normalize_value

VALID = [
    ("text", "  Katy  ", "Katy"),
    ("text", 42, "42"),
    ("number", "180", 180),
    ("number", "$1,250.50", 1250.5),
    ("number", 12.0, 12),
    ("integer", "700", 700),
    ("bool", "yes", True),
    ("bool", "0", False),
    ("bool", 1, True),
    ("date", "1990-06-15", "1990-06-15"),
    ("date", "6/15/1990", "1990-06-15"),
    ("datetime", "2026-11-18T10:00:00-05:00", "2026-11-18T15:00:00Z"),
    ("datetime", "2026-11-18 15:00", "2026-11-18T15:00:00Z"),
    ("email", " Katy.Berry@Example.COM ", "katy.berry@example.com"),
    ("phone", "555-123-4567", "+15551234567"),
    ("phone", "(555) 123 4567", "+15551234567"),
    ("phone", "+44 20 7946 0958", "+442079460958"),
    ("zip", "33139", "33139"),
    ("zip", "33139-1234", "33139-1234"),
    ("zip", "00001", "00001"),
    ("us_state", "fl", "FL"),
    ("us_state", "Florida", "FL"),
]
INVALID = [
    ("text", ["a"]),
    ("text", "x" * 2001),
    ("number", "many"),
    ("number", float("nan")),
    ("number", True),
    ("integer", "1.5"),
    ("bool", "maybe"),
    ("date", "1990-02-30"),
    ("date", "yesterday"),
    ("datetime", "noon"),
    ("email", "not-an-email"),
    ("phone", "12"),
    ("phone", "call me"),
    ("zip", "3313"),
    ("zip", "ABCDE"),
    ("us_state", "XX"),
]


@pytest.mark.parametrize(("type_name", "value", "expected"), VALID)
def test_valid_values_are_normalized(type_name, value, expected):
    assert normalize_value(type_name, value) == expected


@pytest.mark.parametrize(("type_name", "value"), INVALID)
def test_invalid_values_say_why(type_name, value):
    with pytest.raises(ValueError, match=r"^Must"):
        normalize_value(type_name, value)


def test_one_of_matches_case_insensitively_to_the_canonical_value():
    choices = ("shingle", "Tile")
    assert normalize_value("one_of", "TILE", choices) == "Tile"
    with pytest.raises(ValueError, match="shingle, Tile"):
        normalize_value("one_of", "slate", choices)


def test_blank_values():
    assert is_blank(None) and is_blank("   ") and not is_blank(0) and not is_blank(False)


def test_dedupe_forms():
    assert normalize_dedupe_value("phone", "+1 (555) 123-4567") == "15551234567"
    assert normalize_dedupe_value("email", " A@B.COM ") == "a@b.com"
    assert normalize_dedupe_value("text", "  Mixed\tCASE  text ") == "mixed case text"
    assert normalize_dedupe_value("bool", True) == "true"


def test_local_only_phone_numbers_are_rejected():
    with pytest.raises(ValueError):
        normalize_value("phone", "555-1234")
