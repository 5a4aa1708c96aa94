"""Hostile rules: regexes that backtrack catastrophically elsewhere, and hostile rule pushes.

The parser and checker are fuzzed in tests/dsl/test_parser.py; these go the whole way,
through the admin API and the intake, where a hang would hold a worker.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import assert_clean

# Patterns that take exponential time on a backtracking engine (Python's re, PCRE).
EVIL = [
    r"(a+)+$",
    r"(a|aa)+$",
    r"(a|a)+$",
    r"(.*a){12}$",
    r"^(([a-z])+.)+[A-Z]([a-z])+$",
    r"(\w+\s?)+$",
]
INPUT = "a" * 1990 + "!"  # text fields hold at most 2,000 characters
SECONDS = 5.0  # generous: RE2 answers in microseconds; a backtracking engine never would


def evil_rules(patterns: list[str]) -> str:
    audits = "\n".join(
        f'audit "evil {n}" in c when first_name matches /{p}/' for n, p in enumerate(patterns)
    )
    return f"""
category c "C" {{
    field first_name text required(post)
    field zip zip required(post)
}}
lead_type any "Any" in c fallback
{audits}
bid b for customer alpha on any price 1.00
plan c {{
    stage bidding highest_price
}}
"""


def timed(function):
    """Run function in a thread; return (result, seconds), failing if it outlives SECONDS."""
    result = {}

    def run():
        result["value"] = function()

    thread = threading.Thread(target=run, daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(SECONDS)
    elapsed = time.perf_counter() - started
    assert not thread.is_alive(), f"still running after {SECONDS} s: catastrophic backtracking"
    return result["value"], elapsed


def test_the_patterns_are_catastrophic_for_a_backtracking_engine():
    # The control: these really do hang Python's re on a short input.
    pattern = re.compile(EVIL[0])
    started = time.perf_counter()
    pattern.search("a" * 22 + "!")
    assert time.perf_counter() - started > 0.05


def test_catastrophic_regexes_cannot_hang_the_intake(make_world):
    world = make_world(evil_rules(EVIL), {"alpha": "100"})
    body = json.dumps({"first_name": INPUT, "zip": "33139"})

    def post():
        return world.client.post(
            "/api/leads", data=body, content_type="application/json", headers=world.auth
        )

    response, seconds = timed(post)
    assert response.status_code == 201, response.json
    assert response.json["status"] == "assigned"  # no audit matched: the "!" ends it
    assert seconds < SECONDS
    flagged = dict(response.json)
    matching = json.dumps({"first_name": "a" * 1990, "zip": "33139"})
    response, _ = timed(
        lambda: world.client.post(
            "/api/leads", data=matching, content_type="application/json", headers=world.auth
        )
    )
    assert response.json["status"] == "audit", flagged


@pytest.mark.parametrize(
    ("pattern", "code"),
    [
        (r"(a)\1", "invalid-regex"),
        (r"(?=a)b", "invalid-regex"),
        (r"a{1000}{1000}", "invalid-regex"),
        (r"((((((((((a{100}){100}){100}){100})))))))", "invalid-regex"),
        (r"[", "invalid-regex"),
    ],
)
def test_rules_with_unsafe_or_broken_regexes_are_refused(world, client, pattern, code):
    files = {"c.rules": evil_rules([pattern])}
    response, _ = timed(
        lambda: client.post("/api/admin/rules", json={"files": files}, headers=world.admin)
    )
    assert response.status_code == 422, response.json
    assert code in {d["code"] for d in response.json["diagnostics"]}


@pytest.mark.parametrize(
    "files",
    [
        {"c.rules": "\x00"},
        {"c.rules": "# \x00 in a comment\n"},
        {"\x00.rules": "category"},
        {"c.rules": "\ud800"},
        {"c.rules": 'category c "\U0010fffd" { field zip zip }'},
        {"c.rules": "(" * 50_000},
        {"c.rules": "a" * 500_000},
        {f"f{n}.rules": "category" for n in range(500)},
        {"": "x"},
        {"../../etc/passwd": "x"},
    ],
    ids=[
        "nul",
        "nul-comment",
        "nul-name",
        "surrogate",
        "astral",
        "parens",
        "long-word",
        "many-files",
        "empty-name",
        "path-name",
    ],
)
def test_hostile_rule_pushes_are_clean_refusals(world, client, files):
    response = client.post("/api/admin/rules", json={"files": files}, headers=world.admin)
    assert response.status_code in (400, 413, 422), (response.status_code, response.json)
    assert response.json["error"] in ("bad_request", "payload_too_large", "validation_failed")
    versions = client.get("/api/admin/rules", headers=world.admin).json
    assert [v["version"] for v in versions] == [1]


def test_rules_that_compile_but_hold_nul_in_a_comment_are_refused_or_stored(world, client):
    from tests.conftest import EXAMPLES

    text = (EXAMPLES / "solar" / "solar.rules").read_text() + "\n# note \x00\n"
    response = client.post(
        "/api/admin/rules", json={"files": {"solar.rules": text}}, headers=world.admin
    )
    assert response.status_code in (201, 400, 422), response.json
    if response.status_code == 201:
        detail = client.get("/api/admin/rules/2", headers=world.admin).json
        assert detail["files"]["solar.rules"] == text


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(max_size=300))
def test_random_rule_pushes_never_fail_the_service(world, client, text):
    response = client.post(
        "/api/admin/rules", json={"files": {"fuzz.rules": text}}, headers=world.admin
    )
    assert response.status_code in (201, 400, 422), (response.status_code, response.json)


def test_a_post_into_the_evil_rules_is_recorded_like_any_other(make_world):
    world = make_world(evil_rules(EVIL[:2]), {"alpha": "100"})
    response = world.client.post(
        "/api/leads",
        data=json.dumps({"first_name": INPUT}),
        content_type="application/json",
        headers=world.auth,
    )
    post = assert_clean(response, {422})
    assert "zip" in post.errors
