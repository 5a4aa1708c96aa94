"""What routing decided for a lead, and the timeline entries that explain it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    """One timeline entry: what a stage decided and why."""

    kind: str
    message: str
    details: dict[str, Any] | None = None


@dataclass
class Outcome:
    status: str = "pending"
    lead_type: str | None = None
    price_cents: int = 0
    customer: Any = None  # the winning Customer row
    bid_id: str | None = None
    sale: Any = None  # the app.store.sales.Sale to write when a bid won
    seen_keys: list[int] = field(default_factory=list)  # dedupe key rows to record it on
    steps: list[Step] = field(default_factory=list)

    def note(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        """Add a timeline entry."""
        self.steps.append(Step(kind, message, details))
