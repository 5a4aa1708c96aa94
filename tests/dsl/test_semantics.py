"""The meaning of every expression construct, compiled and interpreted alike."""

import pytest

from app.dsl import compile_condition, parse_condition
from app.dsl.interpreter import evaluate

FIELDS = {
    "name": "text",
    "email": "email",
    "state": "us_state",
    "zip": "zip",
    "bill": "number",
    "score": "integer",
    "owner": "bool",
    "dob": "date",
    "seen": "datetime",
}
LEAD = {
    "name": "Katy Berry",
    "email": "katy@example.com",
    "state": "CA",
    "zip": "94103",
    "bill": 180,
    "score": 700,
    "owner": True,
    "dob": "1990-06-15",
    "seen": "2026-11-01T12:00:00Z",
    "@received_at": "2026-11-18T15:00:00Z",
    "@source": "web",
    "@partner": None,
    "@is_test": False,
    "@category": "solar",
}

CASES = [
    # literals and comparisons
    ("bill == 180", True),
    ("bill != 180", False),
    ("bill > 179.5 and bill >= 180 and bill < 181 and bill <= 180", True),
    ('name == "Katy Berry"', True),
    ('name < "L" and name > "J"', True),
    ("dob < 2000-01-01", True),
    ("seen >= 2026-11-01T12:00:00Z", True),
    ("seen > 2026-11-01T07:00:00-05:00", False),  # offsets are normalized to UTC
    ("owner", True),
    ("owner == true", True),
    ("not owner", False),
    ("true", True),
    ("false or owner", True),
    # membership and ranges
    ('state in ["CA", "NV"]', True),
    ('state not in ["CA", "NV"]', False),
    ("bill in [100, 180]", True),
    ("bill in [-1, 180.0]", True),
    ("bill between 100 and 180", True),
    ("bill between 181 and 200", False),
    ("bill not between 181 and 200", True),
    ("dob between 1990-01-01 and 1990-12-31", True),
    # text tests
    ('email ends_with "@example.com"', True),
    ('email starts_with "katy"', True),
    ('name contains "y B"', True),
    ('name contains "KATY"', False),
    ('upper(name) contains "KATY"', True),
    ('email not ends_with "@example.com"', False),
    ("zip matches /^9[0-6]/", True),
    ("zip matches /^(3|9)/", True),
    ("zip not matches /^1/", True),
    ("name matches /katy/i", True),
    ("name matches /^(K|X)+aty\\sB/", True),
    # missing and present
    ("credit is missing", None),  # unknown field: see test below
    # arithmetic and functions
    ("bill * 2 - 10 == 350", True),
    ("bill / 4 == 45", True),
    ("-bill < 0", True),
    ("len(zip) == 5", True),
    ('lower(name) == "katy berry"', True),
    ("age(dob) == 36", True),
    ("days_since(seen) == 17", True),
    ("days_since(dob) > 13000", True),
    # metadata
    ('@source == "web"', True),
    ("@partner is missing", True),
    ("@is_test", False),
    ("not @is_test", True),
    ("@received_at > 2026-01-01T00:00:00Z", True),
    ('@category == "solar"', True),
    # precedence
    ("owner or bill == 1 and false", True),
    ("(owner or bill == 1) and false", False),
    ("not bill == 1 and owner", True),
    ("bill + 20 * 2 == 220", True),
]


def both(text, lead, fields=FIELDS):
    compiled = compile_condition(text, fields)(lead)
    interpreted = evaluate(parse_condition(text, fields), lead)
    assert compiled == interpreted, text
    return compiled


@pytest.mark.parametrize(("text", "expected"), [c for c in CASES if c[1] is not None])
def test_expression_value(text, expected):
    assert both(text, LEAD) is expected


# A missing (absent) or null value: every comparison, membership and string test is false;
# `not` is plain boolean negation; `is missing` is true.
MISSING_CASES = [
    ("bill == 1", False),
    ("bill != 1", False),
    ("bill < 1", False),
    ("bill >= 1", False),
    ("not (bill == 1)", True),
    ("not (bill != 1)", True),
    ("bill in [1, 2]", False),
    ("bill not in [1, 2]", False),
    ("bill between 1 and 2", False),
    ("bill not between 1 and 2", False),
    ("bill is missing", True),
    ("bill is present", False),
    ("bill + 1 > 0", False),
    ("bill + 1 is missing", True),
    ("-bill is missing", True),
    ('name starts_with "K"', False),
    ('name not starts_with "K"', False),
    ('name contains "a"', False),
    ("name matches /./", False),
    ("name not matches /./", False),
    ('lower(name) == "x"', False),
    ("len(name) == 0", False),
    ("len(name) is missing", True),
    ("owner", False),
    ("not owner", True),
    ("owner == false", False),
    ("age(dob) < 18", False),
    ("age(dob) is missing", True),
    ("dob is missing or age(dob) >= 18", True),
    ("bill == score", False),
]


