from pathlib import Path

import pytest

from app.dsl import compile_rules

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def ruleset():
    """The example solar rule set, exactly as shipped."""
    return compile_rules(EXAMPLES / "solar")


def make_lead(**fields):
    """Return a normalized solar lead; keyword arguments override or (None) remove fields."""
    lead = {
        "@category": "solar",
        "@received_at": "2026-11-18T15:00:00Z",  # a Wednesday, 10:00 in New York
        "first_name": "Katy",
        "last_name": "Berry",
        "email": "katy.berry@example.com",
        "phone": "+15551234567",
        "state": "FL",
        "zip": "33139",
        "homeowner": True,
        "monthly_bill": 180,
        "roof_type": "shingle",
    }
    for name, value in fields.items():
        if value is None:
            lead.pop(name, None)
        else:
            lead[name] = value
    return lead
