"""Storing what routing decided: the lead's outcome, its timeline, its dedupe keys, the sale.

On PostgreSQL these go in one round trip with the COMMIT (the sale last): the winning
customer's row is locked from the sale's statement to the end of that COMMIT, with no round
trip to this process in between. A new lead (`save_new_lead`) is inserted there with its
post, already routed: one statement writes it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from peewee import DatabaseError

from app.domain.clock import utcnow
from app.store.db import execute, execute_together, is_postgresql, json_param, repeat
from app.store.leads import insert_submission
from app.store.models import Lead, Post
from app.store.sales import Sale, lost_race, record_sale, sale_ctes, sale_statement

_SEEN = "UPDATE dedupe_key SET last_seen_at = %s, lead_id = {lead} WHERE id IN ({ids})"
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
]
_ROUTED_SET = ", ".join(f"{Lead._meta.fields[name].column_name} = %s" for name in _ROUTED)


@dataclass(frozen=True)
class Routed:
    """What routing decided for a lead, as it is stored."""

    status: str
    lead_type: str | None
    version_id: int | None
    price_cents: int
    customer_id: int | None
    bid_id: str | None
    at: datetime
    steps: Sequence[Any]
    seen_keys: Sequence[int] = ()  # dedupe key rows to record the lead on
    sale: Sale | None = None  # written last: it locks the customer's row

    def values(self) -> list:
        """Return the values of the lead's _ROUTED fields."""
        assigned_at = self.at if self.status == "assigned" else None
        return [
            self.status,
            self.lead_type,
            self.version_id,
            self.price_cents,
            self.customer_id,
            self.bid_id,
            self.at,
            assigned_at,
        ]


def save_routing(lead_id: int, routed: Routed, *, commit: bool = False) -> bool:
    """Store the routing and end the caller's transaction; False if the sale lost its race.

    On False the caller must roll back: another routing took the money, the cap or the
    turn the sale was decided on. With `commit` (the caller's transaction was opened outside
    any other), PostgreSQL commits it here, in the same round trip; otherwise, and on
    SQLite, the caller's block commits.
    """
    at, seen_keys, sale = routed.at, routed.seen_keys, routed.sale
    statements = [(f"UPDATE lead SET {_ROUTED_SET} WHERE id = %s", [*routed.values(), lead_id])]
    if routed.steps:
        now = utcnow()
        rows, params = [], []
        for step in routed.steps:
            mark, details = json_param(step.details)
            rows.append(f"(%s, %s, %s, %s, {mark})")
            params += [lead_id, now, step.kind, step.message, details]
        insert = "INSERT INTO lead_event (lead_id, at, kind, message, details) VALUES "
        statements.append((insert + ", ".join(rows), params))
    if seen_keys:
        statements.append(_seen(lead_id, at, seen_keys))
    if not is_postgresql():
        for query, params in statements:
            execute(query, params)
        return sale is None or record_sale(sale) is not None
    if sale is not None:
        statements.append(sale_statement(sale))
    # With its COMMIT when asked: a sale that held commits without a round trip back here,
    # one that lost fails before the COMMIT is reached.
    return _held(sale, lambda: execute_together(statements, commit=commit))


def _seen(lead_id: int, at: datetime, seen_keys: Sequence[int]) -> tuple[str, list]:
    """Return the statement recording the lead on its dedupe key rows, and its parameters."""
    return _SEEN.format(lead="%s", ids=repeat("%s", len(seen_keys))), [at, lead_id, *seen_keys]


def _held(sale: Sale | None, write) -> bool:
    """Run the PostgreSQL write; False if the sale in it lost its race (SL409)."""
    try:
        write()
    except DatabaseError as error:
        if sale is not None and lost_race(error):
            return False
        raise
    return True


def save_new_lead(
    post: Post, lead: Lead, events: list[tuple], routed: Routed, *, commit: bool = False
) -> bool:
    """Insert a post and its lead, routed, with its timeline (`events`, then the routing's
    steps), dedupe record and sale; end the caller's transaction as `save_routing` does.

    False if the sale lost its race: the caller must roll back (nothing was written).
    """
    at, seen_keys, sale = routed.at, routed.seen_keys, routed.sale
    for name, value in zip(_ROUTED, routed.values(), strict=True):
        setattr(lead, name, value)
    events = events + [(step.kind, step.message, step.details) for step in routed.steps]
    if not is_postgresql():
        insert_submission(post, lead, events)
        if seen_keys:
            execute(*_seen(lead.id, at, seen_keys))
        return sale is None or record_sale(replace(sale, lead_id=lead.id)) is not None

    def more(lead_ref: str) -> tuple[list[str], list, str, list]:
        ctes, params, answer, answer_params = [], [], "NULL", []
        if seen_keys:
            ids = repeat("%s", len(seen_keys))
            ctes.append(f"seen AS ({_SEEN.format(lead=lead_ref, ids=ids)})")
            params += [at, *seen_keys]
        if sale is not None:
            sold, sold_params, answer, answer_params = sale_ctes(sale, lead_ref)
            ctes += sold
            params += sold_params
        return ctes, params, answer, answer_params

    return _held(sale, lambda: insert_submission(post, lead, events, commit=commit, more=more))
