"""Test mode: deterministic outcomes by zip, without wallets, counters or dedupe history."""

from __future__ import annotations

from app.domain.routing import Decision, Step
from app.domain.status import Status

#: Test zip -> the status it returns (documented in docs/api.md).
TEST_ZIPS = {
    "00001": Status.ASSIGNED,
    "00002": Status.UNASSIGNED,
    "00003": Status.DUPLICATE,
    "00004": Status.MARKETPLACE,
    "00005": Status.AUDIT,
}


def decide_test_lead(
    zip_code: str | None, lead_type: str | None, steps: list[Step], test_price_cents: int
) -> Decision:
    """Decide a test lead: a test zip's status, anything else audit; nothing is charged."""
    code = (zip_code or "")[:5]
    status = TEST_ZIPS.get(code)
    if status is None:
        step = Step("test_mode", "Test lead with a non-test zip: held for audit.")
        return Decision(Status.AUDIT, lead_type, steps=(*steps, step))
    message = f"Test zip {code}: simulated {status}; no wallet, cap or dedupe touched."
    step = Step("test_mode", message, {"zip": code, "status": status})
    price = test_price_cents if status == Status.ASSIGNED else 0
    return Decision(status, lead_type, price, steps=(*steps, step))
