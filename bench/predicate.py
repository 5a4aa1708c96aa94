"""Benchmark 1: one predicate, ns per evaluation, Sluice against hand-written Python and peers."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from bench import peers
from bench.report import Report, fmt_ns, median_per_item, time_passes, time_rounds

EXPRESSION = (
    'state in ["CA", "NV", "AZ"] and monthly_bill >= 100 and homeowner'
    ' and not email ends_with "@example.com" and zip matches /^9[0-6]/'
)
FIELDS = {
    "state": "us_state",
    "monthly_bill": "number",
    "homeowner": "bool",
    "email": "email",
    "zip": "zip",
    "first_name": "text",
    "phone": "phone",
}
STATES = ("CA", "NV", "AZ", "FL", "TX", "NY", "OR", "WA", "CO", "NJ")
NAMES = ("katy", "li", "omar", "ana", "joe", "mei", "raj", "sam")
LEADS = 20_000
SLOW_LEADS = 500
HOT_LEADS = 1_000
REPEATS = 7
TARGET_RATIO = 1.5


def generate_leads(n: int = LEADS, seed: int = 7) -> list[dict]:
    """Return n leads, each optional field absent about 20% of the time."""
    rng = random.Random(seed)
    leads = []
    for _ in range(n):
        name = rng.choice(NAMES)
        domain = "example.com" if rng.random() < 0.2 else rng.choice(("gmail.com", "aol.com"))
        values = {
            "first_name": name.title(),
            "state": rng.choice(STATES),
            "monthly_bill": rng.randint(0, 400) if rng.random() < 0.5 else rng.uniform(0, 400),
            "homeowner": rng.random() < 0.6,
            "email": f"{name}{rng.randint(1, 999)}@{domain}",
            "zip": f"{rng.randint(0, 99999):05d}",
            "phone": f"+1555{rng.randint(0, 9999999):07d}",
        }
        lead = {key: value for key, value in values.items() if rng.random() >= 0.2}
        lead["@category"] = "solar"
        leads.append(lead)
    return leads


_STATES = frozenset(("CA", "NV", "AZ"))
_ZIP = re.compile(r"9[0-6]")


def hand_written(lead: dict) -> bool:
    """Evaluate the expression as idiomatic Python, missing fields making each test false."""
    if lead.get("state") not in _STATES:
        return False
    bill = lead.get("monthly_bill")
    if bill is None or bill < 100 or lead.get("homeowner") is not True:
        return False
    email = lead.get("email")
    if email is not None and email.endswith("@example.com"):
        return False
    zip_code = lead.get("zip")
    return zip_code is not None and _ZIP.match(zip_code) is not None


def hand_written_floor(lead: dict) -> bool:
    """Return False without looking: the cost of the timing loop and one call."""
    return False


def with_nulls(lead: dict) -> dict:
    """Return the lead with every predicate field present, None where it was missing."""
    return {**{name: None for name in peers.FIELDS}, **lead}


def build_sluice() -> peers.Engine:
    """Compile the expression with Sluice's compile_condition."""
    from app.dsl import compile_condition

    predicate = compile_condition(EXPRESSION, FIELDS)
    return peers.Engine("sluice compile_condition", predicate, False, "")


def evaluation_pass(evaluate, leads: list[dict], sweeps: int = 1):
    """Return a function that evaluates every lead `sweeps` times."""

    def run_pass():
        for _ in range(sweeps):
            for lead in leads:
                evaluate(lead)

    return run_pass


def time_evaluations(evaluate, leads: list[dict], sweeps: int = 1) -> float:
    """Return the median ns per evaluation of passes that evaluate `leads` `sweeps` times."""
    run_pass = evaluation_pass(evaluate, leads, sweeps)
    return median_per_item(time_passes(run_pass, REPEATS), sweeps * len(leads))


@dataclass
class Measured:
    """One engine's answers and timings."""

    engine: peers.Engine
    leads: list[dict]
    mismatches: int | str
    ns: float = 0.0
    hot: float = 0.0


def check(engine: peers.Engine, leads: list[dict], expected: list[bool]) -> Measured:
    """Prepare the engine's leads and count its answers that differ from hand-written."""
    if engine.nulls:
        leads = [with_nulls(lead) for lead in leads]
    if engine.slow:
        leads, expected = leads[:SLOW_LEADS], expected[:SLOW_LEADS]
    answers = [bool(engine.evaluate(lead)) for lead in leads]
    mismatches = sum(got != want for got, want in zip(answers, expected, strict=True))
    return Measured(engine, leads, mismatches)


def time_all(measured: list[Measured]) -> None:
    """Time full passes and hot sweeps, engines interleaved round by round."""
    fast = [m for m in measured if not m.engine.slow]
    passes = [evaluation_pass(m.engine.evaluate, m.leads) for m in fast]
    for m, times in zip(fast, time_rounds(passes, REPEATS), strict=True):
        m.ns = median_per_item(times, len(m.leads))
    sweeps = LEADS // HOT_LEADS
    passes = [evaluation_pass(m.engine.evaluate, m.leads[:HOT_LEADS], sweeps) for m in fast]
    for m, times in zip(fast, time_rounds(passes, REPEATS), strict=True):
        m.hot = median_per_item(times, sweeps * HOT_LEADS)
    for m in measured:
        if m.engine.slow:
            m.ns = m.hot = time_evaluations(m.engine.evaluate, m.leads)


