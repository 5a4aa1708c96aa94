"""The levers tried on the benchmarked paths: the static section RESULTS.md ends with.

Each benchmark run rewrites its own section of RESULTS.md; this table is written again
after them unchanged. Add a row when a change is measured, kept or not.
"""

from __future__ import annotations

TITLE = "## Levers tried"

#: (benchmark, lever, effect, kept). The effect is what an A/B measurement showed at the
#: time, on that day's machine: compare its before and after, not its figures with the
#: tables above.
LEVERS = (
    (
        "intake",
        "PostgreSQL connections pooled per process (was one connection, and server process, "
        "a request)",
        "49 → 110 req/s (×2.2)",
        "kept",
    ),
    (
        "intake",
        "21 → 17 queries a lead, 4 fewer under the customers' row locks",
        "110 → 117 req/s (+6%)",
        "kept",
    ),
    (
        "intake",
        "optimistic bidding: the sale re-checks balance, cap, budget and turn in its own "
        "writes, written last; hand-written hot statements (8 round trips)",
        "134 → 271 req/s (×2.0), p99 163 → 87 ms",
        "kept",
    ),
    (
        "intake",
        "the sale's COMMIT in its round trip; source, tenant and active rules in one query "
        "(6 round trips)",
        "271 → 287 → 285 req/s",
        "kept",
    ),
    (
        "intake",
        "accepted posts committed without their own WAL flush (one flush a lead)",
        "285 → 353 req/s (+24%), p99 84 → 71 ms",
        "kept",
    ),
    (
        "intake",
        "statements prepared once per pooled connection; the lead lock with the dedupe "
        "upsert (5 round trips); validation by a plain loop (273 → 168 µs a lead)",
        "16–21% → 24% of the floor, p99 111–125 → 86–98 ms",
        "kept",
    ),
    (
        "intake",
        "a new lead routed first and written once, in one statement and one commit "
        "(3 round trips); JSON parameters by orjson",
        "22–23% → 23–29% of the floor; PostgreSQL CPU a lead −18%",
        "kept",
    ),
    (
        "intake",
        "gunicorn loads the app and builds the rules parser in the master (`preload_app`)",
        "10 s rounds: no change; a minute of load: 184–198 → 202–219 req/s, "
        "p99 162–395 → 131–137 ms",
        "kept",
    ),
    (
        "intake",
        "four indexes dropped (three covered by composite ones; posts by time)",
        "579–595 req/s either way",
        "not kept",
    ),
    (
        "intake",
        "Python's cycle collector frozen after warm-up, or its threshold raised",
        "618–620 → 620–633 req/s (within noise)",
        "not kept",
    ),
    (
        "intake",
        "gthread workers (4 × 2 or 4 × 4 threads) instead of sync",
        "617–621 → 538–562 req/s, p99 56–73 ms",
        "not kept",
    ),
    (
        "intake",
        "no foreign keys on the intake tables",
        "PostgreSQL CPU a lead −11 to −31%, +1 to +24% req/s",
        "not kept (the database's own integrity check)",
    ),
    (
        "intake",
        "each worker's last authentication of a key reused (unchecked, in process)",
        "CPU a lead: Python 1.62 → 1.32 ms, PostgreSQL 0.86 → 0.75 ms",
        "not kept (a security check in the write path)",
    ),
    (
        "intake",
        "dedupe-key updates made HOT (no indexes on `lead_id` and `tenant_id`)",
        "PostgreSQL CPU a lead about −5% (within noise)",
        "not kept",
    ),
    (
        "intake",
        "a tenant's monthly threshold taken in the intake's one statement (a guarded upsert "
        "CTE, no round trip more), the waiting check only where the row is proposed",
        "no threshold: 104 → 103 req/s; threshold set: 123 req/s (load average 8–10: "
        "differences within noise)",
        "kept",
    ),
    (
        "dry-run",
        "conditions with an exact SQL translation evaluated in the stream; the stream in "
        "index order on one backend, fetched a batch ahead",
        "44.8 → 26.3 s",
        "kept",
    ),
    (
        "dry-run",
        "per-rule counts summed from the stream's bits (no second scan)",
        "26.3 → 16.3 s",
        "kept",
    ),
    (
        "dry-run",
        "cap, budget and schedule state held on each bid; dedupe keys without the generic "
        "normalizer",
        "16.3 → 13.5 s",
        "kept",
    ),
    (
        "dry-run",
        "one-field keys hashed without a list; the stream's JSON decoded by orjson directly",
        "23.8–27.2 → 22.5–22.6 s",
        "kept",
    ),
    (
        "dry-run",
        "the baseline replayed in a forked process beside the proposed one",
        "26 → 37 s",
        "not kept",
    ),
    (
        "dry-run",
        "one dedupe history for both rule sets; quarter-hour schedules cached per quarter hour",
        "9.43 → 9.30 s; peak memory 174 → 205 MB",
        "kept",
    ),
    (
        "dry-run",
        "eligible bids remembered per set of database verdicts; auctions stop at the first "
        "open bid; spent bids skipped until their period ends",
        "9.3 → 8.2 s",
        "kept",
    ),
    (
        "dry-run",
        "the needed fields streamed as one JSON object built in SQL",
        "8.2 → 7.2–7.3 s",
        "kept",
    ),
    (
        "dry-run",
        "lead types and audits remembered per set of verdicts; the cycle collector paused "
        "during the replay; phone and two-field keys inlined",
        "Python's part 6.68 → 5.26 s",
        "kept",
    ),
    (
        "dry-run",
        "each distinct outcome made once, pairs counted by identity",
        "5.51 → 5.53 s",
        "not kept",
    ),
    (
        "dry-run",
        "the stream's query without JIT; epoch seconds by `date_part()`",
        "6.16–6.46 → 5.69–5.84 s",
        "kept",
    ),
    (
        "dry-run",
        "each row as one JSON array built by PostgreSQL",
        "the dry-run no faster (6.42–6.52 s)",
        "not kept",
    ),
    (
        "rule counts",
        "`age()` through PostgreSQL's `age()`",
        "that predicate's count 2.6 → 1.0 s",
        "kept",
    ),
    (
        "rule counts",
        "each lead value read once per row, the cheapest exact way its use allows",
        "69,100 → 26,500 instructions a lead; 5.31 → 2.13 s",
        "kept",
    ),
    (
        "rule counts",
        "more parallel workers than PostgreSQL's default 2",
        "no gain on 2 cores",
        "not kept",
    ),
    (
        "rule counts",
        "a projection of the tenant's lead values in typed columns",
        "3.54–3.78 → 0.73–0.78 s (built once: 14.0 s)",
        "kept",
    ),
    (
        "rule set",
        "dedupe keys skip `phonenumbers` for values already in E.164",
        "48 µs → under 1 µs a lead",
        "kept",
    ),
    (
        "rule set",
        "`age()` and `days_since()` cache parsed dates and the lead's reference date",
        "about 1 → 0.6 µs a call",
        "kept",
    ),
    (
        "intake",
        "routing as a pure core in the store's transaction: the pipeline decides on facts "
        "read for every bidding stage with the dedupe keys (3 round trips a lead either "
        "way); one service layer for the API and the CLI",
        "A/B, 3 rounds each, twice: 18% and 27% → 27% and 28% of the floor beside it; CPU a "
        "request 5.5× and 4.1× → 4.3× and 3.8× the floor's: within noise",
        "kept",
    ),
    (
        "dry-run",
        "one router for live routing and the replay (per-mask caches, presorted auctions and "
        "period clocks inside it; counters behind a ledger)",
        "1,000,000 leads: 8.33 and 8.75 s → 8.51 s (1.07× the plain floor either way); "
        "Python's instructions a lead +10% (callgrind); reports identical",
        "kept",
    ),
    (
        "delivery",
        "the loop settles the attempts that ended, a batch of delivered ones in one statement "
        "(attempt rows, deliveries, streaks, timeline); a claim in one statement; abandoned "
        "claims released once a second instead of checked against pg_locks in every claim",
        "one worker: 358 → 490–516 deliveries/s; CPU a delivery: worker 1.64 → 1.3–1.4 ms, "
        "PostgreSQL 1.46 → 0.5–0.7 ms",
        "kept",
    ),
    (
        "delivery",
        "a claim's destination check as a scalar subquery, not a join (with statistics older "
        "than the queue the join read and sorted every pending row for each claim)",
        "rows read a delivery, 600 pending: 114 → 18 (auto_explain: 740 → 11 a claim); a "
        "claim no longer grows with the queue",
        "kept",
    ),
    (
        "delivery",
        "an httpx client per sending thread instead of one pool of 32 connections (its lock, "
        "and a poll of every idle connection on each request)",
        "intake beside a worker: worker CPU a request 1.42 → 1.21 ms; one worker alone "
        "1.68–1.74 → 1.54–1.58 ms",
        "kept",
    ),
    (
        "delivery",
        "a busy loop's rounds 20 ms apart while a quarter of the threads is free, so the "
        "sales and ended attempts of those 20 ms share a claim and a settle",
        "worker CPU a request 1.14 → 0.85 ms; the intake beside it 285–288 → 299–307 req/s "
        "(cold schema); latency of an idle worker unchanged",
        "kept",
    ),
    (
        "delivery",
        "rounds 50 ms apart",
        "worker CPU a request 0.97 → 0.71 ms, but it fell behind the sales (1,500 pending "
        "after 10 s)",
        "not kept",
    ),
    (
        "delivery",
        "delivered attempts logged at DEBUG (their rows say it all), a summary every minute",
        "worker CPU a request 0.93 → 0.83 ms; the intake beside it +3–4%",
        "kept",
    ),
    (
        "delivery",
        "no LISTEN while busy (measured with none at all: PostgreSQL's listener runs a "
        "transaction for every notification)",
        "PostgreSQL CPU a request −0.05 ms, the intake beside it +1–3%",
        "not kept (a sale would wait for the next ended attempt, up to a second behind a slow "
        "buyer)",
    ),
    (
        "delivery",
        "the worker at nice 10 or 19, yielding the cores to the intake",
        "the intake beside it 74% → 91–92% of without, but 4,700–6,200 deliveries pending "
        "after 10 s: the worker fell behind",
        "not kept",
    ),
    (
        "delivery",
        "64 sending threads instead of 32",
        "the intake beside it 279–295 → 304–305 req/s; with room counted in free threads, 32 "
        "do as well (300–306)",
        "not kept",
    ),
    (
        "pings",
        "a ping's row inserted by a hand-written statement, prepared once per connection, "
        "instead of peewee's `save()` (its INSERT built and planned for every ping)",
        "in process (test client, 7 alternating rounds of 1,000 pings): CPU a ping, Python "
        "1.12 → 0.92 ms, PostgreSQL 0.40 → 0.35 ms; gunicorn, alternating rounds: paced at "
        "500/s, CPU a request 2.38 → 2.13 ms (4 rounds each; 2.49 → 2.27 ms in 6 more, "
        "with other work on the machine); unpaced, 706 (637–930) → 968 (915–990) req/s",
        "kept",
    ),
)


def markdown() -> str:
    """Return the levers table as RESULTS.md's closing section."""
    lines = [
        TITLE,
        "",
        "Effects are A/B measurements made when each lever was tried, on that day's machine: "
        "compare a row's before and after, not its figures with the tables above.",
        "",
        "| benchmark | lever | effect | kept |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {bench} | {lever} | {effect} | {kept} |" for bench, lever, effect, kept in LEVERS]
    return "\n".join(lines) + "\n"
