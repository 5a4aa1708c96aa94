"""Composing SQL fragments: what the lead queries (leadsql) and the projection both need."""

from __future__ import annotations

from collections.abc import Sequence

from app.dsl.sql import Sql


def join(parts: Sequence[Sql], separator: str) -> Sql:
    """Join SQL pieces and their parameters."""
    return Sql(separator.join(p.text for p in parts), tuple(v for p in parts for v in p.params))
