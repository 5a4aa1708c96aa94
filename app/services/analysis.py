"""Analysts' use cases over stored leads: the dry-run of proposed rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.analysis.dryrun import SAMPLE_SIZE, dry_run_for_tenant
from app.services.actor import Actor
from app.store.listing import LeadFilter


def dry_run(
    actor: Actor,
    files: Mapping[str, str],
    filters: LeadFilter,
    *,
    baseline: int | None = None,
    source: str | None = None,
    where: str | None = None,
    limit: int | None = None,
    sample_size: int = SAMPLE_SIZE,
    counts_only: bool = False,
    build_projection: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Compare proposed rules with the active (or a stored) version over stored leads.

    Reads only. Invalid rules raise RulesRefused with the diagnostics of `sluice check`.
    """
    actor.require("leads.explain")
    return dry_run_for_tenant(
        actor.acting_tenant(),
        files,
        baseline=baseline,
        filters=filters,
        source=source,
        where=where,
        limit=limit,
        sample_size=sample_size,
        progress=progress,
        counts_only=counts_only,
        build_projection=build_projection,
    )