@pytest.mark.parametrize("absent", [True, False], ids=["absent", "null"])
@pytest.mark.parametrize(("text", "expected"), MISSING_CASES)
def test_missing_values(text, expected, absent):
    lead = {"@received_at": LEAD["@received_at"]}
    if not absent:
        lead.update({name: None for name in FIELDS})
    assert both(text, lead) is expected


def test_division_by_zero_is_missing():
    assert both("bill / score > 0", {"bill": 1, "score": 0}) is False
    assert both("bill / score is missing", {"bill": 1, "score": 0}) is True
    assert both("not (bill / score > 0)", {"bill": 1, "score": 0}) is True


def test_wrong_type_makes_the_condition_false():
    lead = {"bill": "a lot", "name": 12}
    assert both("bill > 100", lead) is False
    assert both('name starts_with "x"', lead) is False
    assert both("not (bill > 100)", lead) is False  # the whole condition, not the clause


def test_age_counts_to_received_time():
    lead = {"dob": "2008-11-18", "@received_at": "2026-11-17T23:59:59Z"}
    assert both("age(dob) == 17", lead)
    lead["@received_at"] = "2026-11-18T00:00:00Z"
    assert both("age(dob) == 18", lead)


def test_age_of_leap_day_birthday():
    assert both("age(dob) == 17", {"dob": "2008-02-29", "@received_at": "2026-02-28T12:00:00Z"})
    assert both("age(dob) == 18", {"dob": "2008-02-29", "@received_at": "2026-03-01T00:00:00Z"})


def test_days_since_datetime_is_floored():
    lead = {"seen": "2026-11-17T16:00:00Z", "@received_at": "2026-11-18T15:00:00Z"}
    assert both("days_since(seen) == 0", lead)
    lead["@received_at"] = "2026-11-18T16:00:00Z"
    assert both("days_since(seen) == 1", lead)


def test_regex_never_hangs():
    # Catastrophic for a backtracking engine; linear for RE2.
    lead = {"name": "a" * 50_000 + "!"}
    assert both("name matches /(a+)+$/", lead) is False
    assert both("name matches /^(a|aa)+$/", lead) is False


def test_in_list_of_many_zips():
    zips = ", ".join(f'"{n:05d}"' for n in range(0, 20_000, 2))
    assert both(f"zip in [{zips}]", {"zip": "00042"})
    assert not both(f"zip in [{zips}]", {"zip": "00043"})


def test_compiled_predicate_has_no_builtins():
    predicate = compile_condition("bill > 1", FIELDS)
    assert set(predicate.__globals__["__builtins__"]) <= {
        "len",
        "TypeError",
        "ValueError",
        "AttributeError",
        "OverflowError",
    }


def test_strings_are_constants_not_code():
    # A string that would be code if pasted into the generated source stays a string.
    text = 'name == "\\" or __import__(\\"os\\").system(\\"echo hacked\\") or \\""'
    predicate = compile_condition(text, FIELDS)
    assert predicate({"name": "x"}) is False
    assert predicate({"name": '" or __import__("os").system("echo hacked") or "'}) is True


def test_attribute_access_is_not_in_the_language():
    from app.dsl import RulesError

    for text in ("name.__class__ == 1", "lower.__globals__", 'name[0] == "a"'):
        with pytest.raises(RulesError) as error:
            compile_condition(text, FIELDS)
        assert error.value.diagnostics[0].code == "syntax"


def test_compile_condition_reports_positions_in_the_expression():
    from app.dsl import RulesError

    with pytest.raises(RulesError) as error:
        compile_condition('bill == "x"', FIELDS)
    (diagnostic,) = error.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("type-mismatch", 1, 1)


def test_compile_condition_rejects_unknown_field_type():
    with pytest.raises(ValueError, match="unknown field type"):
        compile_condition("x == 1", {"x": "money"})
