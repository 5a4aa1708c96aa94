"""The routing transaction: read what routing needs, let the caller decide, store the decision.

`route_new_lead` (the intake) and `route_stored_lead` (a reprocess) run one transaction: the
facts the decision needs are read (app/store/facts.py), the caller's pure `decide(facts)`
decides, and the lead's outcome, its timeline, its dedupe record, the sale and the
deliveries the decision sends (app/store/deliveries.py) are written.
Bidding decides on facts read without locks and the sale, written last, re-checks them in
its own writes (app/store/sales.py): when another routing got there first (SQLSTATE SL409),
this one rolls back whole and decides again on fresh facts; after OPTIMISTIC_ATTEMPTS such
races the last attempt locks the candidates' customers before reading, and cannot lose.

On PostgreSQL the writes go in one round trip with the COMMIT (the sale last): the winning
customer's row is locked from the sale's statement to the end of that COMMIT, with no round
trip to this process in between. A new lead is inserted there with its post, already
routed: one statement writes it all. When the tenant has a monthly threshold, that
statement also takes the lead's unit of the month (app/store/usage.py), checked before the
sale; with none left it fails whole (SL429) and the lead is stored `withheld` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from peewee import DatabaseError

from app.domain.clock import utcnow
from app.domain.delivery import Outbox
from app.domain.routing import Decision, Facts, Needs, SaleTerms, Step
from app.domain.status import Status
from app.domain.threshold import Quota, counts
from app.store.db import database, execute, execute_together, is_postgresql, json_param, repeat
from app.store.deliveries import outbox_statement
from app.store.facts import fetch_facts
from app.store.leads import insert_submission, lock_lead, received_events, refusal
from app.store.models import Lead, Post
from app.store.sales import Sale, lost_race, record_sale, sale_ctes, sale_statement
from app.store.usage import OverThreshold, over_threshold, quota_ctes, take_unit

#: The outcomes that sell the lead now: its `assigned_at` is set.
SOLD_NOW = (Status.ASSIGNED, Status.POSTED)
OPTIMISTIC_ATTEMPTS = 3  # then one more, with the candidates' customers locked first
Decide = Callable[[Facts], Decision]
Announce = Callable[[Decision], Outbox]

_RECORD_ON_KEYS = (
    "UPDATE dedupe_key SET last_seen_at = %s, lead_id = {lead}"
    " WHERE tenant_id = %s AND key_hash IN ({hashes})"
)
# A routed lead's fields, as `Routed.values` gives them.
_ROUTED = [
    "status",
    "lead_type",
    "rule_version",
    "price_cents",
    "customer",
    "bid_id",
    "updated_at",
    "assigned_at",
    "offer_cents",
    "posted_partner",
]
_ROUTED_SET = ", ".join(f"{Lead._meta.fields[name].column_name} = %s" for name in _ROUTED)


class _LostRace(Exception):
    """Another routing sold to the same customer or bid first: decide again."""


@dataclass(frozen=True)
class Routed:
    """A decision as it is stored for one lead."""

    tenant_id: int
    decision: Decision
    version_id: int | None
    at: datetime  # naive UTC: when the lead was routed
    outbox: Outbox | None = None  # the deliveries the decision sends
    quota: Quota | None = None  # the tenant's threshold, when it has one

    def counted(self) -> Quota | None:
        """Return the quota this decision takes a unit of, if it counts."""
        return self.quota if self.quota is not None and counts(self.decision.status) else None

    def deliveries(self, lead_ref: str, lead_params: list) -> tuple[str, list] | None:
        """Return the INSERT of the decision's deliveries (see `outbox_statement`), if any."""
        if self.outbox is None:
            return None
        return outbox_statement(self.tenant_id, self.outbox, lead_ref, lead_params, self.at)

    def values(self) -> list:
        """Return the values of the lead's _ROUTED fields."""
        decision = self.decision
        assigned_at = self.at if decision.status in SOLD_NOW else None
        customer_id = decision.customer.id if decision.customer is not None else None
        return [
            decision.status,
            decision.lead_type,
            self.version_id,
            decision.price_cents,
            customer_id,
            decision.bid_id,
            self.at,
            assigned_at,
            decision.offer_cents,
            decision.posted.partner if decision.posted is not None else None,
        ]

    def sale(self, lead: Lead) -> Sale | None:
        """Return the sale to write for the lead (its id may be set later), or None."""
        terms: SaleTerms | None = self.decision.sale
        if terms is None:
            return None
        return Sale(
            tenant_id=self.tenant_id,
            customer_id=terms.customer_id,
            bid_id=terms.bid_id,
            price_cents=terms.price_cents,
            lead_id=lead.id,
            note=f"lead {lead.public_id}",
            at=self.at,
            periods=terms.periods,
            cap=terms.cap,
            budget=terms.budget,
            last_won=terms.last_won,
            check_last_won=terms.check_last_won,
        )


