"""The fields of the generated rule set's three categories, and how to draw their values."""

from __future__ import annotations

import random
from dataclasses import dataclass

STATES = ("CA", "NV", "AZ", "FL", "TX", "NY", "NJ", "OR", "WA", "CO", "GA", "NC", "IL", "OH")
FIRST_NAMES = ("Katy", "Li", "Omar", "Ana", "Joe", "Mei", "Raj", "Sam", "Zoe", "Ivan")
LAST_NAMES = ("Berry", "Chen", "Diaz", "Okafor", "Smith", "Novak", "Patel", "Kim")
DOMAINS = ("gmail.com", "yahoo.com", "aol.com", "example.com", "mailinator.com", "school.edu")
SOURCES = ("google", "facebook", "bing", "affiliate", "tv")
PARTNERS = ("acme", "leadco", "bluebird", "northwind")


@dataclass(frozen=True)
class FieldSpec:
    """One field: name, type (a type name or a tuple of choices), when it is required."""

    name: str
    type: str | tuple[str, ...]
    ping: bool = False
    post: bool = False
    low: float = 0  # number and integer fields: the range values are drawn from
    high: float = 0

    @property
    def type_name(self) -> str:
        return "one_of" if isinstance(self.type, tuple) else self.type


def _contact() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("first_name", "text", post=True),
        FieldSpec("last_name", "text", post=True),
        FieldSpec("email", "email", post=True),
        FieldSpec("phone", "phone", post=True),
        FieldSpec("state", "us_state", ping=True, post=True),
        FieldSpec("zip", "zip", ping=True, post=True),
    )


CATEGORIES: dict[str, tuple[str, tuple[FieldSpec, ...]]] = {
    "solar": (
        "Solar",
        (
            *_contact(),
            FieldSpec("homeowner", "bool", ping=True),
            FieldSpec("monthly_bill", "number", ping=True, low=0, high=500),
            FieldSpec("roof_type", ("shingle", "tile", "metal", "flat"), ping=True),
            FieldSpec("roof_age", "integer", ping=True, low=0, high=40),
            FieldSpec("shade", ("none", "partial", "full")),
            FieldSpec("credit_score", "integer", low=450, high=850),
            FieldSpec("dob", "date"),
            FieldSpec("utility", "text"),
        ),
    ),
    "auto_insurance": (
        "Auto insurance",
        (
            *_contact(),
            FieldSpec("dob", "date", ping=True),
            FieldSpec("currently_insured", "bool", ping=True),
            FieldSpec("vehicle_year", "integer", ping=True, low=1995, high=2025),
            FieldSpec("credit_rating", ("excellent", "good", "fair", "poor"), ping=True),
            FieldSpec("accidents", "integer", ping=True, low=0, high=4),
            FieldSpec(
                "current_carrier", ("geico", "progressive", "state_farm", "allstate", "other")
            ),
            FieldSpec("married", "bool"),
            FieldSpec("policy_expires", "date"),
            FieldSpec("quoted_at", "datetime"),
        ),
    ),
    "roofing": (
        "Roofing",
        (
            *_contact(),
            FieldSpec("homeowner", "bool", ping=True),
            FieldSpec("project", ("replace", "repair", "inspect"), ping=True),
            FieldSpec("material", ("asphalt", "tile", "metal", "slate", "wood"), ping=True),
            FieldSpec("square_feet", "integer", ping=True, low=600, high=6000),
            FieldSpec("timeframe", ("asap", "1-3 months", "3-6 months", "flexible"), ping=True),
            FieldSpec("stories", "integer", low=1, high=3),
            FieldSpec("insurance_claim", "bool"),
            FieldSpec("budget", "number", low=2000, high=40000),
        ),
    ),
}


def draw_value(spec: FieldSpec, rng: random.Random):
    """Return a random normalized value for the field."""
    kind = spec.type_name
    if kind == "one_of":
        return rng.choice(spec.type)
    if kind == "number":
        return (
            round(rng.uniform(spec.low, spec.high), 2)
            if rng.random() < 0.5
            else rng.randint(int(spec.low), int(spec.high))
        )
    if kind == "integer":
        return rng.randint(int(spec.low), int(spec.high))
    if kind == "bool":
        return rng.random() < 0.6
    if kind == "date":
        return f"{rng.randint(1940, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "datetime":
        day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return f"{day}T{rng.randint(0, 23):02d}:15:00Z"
    if kind == "us_state":
        return rng.choice(STATES)
    if kind == "zip":
        return f"{rng.randint(0, 99999):05d}"
    if kind == "phone":
        return f"+1{rng.randint(200, 999)}555{rng.randint(0, 9999):04d}"
    if kind == "email":
        return f"{rng.choice(FIRST_NAMES).lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    if spec.name == "first_name":
        return rng.choice(FIRST_NAMES)
    if spec.name == "last_name":
        return rng.choice(LAST_NAMES)
    return rng.choice(("Edison", "PG&E", "Duke Energy", "FPL", "Xcel"))


def generate_leads(n: int, seed: int = 11) -> list[dict]:
    """Return n normalized leads spread over the categories, optional fields often absent."""
    rng = random.Random(seed)
    names = list(CATEGORIES)
    leads = []
    for _ in range(n):
        category = rng.choice(names)
        lead = {"@category": category, "@source": rng.choice(SOURCES)}
        if rng.random() < 0.5:
            lead["@partner"] = rng.choice(PARTNERS)
        lead["@received_at"] = f"2024-06-{rng.randint(1, 28):02d}T12:00:00Z"
        lead["@is_test"] = rng.random() < 0.02
        for spec in CATEGORIES[category][1]:
            absent = 0.05 if spec.ping or spec.post else 0.3
            if rng.random() >= absent:
                lead[spec.name] = draw_value(spec, rng)
        leads.append(lead)
    return leads
