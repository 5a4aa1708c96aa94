"""Storing what routing decided: the lead's outcome, its timeline, its dedupe keys, the sale.

On PostgreSQL the four go in one round trip (statements joined in one query string, the
sale last, so the winning customer's row stays locked only until the COMMIT that follows).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.store.clock import utcnow
from app.store.db import database, execute, is_postgresql, json_param
from app.store.sales import Sale, record_sale, sale_result, sale_statement


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
) -> bool:
    """Store the routing inside the caller's transaction; False if the sale lost its race.

    On False the caller must roll back: another routing took the money, the cap or the
    turn the sale was decided on.
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
        marks = ", ".join(["%s"] * len(seen_keys))
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
    query = "; ".join(query for query, _ in statements)
    cursor = database.execute_sql(query, [p for _, params in statements for p in params])
    return sale is None or sale_result(sale, cursor.fetchone()) is not None
