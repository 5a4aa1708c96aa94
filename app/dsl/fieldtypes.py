"""Lead field types: validation, normalization and their expression types.

Every value the rules see is JSON-native and normalized, so the same value is
what is stored, what predicates compare and what SQL compares:

- text: trimmed string; email: trimmed, lower-cased address; phone: E.164 ("+15551234567");
- zip: "12345" or "12345-6789"; us_state: two upper-case letters;
- number: int or float; integer: int; bool: true/false;
- date: "YYYY-MM-DD"; datetime: "YYYY-MM-DDTHH:MM:SSZ" (UTC), so ISO strings order correctly;
- one of [...]: the canonical spelling of the allowed value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_TEXT_LENGTH = 2000

#: A normalized field value, as leads hold it (JSON-native).
FieldValue = str | bool | int | float

#: Field type name -> the type its values have inside expressions.
EXPRESSION_TYPES = {
    "text": "string",
    "email": "string",
    "phone": "string",
    "zip": "string",
    "us_state": "string",
    "one_of": "string",
    "number": "number",
    "integer": "number",
    "bool": "bool",
    "date": "date",
    "datetime": "datetime",
}
FIELD_TYPE_NAMES = tuple(name for name in EXPRESSION_TYPES if name != "one_of")

US_STATES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "DC": "District of Columbia",
    "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands",
    "GU": "Guam",
    "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}
_STATE_BY_NAME = {name.casefold(): code for code, name in US_STATES.items()}

_ZIP = re.compile(r"[0-9]{5}(?:-[0-9]{4})?", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_US_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", re.ASCII)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _text(value: object, choices: tuple[str, ...]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("Must be text.")
    value = str(value).strip()
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"Must be at most {MAX_TEXT_LENGTH} characters.")
    return value


def _number(value: object, choices: tuple[str, ...]) -> int | float:
    if isinstance(value, bool):
        raise ValueError("Must be a number.")
    if isinstance(value, str):
        text = value.strip().replace(",", "").lstrip("$")
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError("Must be a number.") from None
    if not isinstance(value, int | float) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ValueError("Must be a number.")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _integer(value: object, choices: tuple[str, ...]) -> int:
    number = _number(value, choices)
    if not isinstance(number, int):
        raise ValueError("Must be a whole number.")
    return number


def _bool(value: object, choices: tuple[str, ...]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("Must be true or false.")


def _date(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    if match := _DATE.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := _US_DATE.fullmatch(text):
        month, day, year = (int(part) for part in match.groups())
    else:
        raise ValueError("Must be a date (YYYY-MM-DD or MM/DD/YYYY).")
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise ValueError("Must be a valid calendar date.") from None


def format_datetime(moment: datetime) -> str:
    """Return the canonical UTC string of an aware or naive (UTC) datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _datetime(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("Must be an ISO 8601 date and time.") from None
    return format_datetime(moment)


def _email(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("Must be a valid email address.") from None
    return result.normalized.lower()


def _phone(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        raise ValueError("Must be a valid phone number.") from None
    # Possible (right length for its country), not "valid": 555 numbers are used in tests.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:  # e.g. 7 digits: local only
        raise ValueError("Must be a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _zip(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    if isinstance(value, int) and len(text) < 5:
        text = text.zfill(5)
    if not _ZIP.fullmatch(text):
        raise ValueError("Must be a US ZIP code (12345 or 12345-6789).")
    return text


def _us_state(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    code = text.upper()
    if code in US_STATES:
        return code
    if named := _STATE_BY_NAME.get(text.casefold()):
        return named
    raise ValueError("Must be a two-letter US state code.")


def _one_of(value: object, choices: tuple[str, ...]) -> str:
    text = _text(value, choices)
    for choice in choices:
        if text == choice:
            return choice
    folded = text.casefold()
    for choice in choices:
        if folded == choice.casefold():
            return choice
    raise ValueError("Must be one of: " + ", ".join(choices) + ".")


_NORMALIZERS: dict[str, Callable[[object, tuple[str, ...]], FieldValue]] = {
    "text": _text,
    "number": _number,
    "integer": _integer,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
    "email": _email,
    "phone": _phone,
    "zip": _zip,
    "us_state": _us_state,
    "one_of": _one_of,
}


def normalize_value(type_name: str, value: object, choices: tuple[str, ...] = ()) -> FieldValue:
    """Return the normalized value, or raise ValueError with a message for the integrator."""
    return _NORMALIZERS[type_name](value, choices)


def is_blank(value: object) -> bool:
    """Tell whether a submitted value counts as not provided (None or only whitespace)."""
    return value is None or (isinstance(value, str) and not value.strip())


def normalize_dedupe_value(type_name: str, value: object) -> str:
    """Return the dedupe-key form of a value: E.164 digits, lower-cased email, folded text."""
    if type_name == "phone":
        if isinstance(value, str) and _E164.fullmatch(value):
            return value[1:]  # already normalized by validation: skip phonenumbers (~40 µs)
        try:
            return _phone(value, ()).lstrip("+")
        except ValueError:
            return re.sub(r"[^0-9]", "", str(value))
    if type_name == "email":
        return str(value).strip().lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    return str(value)