def route_new_lead(
    post: Post,
    lead: Lead,
    notes: Sequence[str],
    needs: Needs,
    decide: Decide,
    *,
    version_id: int | None,
    at: datetime,
    announce: Announce | None = None,
    quota: Quota | None = None,
    withheld: Decision | None = None,
    lock: Callable[[], None] | None = None,
    claim: Callable[[Decision], None] | None = None,
) -> Decision:
    """Decide a new lead and insert it with its post, routed, in one transaction.

    The post and the lead (from `new_submission`, not yet stored) are inserted with their
    timeline, dedupe record and sale: everything commits together or nothing is written and
    the exception propagates. No other routing can see the lead before it commits, so it
    needs no lock; `lock` (first in the transaction) and `claim(decision)` (before the
    writes) let a reverse auction's fill lock and count its auction in the same transaction.

    With a `quota` (the tenant's threshold) a decision that counts also takes a unit of the
    month; when none is left, the lead is inserted with the `withheld` decision instead
    (not routed: no sale, no dedupe record, no auction fill), in a transaction of its own.
    """
    events = received_events(post, notes)
    outermost = not database.in_transaction()

    def save(routed: Routed, commit: bool) -> bool:
        if claim is not None:
            claim(routed.decision)
        return _save_new_lead(post, lead, events, routed, commit=commit)

    try:
        return _decide_and_save(
            lead.tenant_id, needs, decide, announce, save, version_id, at, lock, quota=quota
        )
    except OverThreshold:
        if withheld is None:
            raise
    outbox = announce(withheld) if announce is not None else None
    with database.atomic():  # not `save`: a withheld lead fills no auction
        _save_new_lead(
            post, lead, events, Routed(lead.tenant_id, withheld, None, at, outbox), commit=outermost
        )
    return withheld


def route_stored_lead(
    lead: Lead,
    statuses: Sequence[str],
    needs: Needs,
    decide: Decide,
    *,
    version_id: int | None,
    at: datetime,
    announce: Announce | None = None,
    quota: Quota | None = None,
    altered: Callable[[], None] | None = None,
) -> Decision:
    """Decide a stored lead again and store its new outcome, charge and timeline in one
    transaction.

    The lead must have one of `statuses`, checked under its row lock (else ConflictError).
    Either everything commits or nothing does and the exception propagates, leaving the
    lead as it was. With a `quota`, a decision that counts takes a unit of the month or
    nothing is written and OverThreshold is raised. When the decision altered the lead's
    data, `altered()` runs after the writes, in the same transaction (the analysis
    projection's row).
    """

    def save(routed: Routed, commit: bool) -> bool:
        if routed.decision.altered is None or altered is None:
            return _save_routing(lead, routed, commit=commit)
        saved = _save_routing(lead, routed, commit=False)  # the caller's block commits
        if saved:
            altered()
        return saved

    try:
        decision = _decide_and_save(
            lead.tenant_id,
            needs,
            decide,
            announce,
            save,
            version_id,
            at,
            lock=lambda: lock_lead(lead, tuple(statuses)),
            quota=quota,
        )
    except DatabaseError as error:
        refused = refusal(lead, error)  # the lead's lock found it routed already
        if refused is None:
            raise
        raise refused from None
    if decision.altered is not None:
        lead.data = decision.altered  # as stored
    return decision


