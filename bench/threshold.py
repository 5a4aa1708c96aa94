"""Benchmark 6: what a tenant's monthly lead threshold costs the intake.

Three servers take the same leads as Benchmark 4 (bench/intake.py: wrk, 16 connections,
the example solar rules, gunicorn with 4 sync workers, PostgreSQL), in rounds that rotate
their order: the revision before withheld leads (SLUICE_BENCH_BASE_REV, default the
merge-base with main, served from an export of it), this revision with the tenant
without a threshold (the default), and this revision with a threshold far above what the
run can reach (every lead counted in the tenant's month's counter row, none withheld).
All three use one schema, made by this revision; medians of the rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import intake
from bench.intake import OFFSET_STEP, ROOT, UNIQUE_PHONES, WARM_UP_SECONDS, Measure, Server
from bench.report import Report

ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "3"))
BASE_REV = os.environ.get("SLUICE_BENCH_BASE_REV")
THRESHOLD = 1_000_000_000  # never reached by a run
VARIANTS = ("base", "none", "threshold")
LABELS = {
    "base": "before withheld leads ({rev})",
    "none": "this revision, no threshold (default)",
    "threshold": "this revision, threshold set, not reached",
}


def _set_threshold(url: str, threshold: int | None) -> None:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        cursor.execute("UPDATE tenant SET monthly_lead_threshold = %s", [threshold])
    connection.close()


def _counted(url: str) -> int:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(leads), 0) FROM lead_usage")
        counted = cursor.fetchone()[0]
    connection.close()
    return counted


def measure(rounds: int = ROUNDS) -> tuple[dict[str, list[Measure]], str, dict, int]:
    """Return (measures by variant, the base revision, lead outcomes, leads counted)."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    if rounds * 2 * len(VARIANTS) * OFFSET_STEP > UNIQUE_PHONES:
        raise SystemExit("too many rounds: phone numbers would repeat")
    rev = intake.base_rev(BASE_REV)
    admin, schema, url = intake.new_schema()
    results: dict[str, list[Measure]] = {variant: [] for variant in VARIANTS}
    base_dir = Path(tempfile.mkdtemp(prefix="sluice-base-"))
    try:
        intake.export_revision(rev, base_dir)
        auth, _ = intake._set_up(url)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(intake.WRK_SCRIPT)
        env = {"SLUICE_DATABASE_URL": url, "SLUICE_LOG_LEVEL": "INFO"}
        offset = 0
        for number in range(rounds):
            order = VARIANTS[number % 3 :] + VARIANTS[: number % 3]
            for variant in order:
                _set_threshold(url, THRESHOLD if variant == "threshold" else None)
                cwd = base_dir if variant == "base" else ROOT
                server = Server(["-c", "gunicorn.conf.py", "wsgi:app"], env, cwd)
                try:
                    path, leads = Path(script.name), server.url + "/api/leads"
                    intake.wrk(leads, auth, WARM_UP_SECONDS, offset, path)
                    offset += OFFSET_STEP
                    before = intake.cpu_now(server)
                    result = intake.wrk(leads, auth, intake.SECONDS, offset, path)
                    after = intake.cpu_now(server)
                    if before is not None and after is not None:
                        result = replace(result, cpu=(after - before).per(result.requests))
                    results[variant].append(result)
                    offset += OFFSET_STEP
                finally:
                    server.stop()
                print(f"  {variant}: {result}", flush=True)
        outcomes = intake._outcomes(url)
        counted = _counted(url)
        os.unlink(script.name)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
    return results, rev, outcomes, counted


def run() -> Report:
    """Measure the intake before withheld leads, without and with a threshold."""
    results, rev, outcomes, counted = measure()

    def median(variant: str, attribute: str) -> float:
        return statistics.median(getattr(m, attribute) for m in results[variant])

    base = median("base", "rps")
    report = Report(
        "Benchmark 6: intake with a monthly lead threshold (PostgreSQL, gunicorn)",
        ["intake", "requests/s", "each round", "× before", "p50", "p99", "CPU a request"],
    )
    for variant in VARIANTS:
        cpu = intake.median_cpu(results[variant])
        report.rows.append(
            [
                LABELS[variant].format(rev=rev[:7]),
                f"{median(variant, 'rps'):,.0f}",
                ", ".join(f"{m.rps:,.0f}" for m in results[variant]),
                f"{median(variant, 'rps') / base:.0%}",
                f"{median(variant, 'p50_ms'):.1f} ms",
                f"{median(variant, 'p99_ms'):.1f} ms",
                cpu.text() if cpu else "—",
            ]
        )
    statuses = ", ".join(f"{status} {count:,}" for status, count in outcomes.items())
    report.notes += [
        f"wrk as in Benchmark 4 ({intake.CONNECTIONS} connections, {intake.SECONDS} s a "
        f"measurement after {WARM_UP_SECONDS} s of warm-up, a fresh gunicorn each); "
        f"{ROUNDS} rounds, the three in a rotating order; medians of the rounds.",
        f"Threshold: {THRESHOLD:,} leads a month, never reached: every lead of that run takes "
        "a unit of the tenant's counter row for the month, in the intake's one statement. "
        f"Leads counted: {counted:,}; leads by outcome: {statuses}.",
        "One tenant takes every lead, so all 16 connections update the same counter row: "
        "the worst case for that row's lock, held from the statement to its COMMIT in the "
        "same round trip.",
        "CPU a request: PostgreSQL + the app + wrk, as in Benchmark 4.",
    ]
    failed = sum(m.failed for ms in results.values() for m in ms)
    report.targets = [("no failed request", failed == 0)]
    return report
