"""Generate a realistic rule set as rules text: 3 categories, 50 lead types, 200 bids."""

from __future__ import annotations

import random

from bench.catalog import CATEGORIES, PARTNERS, SOURCES, STATES, FieldSpec, generate_leads

LEAD_TYPES = {"solar": 18, "auto_insurance": 17, "roofing": 15}  # 50, fallbacks included
AUDITS = 20
DEDUPES = 10
BIDS = 200
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
DAY_SPECS = ("mon..fri", "mon..sat", "mon..sun", "sat, sun", "mon, wed, fri", "tue..thu")
HOURS = (("08:00", "20:00"), ("09:00", "17:00"), ("00:00", "24:00"), ("20:00", "06:00"))
CUSTOMERS = tuple(
    f"{a}_{b}"
    for a in ("sun", "bright", "north", "blue", "apex", "prime", "true", "metro")
    for b in ("co", "works", "direct", "media", "leads")
)

__all__ = ["generate_leads", "generate_rules"]


def _quoted(values) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def _number(rng: random.Random, spec: FieldSpec) -> int:
    low, high = int(spec.low), int(spec.high)
    return rng.randint(low + (high - low) // 10, high - (high - low) // 10)


def clause(spec: FieldSpec, rng: random.Random) -> str:
    """Return a random test on one field, in one of the shapes its type allows."""
    name, kind = spec.name, spec.type_name
    shape = rng.randrange(4)
    if kind == "us_state":
        picked = rng.sample(STATES, rng.randint(2, 6))
        return (
            f"{name} in {_quoted(picked)}",
            f"{name} not in {_quoted(picked)}",
            f'{name} == "{picked[0]}"',
            f"{name} in {_quoted(picked[:3])}",
        )[shape]
    if kind == "zip":
        digit = rng.randint(0, 9)
        return (
            f"{name} matches /^({digit}|{(digit + 3) % 10})/",
            f'{name} starts_with "{digit}"',
            f"{name} matches /^[0-{digit}]/",
            f'{name} not starts_with "0"',
        )[shape]
    if kind == "bool":
        return (name, f"not {name}", f"{name} == true", name)[shape]
    if kind in ("number", "integer"):
        low, high = sorted((_number(rng, spec), _number(rng, spec)))
        return (
            f"{name} >= {low}",
            f"{name} < {high}",
            f"{name} between {low} and {high}",
            f"{name} * 2 > {low * 2}",
        )[shape]
    if kind == "one_of":
        picked = rng.sample(spec.type, rng.randint(1, len(spec.type) - 1))
        return (
            f"{name} in {_quoted(picked)}",
            f"{name} not in {_quoted(picked)}",
            f'{name} == "{picked[0]}"',
            f'{name} != "{picked[0]}"',
        )[shape]
    if kind == "date":
        year = rng.randint(1950, 2000)
        return (
            f"age({name}) >= {rng.randint(18, 30)}",
            f"age({name}) between 25 and 65",
            f"{name} < {year}-01-01",
            f"{name} >= {year}-06-30",
        )[shape]
    if kind == "datetime":
        return (
            f"days_since({name}) < {rng.randint(7, 90)}",
            f"{name} >= 2024-03-01T00:00:00Z",
            f"days_since({name}) >= 30",
            f"{name} < 2024-09-01T00:00:00Z",
        )[shape]
    if kind == "email":
        return (
            f'{name} ends_with "@mailinator.com"',
            f'{name} not ends_with ".edu"',
            f'lower({name}) contains "test"',
            f"{name} matches /^[a-z]+[0-9]+@/",
        )[shape]
    if kind == "phone":
        return (
            f'{name} starts_with "+1900"',
            f'{name} not starts_with "+1555"',
            f"{name} matches /^\\+1[2-5]/",
            f'{name} contains "555"',
        )[shape]
    return (
        f"len({name}) < 2",
        f'lower({name}) contains "{rng.choice(("test", "edison", "e"))}"',
        f'upper({name}) == "TEST"',
        f"len({name}) > 3",
    )[shape]


def optional_clause(spec: FieldSpec, rng: random.Random) -> str:
    """Return a test on a field that may be absent, saying what a missing value means."""
    test = clause(spec, rng)
    if spec.ping or spec.post:
        return test
    return rng.choice((f"({spec.name} is missing or {test})", f"{spec.name} is present and {test}"))


def condition(specs: list[FieldSpec], rng: random.Random, parts: int) -> str:
    """Return a conjunction of tests on distinct fields, sometimes with an or-group."""
    chosen = rng.sample(specs, min(parts, len(specs)))
    tests = [optional_clause(spec, rng) for spec in chosen]
    if len(tests) >= 3 and rng.random() < 0.3:
        tests[:2] = [f"({tests[0]} or {tests[1]})"]
    return " and ".join(tests)


def category_block(name: str, label: str, specs: tuple[FieldSpec, ...]) -> str:
    """Return the category declaration with its fields."""
    lines = [f'category {name} "{label}" {{']
    for spec in specs:
        kind = f"one of {_quoted(spec.type)}" if isinstance(spec.type, tuple) else spec.type
        phases = [phase for phase, on in (("ping", spec.ping), ("post", spec.post)) if on]
        required = f" required({', '.join(phases)})" if phases else ""
        deliverable = " deliverable" if spec.post else ""
        lines.append(f"    field {spec.name} {kind}{required}{deliverable}")
    return "\n".join(lines) + "\n}\n"


def lead_types(name: str, specs, rng: random.Random) -> tuple[list[str], list[str]]:
    """Return the category's lead type declarations and their ids (the fallback last)."""
    ping = [spec for spec in specs if spec.ping]
    count = LEAD_TYPES[name]
    ids, lines, seen = [], [], set()
    for index in range(count - 1):
        when = condition(ping, rng, 1 + (count - index) * 3 // count)
        while when in seen:
            when = condition(ping, rng, 3)
        seen.add(when)
        ids.append(f"{name}_t{index:02d}")
        lines.append(
            f'lead_type {ids[-1]} "{name} tier {index}" in {name} '
            f"priority {10 * (count - index)}\n    when {when}"
        )
    ids.append(f"{name}_other")
    lines.append(f'lead_type {ids[-1]} "{name}: everyone else" in {name} fallback')
    return lines, ids


def audits(rng: random.Random) -> list[str]:
    """Return the audits: most in one category, a few on metadata across every category."""
    lines = [
        'audit "Test traffic" when @is_test',
        f'audit "Unvetted affiliate" when @source == "affiliate" and @partner not in '
        f"{_quoted(PARTNERS[:2])}",
        'audit "Stale lead" when days_since(@received_at) > 365',
    ]
    names = list(CATEGORIES)
    for index in range(AUDITS - len(lines)):
        category = names[index % len(names)]
        specs = list(CATEGORIES[category][1])
        when = condition(specs, rng, rng.randint(1, 2))
        lines.append(f'audit "{category} check {index}" in {category} when {when}')
    return lines


def dedupes(rng: random.Random) -> list[str]:
    """Return the dedupe checks, windows in days, one across every category."""
    combos = (("phone",), ("email",), ("email", "zip"), ("last_name", "zip"), ("phone", "state"))
    lines = ['dedupe "Same phone anywhere, 24 hours" on phone within 24 hours']
    names = list(CATEGORIES)
    for index in range(DEDUPES - 1):
        category = names[index % len(names)]
        fields = combos[index % len(combos)]
        window = rng.choice(("7 days", "30 days", "90 days", "2 weeks", "12 hours"))
        lines.append(
            f'dedupe "{category} dedupe {index}" in {category} on {", ".join(fields)} '
            f"within {window}"
        )
    return lines


def bid(index: int, category: str, types: list[str], rng: random.Random) -> str:
    """Return one bid on 1-3 of a category's lead types, with varied clauses."""
    customer = rng.choice(CUSTOMERS)
    on = sorted(rng.sample(types, rng.randint(1, 3)), key=types.index)
    price = f"{rng.randint(2, 80)}.{rng.choice(('00', '50', '25', '99'))}"
    lines = [
        f"bid b{index:03d}_{customer} for customer {customer} on {', '.join(on)} price {price}"
    ]
    if rng.random() < 0.75:
        specs = list(CATEGORIES[category][1])
        when = condition(specs, rng, rng.randint(1, 3))
        if rng.random() < 0.2:
            when += f" and @source in {_quoted(rng.sample(SOURCES, 3))}"
        lines.append(f"    when {when}")
    if rng.random() < 0.5:
        lines.append(
            f"    cap {rng.choice((2, 5, 20, 100, 500))} per "
            f"{rng.choice(('hour', 'day', 'day', 'week'))}"
        )
    if rng.random() < 0.35:
        lines.append(
            f"    budget {rng.choice((500, 1000, 3000, 10000))} per "
            f"{rng.choice(('day', 'week', 'month', 'month'))}"
        )
    if rng.random() < 0.45:
        start, end = rng.choice(HOURS)
        lines.append(f'    schedule {rng.choice(DAY_SPECS)} {start}..{end} "{rng.choice(ZONES)}"')
    return "\n".join(lines)


def plan(category: str, bid_ids: list[str], rng: random.Random) -> str:
    """Return the category's distribution plan, one of a few stage layouts."""
    stages = ["stage bidding highest_price", "stage marketplace"]
    if rng.random() < 0.5:
        chosen = ", ".join(rng.sample(bid_ids, min(3, len(bid_ids))))
        stages.insert(0, f"stage bidding round_robin [{chosen}]")
    body = "".join(f"    {stage}\n" for stage in stages)
    return f"plan {category} {{\n{body}}}"


def generate_rules(seed: int = 1) -> dict[str, str]:
    """Return the rule set as {file name: rules text}: one file per category, one shared."""
    rng = random.Random(seed)
    files = {}
    bid_index = 0
    for category, (label, specs) in CATEGORIES.items():
        parts = [category_block(category, label, specs)]
        types, ids = lead_types(category, specs, rng)
        parts += types
        bid_ids, bids = [], []
        count = BIDS * LEAD_TYPES[category] // sum(LEAD_TYPES.values())
        if category == list(CATEGORIES)[-1]:
            count = BIDS - bid_index
        for _ in range(count):
            bids.append(bid(bid_index, category, ids, rng))
            bid_ids.append(bids[-1].split()[1])
            bid_index += 1
        parts += bids
        parts.append(plan(category, bid_ids, rng))
        files[f"{category}.rules"] = "\n".join(parts) + "\n"
    files["shared.rules"] = "\n".join(audits(rng) + dedupes(rng)) + "\n"
    return files