def _decide_and_save(
    tenant_id: int,
    needs: Needs,
    decide: Decide,
    announce: Announce | None,
    save: Callable[[Routed, bool], bool],
    version_id: int | None,
    at: datetime,
    lock: Callable[[], None] | None = None,
    quota: Quota | None = None,
) -> Decision:
    """Read, decide and save in one transaction, deciding again when the sale lost its race;
    OverThreshold (nothing written) when the decision counts and the quota is used up."""
    outermost = not database.in_transaction()  # then the last statement may COMMIT
    for attempt in range(OPTIMISTIC_ATTEMPTS + 1):
        try:
            with database.atomic():
                if lock is not None:
                    lock()
                facts = fetch_facts(tenant_id, needs, lock_buyers=attempt == OPTIMISTIC_ATTEMPTS)
                decision = decide(facts)
                outbox = announce(decision) if announce is not None else None
                routed = Routed(tenant_id, decision, version_id, at, outbox, quota)
                if not save(routed, outermost):
                    raise _LostRace
        except _LostRace:
            continue
        return decision
    raise AssertionError("the locked attempt cannot lose a race")  # pragma: no cover


def _save_routing(lead: Lead, routed: Routed, *, commit: bool = False) -> bool:
    """Store a stored lead's routing and end the caller's transaction; False if the sale
    lost its race (the caller must roll back).

    With `commit` (the caller's transaction was opened outside any other), PostgreSQL
    commits it here, in the same round trip; otherwise, and on SQLite, the caller's block
    commits.
    """
    decision, sale = routed.decision, routed.sale(lead)
    sets, params = [_ROUTED_SET], routed.values()
    if decision.altered is not None:  # an alter stage changed the data: stored with it
        placeholder, data = json_param(decision.altered)
        sets.append(f"data = {placeholder}")
        params.append(data)
    if decision.enriched:  # a provider's answer, added to those of earlier enrich stages
        placeholder, data = json_param(decision.enriched)
        merged = (
            f"COALESCE(enriched, '{{}}'::jsonb) || {placeholder}"
            if is_postgresql()
            else f"json_patch(COALESCE(enriched, '{{}}'), {placeholder})"
        )
        sets.append(f"enriched = {merged}")
        params.append(data)
    update = (f"UPDATE lead SET {', '.join(sets)} WHERE id = %s", [*params, lead.id])
    statements = [update]
    if decision.steps:
        statements.append(_timeline_statement(lead.id, decision.steps))
    if decision.record_keys:
        statements.append(_record_on_keys(routed, "%s", [lead.id]))
    deliveries = routed.deliveries("%s", [lead.id])
    if deliveries is not None:
        statements.append(deliveries)
    quota = routed.counted()
    if not is_postgresql():
        for query, params in statements:
            execute(query, params)
        if quota is not None:
            take_unit(quota)
        return sale is None or record_sale(sale) is not None
    if quota is not None:
        ctes, params, answer, answer_params = quota_ctes(quota, "NULL", [])
        statements.append((f"WITH {', '.join(ctes)} SELECT {answer}", params + answer_params))
    if sale is not None:
        statements.append(sale_statement(sale))
    # With its COMMIT when asked: a sale that held commits without a round trip back here,
    # one that lost fails before the COMMIT is reached.
    return _write_unless_sale_lost(sale, lambda: execute_together(statements, commit=commit))


def _timeline_statement(lead_id: int, steps: Sequence[Step]) -> tuple[str, list]:
    """Return the INSERT of a stored lead's new timeline entries, and its parameters."""
    now = utcnow()
    rows, params = [], []
    for step in steps:
        mark, details = json_param(step.details)
        rows.append(f"(%s, %s, %s, %s, {mark})")
        params += [lead_id, now, step.kind, step.message, details]
    insert = "INSERT INTO lead_event (lead_id, at, kind, message, details) VALUES "
    return insert + ", ".join(rows), params


