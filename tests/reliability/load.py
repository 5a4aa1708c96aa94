"""A bounded load against a real server, and the invariants checked over the tables afterwards.

The workload is a seeded mix of request kinds, each with the status the API documents for
it: fresh leads, groups of duplicates (same phone, or same email) spread through the run,
audits, uncategorized leads, invalid fields, malformed JSON, wrong content types and bad
credentials. Bids have small caps, budgets and wallets, so they run out during the load.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.store.db import database
from app.store.models import (
    Customer,
    Delivery,
    DeliveryDestination,
    Lead,
    LeadEvent,
    Post,
    WalletEntry,
)

RULES = """
category home "Home services" {
    field first_name text required(post)
    field phone phone required(post)
    field email email
    field state us_state required(post)
    field zip zip required(post)
    field kind one of ["Roof", "Solar", "Other"]
}

lead_type roof "Roofing" in home priority 20 when kind == "Roof"
lead_type solar "Solar" in home priority 10 when kind == "Solar"

audit "Test name" in home when lower(first_name) == "test"

dedupe "Same phone" in home on phone within 30 days
dedupe "Same email" in home on email within 7 days

bid alpha_roof for customer alpha on roof price 40.00 cap 6 per day
bid beta_roof for customer beta on roof price 35.00 budget 175 per day
bid gamma_roof for customer gamma on roof price 12.50
bid delta_solar for customer delta on solar price 7.00 cap 9 per hour
bid eps_solar for customer epsilon on solar price 2.25 budget 90 per day