def reaches_last_clause(lead: dict) -> bool:
    """Tell whether evaluating the expression on the lead gets as far as the zip regex."""
    bill = lead.get("monthly_bill")
    email = lead.get("email") or ""
    return (
        lead.get("state") in _STATES
        and bill is not None
        and bill >= 100
        and lead.get("homeowner") is True
        and not email.endswith("@example.com")
    )


def deep_note(leads: list[dict], engines: list[peers.Engine]) -> str:
    """Compare hand-written and Sluice, in turns, on the leads where every clause runs."""
    deep = [lead for lead in leads if reaches_last_clause(lead)]
    sluice = [engine for engine in engines if engine.name.startswith("sluice")]
    if not deep or not sluice:
        return "No Sluice timing on leads that reach the last clause."
    sweeps = max(1, LEADS // len(deep))
    passes = [evaluation_pass(f, deep, sweeps) for f in (hand_written, sluice[0].evaluate)]
    base, ns = (median_per_item(t, sweeps * len(deep)) for t in time_rounds(passes, REPEATS))
    return (
        f"On the {len(deep):,} leads that reach the zip regex (all five clauses run), hot: "
        f"hand-written {fmt_ns(base)}, Sluice {fmt_ns(ns)} ({ns / base:.2f}×)."
    )


def build_engines() -> tuple[list[peers.Engine], list[str]]:
    """Return the engines to time, hand-written first, and notes on any that failed to load."""
    engines = [
        peers.Engine("hand-written Python", hand_written, False, "baseline"),
        peers.Engine("(floor: a do-nothing function)", hand_written_floor, False, "loop + call"),
    ]
    failures = []
    for build in (build_sluice, *peers.BUILDERS):
        try:
            engines.append(build())
        except Exception as error:  # a peer missing from this environment is reported, not fatal
            failures.append(f"{build.__name__}: {type(error).__name__}: {error}")
    return engines, failures


def run() -> Report:
    """Time every engine over the same seeded leads and return the report."""
    leads = generate_leads()
    expected = [hand_written(lead) for lead in leads]
    engines, failures = build_engines()
    measured = [check(engine, leads, expected) for engine in engines]
    measured[1].mismatches = "—"  # the floor answers False regardless: nothing to check
    time_all(measured)
    base, hot_base = measured[0].ns, measured[0].hot
    report = Report(
        "Benchmark 1: one predicate",
        (
            "engine",
            "ns/eval",
            "× hand",
            "hot ns/eval",
            "× hand (hot)",
            "leads",
            "mismatches",
            "notes",
        ),
    )
    for m in measured:
        report.rows.append(
            (
                m.engine.name,
                fmt_ns(m.ns),
                f"{m.ns / base:,.1f}×",
                fmt_ns(m.hot),
                f"{m.hot / hot_base:,.1f}×",
                f"{len(m.leads):,}",
                m.mismatches,
                m.engine.note,
            )
        )
    report.notes += [
        f"Expression: `{EXPRESSION}`",
        f"{LEADS:,} leads from random.Random(7), each field absent ~20% of the time "
        f"({sum(expected):,} match). ns/eval: median over {REPEATS} passes of per-pass ns/eval; "
        "a pass evaluates every lead once in a plain for loop (loop and call overhead included "
        "for every engine; see the floor row); engines take turns pass by pass, so drift in "
        "this shared VM hits them alike; GC paused.",
        f"The {LEADS:,} leads (~12 MB) do not stay in this VM's caches, so a full pass is partly "
        f"memory-bound. hot ns/eval: the same {LEADS:,} evaluations as "
        f"{LEADS // HOT_LEADS} sweeps over the first {HOT_LEADS:,} leads: what an evaluator "
        "costs on a lead already in cache, as in a rule set where many predicates read one lead.",
        f"Slow engines are timed and checked on the first {SLOW_LEADS} leads only (both columns).",
        "Explicit null/None: those engines are given every predicate field as a key, None when "
        "missing (prepared before timing).",
        deep_note(leads, engines),
        "Issue reference on this machine class: hand-written ≈105 ns; zen-engine ≈24×, "
        "simpleeval ≈44×, common-expression-language ≈50×, rule-engine ≈160×, "
        "cel-python ≈5,600×.",
        *(f"Not run: {failure}" for failure in failures),
    ]
    add_targets(report, measured)
    return report


def add_targets(report: Report, measured: list[Measured]) -> None:
    """Record whether Sluice is within the target ratio and agrees on every lead."""
    goal = f"Sluice within {TARGET_RATIO}× of hand-written"
    sluice = next((m for m in measured if m.engine.name.startswith("sluice")), None)
    if sluice is None:
        report.targets.append((goal + " (Sluice not available)", False))
        return
    streaming, hot = sluice.ns / measured[0].ns, sluice.hot / measured[0].hot
    report.targets.append((f"{goal}, full passes ({streaming:.2f}×)", streaming <= TARGET_RATIO))
    report.targets.append((f"{goal}, hot ({hot:.2f}×)", hot <= TARGET_RATIO))
    report.targets.append(("Sluice agrees with hand-written on every lead", sluice.mismatches == 0))
