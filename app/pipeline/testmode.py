"""Test mode: deterministic outcomes by zip, without wallets, counters or dedupe history."""

from __future__ import annotations

from app.pipeline.outcome import Outcome

#: Test zip -> the status it returns (documented in docs/api.md).
TEST_ZIPS = {
    "00001": "assigned",
    "00002": "unassigned",
    "00003": "duplicate",
    "00004": "marketplace",
    "00005": "audit",
}


def decide_test_lead(zip_code: str | None, outcome: Outcome, test_price_cents: int) -> Outcome:
    """Decide a test lead: a test zip's status, anything else audit; nothing is charged."""
    status = TEST_ZIPS.get((zip_code or "")[:5])
    if status is None:
        outcome.status = "audit"
        outcome.note("test_mode", "Test lead with a non-test zip: held for audit.")
        return outcome
    outcome.status = status
    outcome.price_cents = test_price_cents if status == "assigned" else 0
    outcome.note(
        "test_mode",
        f"Test zip {zip_code[:5]}: simulated {status}; no wallet, cap or dedupe touched.",
        {"zip": zip_code[:5], "status": status},
    )
    return outcome
