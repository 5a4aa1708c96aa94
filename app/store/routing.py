"""Storing what routing decided: the lead's outcome, its timeline, its dedupe keys, the sale.

On PostgreSQL the four go in one round trip with the COMMIT (statements joined in one
query string, the sale last): the winning customer's row is locked from the sale's
statement to the end of that COMMIT, with no round trip to this process in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from peewee import DatabaseError

from app.store.clock import utcnow
from app.store.db import execute, execute_together, is_postgresql, json_param, repeat
from app.store.sales import Sale, lost_race, record_sale, sale_statement


def save_routing(
    lead_id: int,
    *,
    status: str,
    lead_type: str | None,
    version_id: int | None,
    price_cents: int,
    customer_id: int | None,
    bid_id: str | None,
    at: datetime,
    steps: Sequence[Any],
    seen_keys: Sequence[int] = (),
    sale: Sale | None = None,
    commit: bool = False,
) -> bool:
    """Store the routing and end the caller's transaction; False if the sale lost its race.

    On False the caller must roll back: another routing took the money, the cap or the
    turn the sale was decided on. With `commit` (the caller's transaction was opened outside
    any other), PostgreSQL commits it here, in the same round trip; otherwise, and on
    SQLite, the caller's block commits.
    """
    statements = [
        (
            "UPDATE lead SET status = %s, lead_type = %s, rule_version_id = %s,"
            " price_cents = %s, customer_id = %s, bid_id = %s, updated_at = %s,"
            " assigned_at = %s WHERE id = %s",
            [
                status,
                lead_type,
                version_id,
                price_cents,
                customer_id,
                bid_id,
                at,
                at if status == "assigned" else None,
                lead_id,
            ],
        )  # fmt: skip
    ]
    if steps:
        now = utcnow()
        rows, params = [], []
        for step in steps:
            mark, details = json_param(step.details)
            rows.append(f"(%s, %s, %s, %s, {mark})")
            params += [lead_id, now, step.kind, step.message, details]
        insert = "INSERT INTO lead_event (lead_id, at, kind, message, details) VALUES "
        statements.append((insert + ", ".join(rows), params))
    if seen_keys:
        marks = repeat("%s", len(seen_keys))
        statements.append(
            (
                f"UPDATE dedupe_key SET last_seen_at = %s, lead_id = %s WHERE id IN ({marks})",
                [at, lead_id, *seen_keys],
            )
        )
    if not is_postgresql():
        for query, params in statements:
            execute(query, params)
        return sale is None or record_sale(sale) is not None
    if sale is not None:
        statements.append(sale_statement(sale))
    try:
        # With its COMMIT when asked: a sale that held commits without a round trip back
        # here, one that lost fails before the COMMIT is reached.
        execute_together(statements, commit=commit)
    except DatabaseError as error:
        if sale is not None and lost_race(error):
            return False
        raise
    return True
