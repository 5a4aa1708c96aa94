"""The in-memory replay (app/analysis/replay.py) against a naive reference."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.analysis import leadsql
from app.analysis.replay import Conditions, Side
from app.dsl import compile_rules
from app.pipeline.calendar import OpenHours
from app.store.db import is_postgresql
from app.store.listing import LeadFilter
from app.store.models import Lead
from app.store.secrets import public_id
from tests.analysis.test_shared_counts import tenant as tenant  # noqa: F401 (fixture)

DAY = 86400.0
RULES = """
category home "Home" {{
    field phone phone
    field email email
    field zip   zip
    field flag  bool
}}
lead_type any "Any" in home fallback
{audit}
dedupe "All three" in home on zip, email, phone within 5 days
dedupe "Phone" in home on phone within {days} days
dedupe "Email and zip" in home on email, zip within 3 days
dedupe "Zip" in home on zip within 2 hours
plan home {{ stage bidding highest_price }}
"""

leads = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3 * DAY),  # time since the previous lead
        st.sampled_from([None, "+15550000001", "+15550000002", "+15550000003"]),
        st.sampled_from([None, "a@example.com", " A@Example.com", "b@example.com"]),
        st.sampled_from([None, "33139", "90210"]),
        st.booleans(),
        st.booleans(),  # purge the expired keys before this lead
    ),
    max_size=60,
)


def reference(leads, days: int, audit: bool) -> list[str]:
    """Route every lead the obvious way: each side's own history, never purged."""
    history: dict[tuple, float] = {}
    results = []
    for at, phone, email, zip_code, flag, _ in leads:
        if audit and flag:
            results.append("audit")
            continue
        keys = []
        if zip_code and email and phone:
            key = ("all", zip_code, email.strip().lower(), phone[1:])
            keys.append((key, 5 * DAY, "All three"))
        if phone:
            keys.append((("phone", phone[1:]), days * DAY, "Phone"))
        if email and zip_code:
            keys.append((("email", email.strip().lower(), zip_code), 3 * DAY, "Email and zip"))
        if zip_code:
            keys.append((("zip", zip_code), DAY / 12, "Zip"))
        label = next((lbl for key, w, lbl in keys if history.get(key, -1e18) >= at - w), None)
        if label is None:
            for key, _, _ in keys:
                history[key] = at
        results.append(label or "unassigned")
    return results


@settings(max_examples=150, deadline=None)
@given(leads)
def test_both_sides_dedupe_as_if_each_had_its_own_history(steps):
    """The sides share one dict of dedupe keys, each with its own time in every entry, and
    purges drop only what neither side can still match: each side decides as it would alone."""
    baseline = compile_rules({"a.rules": RULES.format(audit="", days=30)})
    audit = 'audit "Flagged" in home when flag'
    proposed = compile_rules({"b.rules": RULES.format(audit=audit, days=14)})
    conditions = Conditions()
    before = Side(baseline, conditions, {}, 0)
    after = Side(proposed, conditions, {}, 1)
    at, timed = 0.0, []
    got = ([], [])
    for gap, phone, email, zip_code, flag, purge in steps:
        at += gap
        timed.append((at, phone, email, zip_code, flag, purge))
        if purge:
            conditions.forget_before((at - before.longest_window, at - after.longest_window))
        lead = {"phone": phone, "email": email, "zip": zip_code, "flag": flag}
        memo = [None] * len(conditions.functions)
        for side, out in ((before, got[0]), (after, got[1])):
            outcome = side.route(lead, "home", at, 0, memo, conditions.functions)
            out.append(outcome[3] if outcome[0] == "duplicate" else outcome[0])
    assert got[0] == reference(timed, 30, audit=False)
    assert got[1] == reference(timed, 14, audit=True)


