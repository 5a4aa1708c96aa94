"""An audit lead's review: approved (routed on, its audits skipped) or rejected (kept, never
distributed). A review is an entry of the lead's timeline: the timeline is the record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

APPROVED, REJECTED = "approved", "rejected"
#: The timeline entry's kind of each decision.
REVIEW_KINDS: dict[str, str] = {APPROVED: "audit_approved", REJECTED: "audit_rejected"}
#: The longest note a review keeps.
NOTE_CHARS = 500


@dataclass(frozen=True)
class Review:
    """A lead's review: the decision, who took it, when, and the note given."""

    decision: str  # approved | rejected
    by: str
    at: datetime  # naive UTC
    note: str | None