plan home {
    stage bidding highest_price
    stage marketplace price 5.00
}
"""
# gamma's wallet runs out (12 leads); alpha's cap, beta's and epsilon's budgets bind.
WALLETS = {"alpha": 30000, "beta": 100000, "gamma": 15000, "delta": 100000, "epsilon": 100000}
CAPS = {"alpha_roof": (6, "day"), "delta_solar": (9, "hour")}
BUDGETS = {"beta_roof": (17500, "day"), "eps_solar": (9000, "day")}
# Marketplace claims a day (customer: limit): alpha's binds; gamma's wallet is nearly empty.
CLAIM_LIMITS = {"alpha": 3, "delta": 40}
PASSED_DEDUPE = ("assigned", "marketplace", "unassigned", "returned")
FINAL = ("assigned", "marketplace", "unassigned", "duplicate", "audit", "uncategorized")
#: A sold lead's statuses: assigned, or returned afterwards (still sold).
SOLD = ("assigned", "returned")
SHARES = {  # request kind: share of the requests
    "fresh": 0.48,
    "duplicate": 0.17,
    "audit": 0.08,
    "uncategorized": 0.05,
    "invalid": 0.10,
    "malformed": 0.05,
    "media_type": 0.04,
    "unauthorized": 0.03,
}
EXPECTED = {
    "fresh": 201,
    "duplicate": 201,
    "audit": 201,
    "uncategorized": 201,
    "invalid": 422,
    "malformed": 400,
    "media_type": 415,
    "unauthorized": 401,
}


@dataclass
class Planned:
    """One request of the workload."""

    n: int
    kind: str
    body: bytes
    content_type: str
    group: int | None = None  # duplicates of one lead share a group

    @property
    def request_id(self) -> str:
        return f"load-{self.n:06d}"


@dataclass
class Result:
    planned: Planned
    status: int | None = None
    body: dict | None = None
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def _lead(n: int, rng: random.Random, **fields) -> dict:
    """Return a valid lead with a phone and an email of its own (n < 1,000,000)."""
    lead = {
        "first_name": rng.choice(["Katy", "Ana", "Bo", "Lee", "Sam"]),
        "phone": f"555-2{n // 10000 % 100:02d}-{n % 10000:04d}",
        "email": f"lead{n}@example.com",
        "state": rng.choice(["FL", "TX", "CA", "NY"]),
        "zip": "33139",
        "kind": rng.choice(["Roof", "Solar"]),
    }
    lead.update(fields)
    return lead


def plan_workload(count: int, seed: int = 7) -> list[Planned]:
    """Return `count` requests of the documented kinds, in a seeded random order."""
    rng = random.Random(seed)
    kinds = [kind for kind, share in SHARES.items() for _ in range(round(share * count))]
    kinds = (kinds + ["fresh"] * count)[:count]
    planned: list[Planned] = []
    group = 0
    n = 0
    duplicates_left = kinds.count("duplicate")
    kinds = [kind for kind in kinds if kind != "duplicate"]
    while duplicates_left > 0:  # groups of 2 to 4 copies of one lead
        size = min(duplicates_left, rng.randint(2, 4))
        group += 1
        n += 1
        original = _lead(500_000 + group, rng)
        for copy in range(size):
            lead = dict(original)
            if copy % 2 == 1:  # same email, another phone: caught by the email check
                lead["phone"] = f"556-3{copy:02d}-{group % 10000:04d}"
            planned.append(
                Planned(0, "duplicate", json.dumps(lead).encode(), "application/json", group)
            )
        duplicates_left -= size
    for kind in kinds:
        n += 1
        if kind == "fresh":
            body = json.dumps(_lead(n, rng)).encode()
        elif kind == "audit":
            body = json.dumps(_lead(n, rng, first_name="Test")).encode()
        elif kind == "uncategorized":
            body = json.dumps(_lead(n, rng, kind="Other")).encode()
        elif kind == "invalid":
            broken = rng.choice([{"zip": "nope"}, {"phone": None}, {"email": "no-at-sign"}])
            lead = {k: v for k, v in {**_lead(n, rng), **broken}.items() if v is not None}
            body = json.dumps(lead).encode()
        elif kind == "malformed":
            text = json.dumps(_lead(n, rng))
            body = text[: rng.randrange(1, len(text) - 1)].encode()
        elif kind == "media_type":
            body = json.dumps(_lead(n, rng)).encode()
        else:  # unauthorized
            body = json.dumps(_lead(n, rng)).encode()
        content_type = "text/plain" if kind == "media_type" else "application/json"
        planned.append(Planned(0, kind, body, content_type))
    rng.shuffle(planned)
    for index, item in enumerate(planned):
        item.n = index
    return planned


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def send(url: str, auth: str, item: Planned, timeout: float = 20.0) -> Result:
    """Send one planned request on a connection of its own; never raise."""
    parts = urlsplit(url)
    result = Result(item, started=time.monotonic())
    headers = {
        "Content-Type": item.content_type,
        "X-Request-Id": item.request_id,
        "Authorization": basic("skk_nobody", "wrong") if item.kind == "unauthorized" else auth,
    }
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", "/api/leads", body=item.body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        result.status = response.status
        try:
            result.body = json.loads(data)
        except ValueError:
            result.body = {"raw": data[:200].decode("latin-1")}
    except (OSError, http.client.HTTPException) as error:
        result.error = f"{type(error).__name__}: {error}"
    finally:
        connection.close()
        result.finished = time.monotonic()
    return result


def run_load(
    urls: list[str],
    auth: str,
    planned: list[Planned],
    clients: int = 8,
    on_result=None,
    stop: threading.Event | None = None,
    pause_after_503: float = 0.0,
) -> list[Result]:
    """Send the planned requests from `clients` threads (round robin over `urls`).

    `on_result(result)` is called after each answer (one at a time); once `stop` is set,
    the requests not yet sent are left out; a client answered 503 pauses `pause_after_503`
    seconds, as a client told to retry later would. Return the results of those sent.
    """
    results: list[Result | None] = [None] * len(planned)
    lock = threading.Lock()

    def work(index: int) -> None:
        if stop is not None and stop.is_set():
            return
        result = send(urls[index % len(urls)], auth, planned[index])
        results[index] = result
        if on_result is not None:
            with lock:
                on_result(result)
        if result.status == 503 and pause_after_503:
            time.sleep(pause_after_503)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(work, range(len(planned))))
    return [result for result in results if result is not None]


class Returner:
    """Returns sold leads through the admin API while the load runs: every `every`-th lead
    answered `assigned` among the first `until` answers (so the rest of the load can use
    up the units the returns freed), but gamma's at 12.50, whose wallet must run out; each
    with two requests at once, which must give one 200 and one 409."""

    def __init__(self, url: str, admin: str, until: int, every: int = 4) -> None:
        self.url = url
        self.admin = admin
        self.every = every
        self.until = until
        self.answered = 0
        self.seen = 0
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.answers: list[tuple[str, list[int]]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Returner:
        self.thread.start()
        return self

    def offer(self, result: Result) -> None:
        """Queue the lead of an answer for its return if it is one to return."""
        self.answered += 1
        body = result.body or {}
        if (
            self.answered > self.until
            or result.status != 201
            or body.get("status") != "assigned"
            or body.get("price") == 12.5
        ):
            return
        self.seen += 1
        if self.seen % self.every == 0:
            self.queue.put(body["lead_public_id"])

    def finish(self) -> list[tuple[str, list[int]]]:
        """Return the leads queued so far, wait for them; return each lead's two statuses."""
        self.queue.put(None)
        self.thread.join(timeout=300)
        return self.answers

    def _run(self) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            while (ref := self.queue.get()) is not None:
                statuses = sorted(pool.map(self._return, [ref, ref]))
                self.answers.append((ref, statuses))

    def _return(self, ref: str) -> int:
        parts = urlsplit(self.url)
        body = json.dumps({"reason": "Other", "note": "load", "override": True})
        headers = {"Content-Type": "application/json", "Authorization": self.admin}
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request("POST", f"/api/admin/leads/{ref}/return", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            connection.close()


@dataclass
class Report:
    """What the load did, for assertions and for docs/reliability.md."""

    sent: int
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def summarize(results: list[Result], seconds: float) -> Report:
    report = Report(sent=len(results), seconds=seconds)
    for result in results:
        if result.status is None:
            report.errors.append(result.error or "no answer")
        else:
            report.statuses[result.status] += 1
            if result.status == 201:
                report.outcomes[result.body["status"]] += 1
    return report


def check_answers(results: list[Result], tolerated: frozenset[int] = frozenset()) -> None:
    """Every answered request got the status documented for its kind (or a tolerated one)."""
    wrong = []
    for result in results:
        if result.status is None:
            continue
        expected = EXPECTED[result.planned.kind]
        if result.status != expected and result.status not in tolerated:
            wrong.append(
                (result.planned.request_id, result.planned.kind, result.status, result.body)
            )
        if result.status == 201:
            status = result.body["status"]
            kind = result.planned.kind
            allowed = {
                "fresh": ("assigned", "marketplace"),
                "duplicate": ("assigned", "marketplace", "duplicate"),
                "audit": ("audit",),
                "uncategorized": ("uncategorized",),
            }[kind]
            if status not in allowed:
                wrong.append((result.planned.request_id, kind, status, result.body))
    assert wrong == [], f"{len(wrong)} answers not as documented, e.g. {wrong[:5]}"


def check_duplicate_groups(results: list[Result]) -> None:
    """Of each group of copies of one lead, exactly one passed dedupe; the rest are duplicates."""
    groups: dict[int, list[str]] = defaultdict(list)
    for result in results:
        if result.planned.group is not None and result.status == 201:
            groups[result.planned.group].append(result.body["status"])
    for group, statuses in groups.items():
        passed = [s for s in statuses if s != "duplicate"]
        assert len(passed) <= 1, (group, statuses)
    answered_whole = [
        statuses
        for group, statuses in groups.items()
        if len(statuses) == sum(1 for r in results if r.planned.group == group)
    ]
    for statuses in answered_whole:
        assert sum(1 for s in statuses if s != "duplicate") == 1, statuses


def check_tables(
    results: list[Result], *, pending_allowed: int = 0, unrecorded: frozenset[int] = frozenset()
) -> dict[str, int]:
    """Check every invariant over the tables; return counts for the report.

    - posts: one per authenticated request that was answered, with its status code (but
      answers in `unrecorded`, e.g. a 503 while the database was down, may have none);
    - each accepted post has exactly one lead, in a final status, the one the answer said;
    - a returned lead was sold first: its timeline has one `assigned` and one `returned`;
    - wallets: balance = deposits - charges + credits, never negative, equal to the sum of
      its wallet entries; one charge per sold lead (assigned or returned), one credit per
      returned lead, each of the lead's price;
    - no cap or budget overrun in any period, counting the leads not returned; each bid's
      counter of a period = its leads sold then and not returned, and their prices;
    - no dedupe key passed twice in its window.
    """
    answered = {r.planned.request_id: r for r in results if r.status is not None}
    posts = {p.request_id: p for p in Post.select()}
    authenticated = [r for r in results if r.planned.kind != "unauthorized"]
    for request_id, result in answered.items():
        if result.planned.kind == "unauthorized":
            assert request_id not in posts, f"a 401 was recorded: {request_id}"
            continue
        if result.status in unrecorded:
            continue
        post = posts.get(request_id)
        assert post is not None, f"no post for answered request {request_id}"
        assert post.status_code == result.status, (request_id, post.status_code, result.status)
    assert len(posts) <= len(authenticated)
    unanswered = len(authenticated) - sum(1 for r in authenticated if r.status is not None)
    missing = sum(1 for r in authenticated if r.status in unrecorded)
    assert len(posts) >= len(authenticated) - unanswered - missing
    leads = list(Lead.select())
    by_post = Counter(lead.post_id for lead in leads)
    accepted = {p.id: p for p in posts.values() if p.accepted}
    assert set(by_post) == set(accepted), "accepted posts and leads differ"
    assert max(by_post.values(), default=1) == 1, "a post with several leads"
    events = defaultdict(list)
    for event in LeadEvent.select(LeadEvent.lead, LeadEvent.kind):
        events[event.lead_id].append(event.kind)
    pending = 0
    for lead in leads:
        post = accepted[lead.post_id]
        result = answered.get(post.request_id)
        if lead.status == "pending":
            pending += 1
            assert result is None or result.status != 201, f"answered 201 but pending: {lead}"
            assert events[lead.id] == ["received"] + ["note"] * (len(events[lead.id]) - 1)
            continue
        # A returned lead was sold (by its routing or its claim) before its return; a
        # claimed lead was routed to the marketplace, then sold by its claim.
        sold_as = "assigned" if lead.status == "returned" else lead.status
        assert sold_as in FINAL, (lead.public_id, lead.status)
        routed = "marketplace" if "claimed" in events[lead.id] else sold_as
        assert events[lead.id].count(routed) == 1, (lead.public_id, events[lead.id])
        assert sum(events[lead.id].count(s) for s in FINAL) == 1, (lead.public_id, events[lead.id])
        returns = events[lead.id].count("returned")
        assert returns == (lead.status == "returned"), (lead.public_id, events[lead.id])
        if result is not None and result.status == 201:
            assert result.body["status"] == routed, (post.request_id, lead.status)
            assert result.body["lead_public_id"] == lead.public_id
    assert pending <= pending_allowed, f"{pending} leads left pending"
    check_books(leads)
    check_limits()
    check_dedupe()
    check_claims(leads, events)
    return {"posts": len(posts), "leads": len(leads), "pending": pending}


def check_books(leads: list[Lead]) -> None:
    """Wallets = deposits - charges + credits, never negative: one charge per sold lead,
    one credit per returned lead, each of the lead's price."""
    sold = {lead.id: lead for lead in leads if lead.status in SOLD}
    entries = list(WalletEntry.select())
    for kind, leads_of_kind, sign in (
        ("charge", sold, -1),
        ("credit", {i: lead for i, lead in sold.items() if lead.status == "returned"}, 1),
    ):
        found = [entry for entry in entries if entry.kind == kind]
        assert len(found) == len(leads_of_kind), (kind, len(found), len(leads_of_kind))
        by_lead = {entry.lead_id: entry for entry in found}
        assert set(by_lead) == set(leads_of_kind), f"{kind}s and leads differ"
        for lead_id, lead in leads_of_kind.items():
            entry = by_lead[lead_id]
            assert entry.amount_cents == sign * lead.price_cents, (kind, lead.public_id)
            assert entry.customer_id == lead.customer_id, (kind, lead.public_id)
    for customer in Customer.select():
        mine = [entry for entry in entries if entry.customer_id == customer.id]
        total = Counter()
        for entry in mine:
            total[entry.kind] += entry.amount_cents
        assert set(total) <= {"deposit", "charge", "credit"}, (customer.slug, set(total))
        spent = sum(lead.price_cents for lead in sold.values() if lead.customer_id == customer.id)
        credited = sum(
            lead.price_cents
            for lead in sold.values()
            if lead.customer_id == customer.id and lead.status == "returned"
        )
        assert customer.balance_cents == total["deposit"] - spent + credited, customer.slug
        assert customer.balance_cents == sum(e.amount_cents for e in mine), customer.slug
        assert customer.balance_cents >= 0, customer.slug


def check_limits() -> None:
    """No bid sold more than its cap, or spent more than its budget, in any period (UTC),
    counting the leads it holds (a returned lead frees its unit); and each counter row is
    what the bid holds in its period: the leads sold then and not returned, their prices."""
    for limits, measure in ((CAPS, "count(*)"), (BUDGETS, "sum(price_cents)")):
        for bid_id, (limit, period) in limits.items():
            rows = database.execute_sql(
                f"SELECT date_trunc(%s, assigned_at), {measure} FROM lead "
                "WHERE status = 'assigned' AND bid_id = %s GROUP BY 1",
                (period, bid_id),
            ).fetchall()
            for start, used in rows:
                assert used <= limit, f"{bid_id} used {used} > {limit} in the {period} of {start}"
    counters = database.execute_sql(
        "SELECT c.bid_id, c.period, c.period_start, c.leads, c.spent_cents,"
        " (SELECT count(*) FROM lead l WHERE l.bid_id = c.bid_id AND l.status = 'assigned'"
        "  AND date_trunc(c.period, l.assigned_at) = c.period_start),"
        " (SELECT coalesce(sum(price_cents), 0) FROM lead l WHERE l.bid_id = c.bid_id"
        "  AND l.status = 'assigned' AND date_trunc(c.period, l.assigned_at) = c.period_start)"
        " FROM bid_counter c"
    ).fetchall()
    for bid_id, period, start, leads, spent, held, held_cents in counters:
        assert (leads, spent) == (held, held_cents), (bid_id, period, start, leads, spent, held)


def check_claims(leads: list[Lead], events: dict[int, list[str]]) -> None:
    """A lead is claimed at most once, from the marketplace, with exactly one charge (checked
    with every sale by check_books) under its claimer's claim id; no customer claimed more
    than its limit in a UTC day."""
    buyers = {customer.id: customer for customer in Customer.select()}
    per_day: Counter = Counter()
    for lead in leads:
        claims = events[lead.id].count("claimed")
        assert claims <= 1, (lead.public_id, events[lead.id])
        by_claim = (lead.bid_id or "").startswith("claim:")
        assert by_claim == (claims == 1), (lead.public_id, lead.bid_id, events[lead.id])
        if claims:
            assert lead.status == "assigned" and "marketplace" in events[lead.id]
            buyer = buyers[lead.customer_id]
            assert lead.bid_id == f"claim:{buyer.public_id}", lead.public_id
            per_day[(buyer.slug, lead.assigned_at.date())] += 1
    for (slug, day), count in per_day.items():
        limit = CLAIM_LIMITS.get(slug)
        assert limit is None or count <= limit, f"{slug} claimed {count} > {limit} on {day}"


def claim_leads(url: str, admin: str, calls: list[tuple[str, str]], clients: int = 8) -> list[int]:
    """POST each (lead, customer) claim from `clients` threads at once; return the statuses."""
    parts = urlsplit(url)

    def claim(call: tuple[str, str]) -> int:
        lead, customer = call
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        try:
            body = json.dumps({"customer": customer})
            headers = {"Content-Type": "application/json", "Authorization": admin}
            connection.request("POST", f"/api/admin/leads/{lead}/claim", body, headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(claim, calls))


def check_dedupe() -> None:
    """No phone or email passed the dedupe stage twice within its window (the run is short)."""
    for key in ("phone", "email"):
        rows = database.execute_sql(
            f"SELECT data->>'{key}', count(*) FROM lead WHERE status IN %s "
            f"AND data->>'{key}' IS NOT NULL GROUP BY 1 HAVING count(*) > 1",
            (PASSED_DEDUPE,),
        ).fetchall()
        assert rows == [], f"{key} passed dedupe twice: {rows[:5]}"


def check_outbox() -> dict[str, int]:
    """Every sold lead (assigned, or returned since) has one `lead.sold` delivery to each
    destination of its buyer, and no other lead has a buyer's delivery: the sale's
    transaction writes them, or nothing. Return counts for the report."""
    destinations: dict[int, set[int]] = defaultdict(set)
    for destination in DeliveryDestination.select().where(
        DeliveryDestination.customer.is_null(False)
    ):
        destinations[destination.customer_id].add(destination.id)
    sold = {lead.id: lead for lead in Lead.select().where(Lead.status.in_(SOLD))}
    by_lead: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in (
        Delivery.select()
        .join(DeliveryDestination)
        .where(DeliveryDestination.customer.is_null(False))
    ):
        by_lead[delivery.lead_id].append(delivery)
    unsold = [lead_id for lead_id in by_lead if lead_id not in sold]
    assert unsold == [], f"{len(unsold)} leads not sold have a buyer's delivery"
    for lead_id, lead in sold.items():
        deliveries = by_lead[lead_id]
        assert sorted(d.destination_id for d in deliveries) == sorted(
            destinations[lead.customer_id]
        ), (lead.public_id, [d.public_id for d in deliveries])
        assert all(d.event == "lead.sold" for d in deliveries), lead.public_id
    return {"sold": len(sold), "deliveries": sum(len(d) for d in by_lead.values())}