ZONES = [
    "America/New_York",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Antarctica/Casey",
    "Asia/Gaza",
    "UTC",
]
#: Around offset changes, some of them at 00:01 local time (St. John's in 2000, Casey in 2020)
INSTANTS = [
    datetime(2000, 4, 2, 3, 31, tzinfo=UTC).timestamp(),
    datetime(2020, 10, 3, 16, 1, tzinfo=UTC).timestamp(),
    datetime(2010, 3, 26, 22, 1, tzinfo=UTC).timestamp(),
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC).timestamp(),
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("window", ["08:00..20:00", "01:00..06:00", "22:00..00:30", "08:07..20:01"])
def test_schedule_cache_agrees_with_the_schedule(zone, window):
    """The cached state (per quarter hour or minute) is the schedule's own at every minute of
    the day around offset changes, windows on quarter hours or not."""
    rules = compile_rules({"s.rules": SCHEDULED.format(window=window, zone=zone)})
    bid = rules.bids["b"]
    for around in INSTANTS:
        hours = OpenHours(bid.schedule)
        for minute in range(-26 * 60, 26 * 60):  # time moves forward, as in the replay
            at = around + minute * 60 + 17.5
            start = datetime.fromtimestamp(int(at // 60) * 60, UTC)
            assert hours.is_open(at) == bid.schedule.is_open(start), (start, window)


SCHEDULED = """
category home "Home" {{ field zip zip }}
lead_type any "Any" in home fallback
bid b for customer c on any price 1.00
    schedule mon..sun {window} "{zone}"
plan home {{ stage bidding highest_price }}
"""


BIDS = st.lists(
    st.tuples(
        st.sampled_from([1000, 2000, 3000]),  # price in cents: ties likely
        st.booleans(),  # when flag
        st.sampled_from([None, 1, 2]),  # cap per hour
        st.sampled_from([None, 5000]),  # budget per day, in cents
        st.booleans(),  # the customer is active
    ),
    min_size=1,
    max_size=5,
)


def auction_reference(bids, method, leads) -> list[str | None]:
    """Sell each lead the obvious way: every bid checked, the winner by sorting."""
    won: dict[int, float] = {}
    hours: dict[tuple, int] = {}
    days: dict[tuple, int] = {}
    winners = []
    for at, flag in leads:
        hour, day = int(at // 3600), int(at // 86400)
        open_bids = []
        for index, (price, when, cap, budget, active) in enumerate(bids):
            if not active or (when and not flag):
                continue
            if cap is not None and hours.get((index, hour), 0) >= cap:
                continue
            if budget is not None and days.get((index, day), 0) + price > budget:
                continue
            open_bids.append(index)
        if not open_bids:
            winners.append(None)
            continue
        if method == "round_robin":
            best = min(open_bids, key=lambda i: (won.get(i, float("-inf")), i))
        else:
            best = min(open_bids, key=lambda i: (-bids[i][0], won.get(i, float("-inf")), i))
        won[best] = at
        hours[(best, hour)] = hours.get((best, hour), 0) + 1
        days[(best, day)] = days.get((best, day), 0) + bids[best][0]
        winners.append(f"b{best}")
    return winners


@settings(max_examples=200, deadline=None)
@given(
    BIDS,
    st.sampled_from(["highest_price", "round_robin"]),
    st.lists(st.tuples(st.floats(min_value=0, max_value=5400), st.booleans()), max_size=50),
)
def test_auctions_pick_the_winner_the_service_would(bids, method, steps):
    """Prices tied or not, caps and budgets spent and renewed, customers inactive: the
    replay's auction (bids tried by price, spent bids skipped until their period ends) picks
    the bid that sorting every open bid picks."""
    lines = [
        'category home "Home" { field flag bool }',
        'lead_type any "Any" in home fallback',
        f"plan home {{ stage bidding {method} }}",
    ]
    for index, (price, when, cap, budget, _) in enumerate(bids):
        lines.append(f"bid b{index} for customer c{index} on any price {price / 100:.2f}")
        if when:
            lines.append("    when flag")
        if cap is not None:
            lines.append(f"    cap {cap} per hour")
        if budget is not None:
            lines.append(f"    budget {budget / 100:.2f} per day")
    rules = compile_rules({"a.rules": "\n".join(lines) + "\n"})
    customers = {f"c{index}": bid[4] for index, bid in enumerate(bids)}
    conditions = Conditions()
    side = Side(rules, conditions, customers, 0)
    at, timed, got = 0.0, [], []
    for gap, flag in steps:
        at += gap
        timed.append((at, flag))
        memo = [None] * len(conditions.functions)
        outcome = side.route({"flag": flag}, "home", at, 0, memo, conditions.functions)
        got.append(outcome[4])
    assert got == auction_reference(bids, method, timed)


hostile = st.one_of(
    st.none(),
    # any unicode, quotes and backslashes included; not NUL nor a lone surrogate, which
    # JSONB cannot hold (the intake refuses both)
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=6),
    st.sampled_from(['"', "\\", '{"a":', "null", "\u2028", "\U0001f600", ""]),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["x", 'y"']), st.integers(), max_size=2),
)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["s1", "n1", 'q"uote', "é"]), hostile),
        min_size=1,
        max_size=6,
    )
)
def test_streamed_fields_arrive_as_stored(tenant, datas):  # noqa: F811
    """The rows a dry-run streams carry the fields it asks for as one JSON object per lead
    (on PostgreSQL put together from each value's JSON text): each value exactly as stored,
    a missing field as null, whatever the value and the field's name."""
    tenant, sources = tenant
    Lead.delete().execute()
    stored = [
        Lead.create(
            public_id=public_id("lead"),
            tenant=tenant,
            source=sources["web"],
            category="c1",
            data=data,
            received_at=datetime(2026, 1, 1, 0, 0, n),
        )
        for n, data in enumerate(datas)
    ]
    names = ("s1", "n1", 'q"uote', "é", "absent")
    window = leadsql.Window(tenant.id, LeadFilter())
    fields = names if is_postgresql() else None  # SQLite streams the whole data
    rows = [row for batch in window.stream(2, fields=fields, lean=True) for row in batch]
    assert [row[0] for row in rows] == [lead.id for lead in stored]
    # As the database gives the data back (JSONB keeps 5.3e16 as the number 53101745120368610)
    # and the stream's decoder reads it (numbers past 64 bits as floats)
    datas = [leadsql.decode_text(json.dumps(Lead.get_by_id(lead.id).data)) for lead in stored]
    for row, data in zip(rows, datas, strict=True):
        got = leadsql.decode_text(row[8])
        want = {name: data.get(name) for name in names} if fields else data
        assert got == want