def _record_on_keys(routed: Routed, lead_ref: str, lead_params: list) -> tuple[str, list]:
    """Return the statement recording the lead (`lead_ref`, an SQL expression, with its
    parameters) on its dedupe keys, and its parameters."""
    hashes = routed.decision.record_keys
    query = _RECORD_ON_KEYS.format(lead=lead_ref, hashes=repeat("%s", len(hashes)))
    return query, [routed.at, *lead_params, routed.tenant_id, *hashes]


def _write_unless_sale_lost(sale: Sale | None, write: Callable[[], object]) -> bool:
    """Run the PostgreSQL write; False if the sale in it lost its race (SL409),
    OverThreshold if its quota had no unit left (SL429)."""
    try:
        write()
    except DatabaseError as error:
        if sale is not None and lost_race(error):
            return False
        if over_threshold(error):
            raise OverThreshold from None
        raise
    return True


def _save_new_lead(
    post: Post, lead: Lead, events: list[tuple], routed: Routed, *, commit: bool = False
) -> bool:
    """Insert a post and its lead, routed, with its timeline (`events`, then the decision's
    steps), dedupe record and sale; end the caller's transaction as `_save_routing` does.

    The lead is inserted with the data its decision's alter stages left (`altered`), in the
    same statement; its data is put back when nothing was written (a decision taken again
    starts from the data received). False if the sale lost its race: the caller must roll
    back (nothing was written).
    """
    received = lead.data
    if routed.decision.altered is not None:
        lead.data = routed.decision.altered
    saved = False
    try:
        saved = _insert_new_lead(post, lead, events, routed, commit=commit)
    finally:
        if not saved:
            lead.data = received
    return saved


def _insert_new_lead(
    post: Post, lead: Lead, events: list[tuple], routed: Routed, *, commit: bool = False
) -> bool:
    """Insert a post and its lead as `_save_new_lead` says; False if the sale lost its race."""
    decision = routed.decision
    for name, value in zip(_ROUTED, routed.values(), strict=True):
        setattr(lead, name, value)
    events = events + [(step.kind, step.message, step.details) for step in decision.steps]
    sale = routed.sale(lead)
    quota = routed.counted()
    if not is_postgresql():
        if quota is not None:
            take_unit(quota)
        insert_submission(post, lead, events)
        if decision.record_keys:
            execute(*_record_on_keys(routed, "%s", [lead.id]))
        deliveries = routed.deliveries("%s", [lead.id])
        if deliveries is not None:
            execute(*deliveries)
        return sale is None or record_sale(replace(sale, lead_id=lead.id)) is not None

    def keys_and_sale(lead_ref: str) -> tuple[list[str], list, str, list]:
        """Return the CTEs recording the new lead on its keys and writing its sale."""
        ctes, params, answer, answer_params = [], [], "NULL", []
        if decision.record_keys:
            query, query_params = _record_on_keys(routed, lead_ref, [])
            ctes.append(f"seen AS ({query})")
            params += query_params
        deliveries = routed.deliveries(lead_ref, [])
        if deliveries is not None:
            ctes.append(f"outbox AS ({deliveries[0]})")
            params += deliveries[1]
        if sale is not None:
            sold, sold_params, answer, answer_params = sale_ctes(sale, lead_ref)
            ctes += sold
            params += sold_params
        if quota is not None:  # checked first: over the threshold, nothing else matters
            quota_cte, quota_params, answer, answer_params = quota_ctes(
                quota, answer, answer_params
            )
            ctes += quota_cte
            params += quota_params
        return ctes, params, answer, answer_params

    def write() -> None:
        insert_submission(post, lead, events, commit=commit, also_write=keys_and_sale)

    return _write_unless_sale_lost(sale, write)
