"""Reprocessing: where a lead may start again, and whether it may (one rule for one lead and
for many)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.partners import IN_FLIGHT
from app.domain.status import REPROCESSABLE, Status

#: Where a reprocess may start -> the kind of plan stage it starts at (None: the whole
#: distribution from the beginning). A stage that calls out calls its partners again.
START_STAGES: dict[str, str | None] = {
    "bidding": None,
    "enrich": "enrich",
    "ping_post": "ping_post",
    "post": "post",
    "marketplace": "marketplace",
}
#: The choice when none is given.
DEFAULT_START = "bidding"

#: Why a lead whose category has no active rules cannot be reprocessed.
NO_RULES = "its category has no active rules"

#: Job states: waiting for a worker, being worked on, finished.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
JOB_STATUSES = (QUEUED, RUNNING, DONE, FAILED)


@dataclass(frozen=True)
class Eligibility:
    """Whether a lead may be reprocessed now and, if not, why."""

    eligible: bool
    reason: str | None = None
    #: the audits are skipped: its audit review approved it
    approved: bool = False


def start_index(stage_kinds: Sequence[str], start: str) -> int | None:
    """Return the index of the plan stage a reprocess from `start` begins at (0 from the
    beginning), or None when the plan has no stage of that kind."""
    kind = START_STAGES[start]
    if kind is None:
        return 0
    for index, stage_kind in enumerate(stage_kinds):
        if stage_kind == kind:
            return index
    return None


def eligibility(
    status: str,
    *,
    deleted: bool,
    review: str | None,
    stage_kinds: Sequence[str] | None,
    start: str = DEFAULT_START,
    calling: bool = False,
) -> Eligibility:
    """Tell whether a lead may be reprocessed from `start`, and why not.

    `review` is its audit review's decision (approved, rejected, None: never reviewed);
    `stage_kinds` its category's plan stages in the active rules (None: no active rules for
    its category). Unassigned, uncategorized, pending and distribution_error leads may be;
    so may a lead held for audit whose review approved it; never a deleted or rejected one,
    nor one whose plan is `calling` partners for it (app/domain/partners.py).
    """
    if deleted:
        return Eligibility(False, "it was deleted")
    if calling:
        return Eligibility(False, IN_FLIGHT)
    if review == "rejected":
        return Eligibility(False, "its audit review rejected it: never distributed")
    approved = review == "approved"
    if status == Status.AUDIT and not approved:
        return Eligibility(False, "held for audit: approve or reject it")
    if status not in REPROCESSABLE and status != Status.AUDIT:
        return Eligibility(
            False,
            f"{status}: only unassigned, uncategorized, pending and distribution_error leads"
            " (and approved audits) can be reprocessed",
        )
    if stage_kinds is None:
        return Eligibility(False, NO_RULES)
    if start_index(stage_kinds, start) is None:
        return Eligibility(False, f"its plan has no {START_STAGES[start]} stage")
    return Eligibility(True, approved=approved)
