"""Live routing's timeline: the router's decisions as the lead's timeline entries, and the
terms of the sale when a bid won.

The router (app/pipeline/router.py) reports each decision to a `Timeline` when it routes a
lead live; explaining the lead later reads these entries (app/analysis/explain.py), so they
say what happened then rather than what today's counters say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.domain.money import as_number, to_cents
from app.domain.partners import CallRecord
from app.domain.routing import ALTERED, Offer, Outbound, Posted, Resume, SaleTerms, Step
from app.dsl.ruleset import APPLIED, INVALID, MISSING, DedupeCheck, LeadType, Stage
from app.pipeline.bidding import (
    BUDGET_EXHAUSTED,
    CAP_EXHAUSTED,
    CONDITION_FALSE,
    INACTIVE_CUSTOMER,
    NOT_IN_STAGE,
    ROUND_ROBIN,
    SCHEDULE_CLOSED,
    UNKNOWN_CUSTOMER,
    WALLET_SHORT,
    Candidate,
    FactsLedger,
    StageRouter,
    rank_used_last_win,
)
from app.pipeline.router import Alteration


def why_not(candidate: Candidate, result: str) -> str:
    """Return, in words, why a bid cannot take the lead (a result of app/pipeline/bidding.py)."""
    return _reason(candidate, result)


def _reason(candidate: Candidate, result: str) -> str:
    """Return why a bid was set aside, in words."""
    bid = candidate.bid
    if result == CONDITION_FALSE:
        return "its condition is false"
    if result == NOT_IN_STAGE:
        return "not in this stage's bid list"
    if result == SCHEDULE_CLOSED:
        return "outside its schedule"
    if result == UNKNOWN_CUSTOMER:
        return f"customer {bid.customer} does not exist"
    if result == INACTIVE_CUSTOMER:
        return f"customer {bid.customer} is inactive"
    if result == WALLET_SHORT:
        return f"customer {bid.customer} has insufficient funds"
    if result == CAP_EXHAUSTED and bid.cap is not None:
        return f"cap reached ({bid.cap.limit} per {bid.cap.period})"
    if result == BUDGET_EXHAUSTED and bid.budget is not None:
        return f"budget exhausted ({bid.budget.amount} per {bid.budget.period})"
    raise ValueError(result)


def _entry(candidate: Candidate, result: str, reason: str, **extra: Any) -> dict[str, Any]:
    bid = candidate.bid
    entry = {
        "bid": bid.id,
        "customer": bid.customer,
        "price": str(bid.price),
        "result": result,
        "reason": reason,
    }
    entry.update(extra)
    return entry


def _losers(method: str | None, ranked: list[Candidate]) -> list[dict[str, Any]]:
    """Say why each eligible bid but the winner lost."""
    winner = ranked[0].bid
    out = []
    for candidate in ranked[1:]:
        if method == ROUND_ROBIN:
            reason = f"round robin: {winner.id} won less recently"
            out.append(_entry(candidate, "lost_round_robin", reason, by=winner.id))
        elif candidate.bid.price < winner.price:
            reason = f"outbid by {winner.id} ({winner.price})"
            out.append(_entry(candidate, "outbid", reason, by=winner.id))
        else:
            reason = f"same price as {winner.id}, which won less recently or comes first"
            out.append(_entry(candidate, "lost_tie", reason, by=winner.id))
    return out


class Timeline:
    """The steps of one lead's routing, written as the router decides."""

    #: a stage that calls out stops routing for its calls (False: it is passed, as replayed)
    calls_out = True

    def __init__(self, ledger: FactsLedger) -> None:
        self.ledger = ledger
        self.steps: list[Step] = []
        self.record_keys: tuple[str, ...] = ()
        self.sale: SaleTerms | None = None
        self.altered_data: dict[str, Any] | None = None  # the lead's data once altered
        self.calling: Outbound | None = None  # the calls routing stopped for
        self.sold_to: Posted | None = None  # the partner a post sold the lead to
        self.enriched_by: dict[str, Any] | None = None  # a provider's answer, by its name

    def note(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        """Add a timeline entry."""
        self.steps.append(Step(kind, message, details))

    def classified(self, lead_type: LeadType | None) -> None:
        """Note the lead's type."""
        if lead_type is not None:
            details = {"lead_type": lead_type.id, "fallback": lead_type.fallback}
            self.note("classified", f"Classified as {lead_type.label}.", details)

    def uncategorized(self) -> None:
        """Note that no lead type took the lead."""
        self.note("uncategorized", "No lead type matched and there is no fallback.")

    def audited(self, flagged: tuple[str, ...]) -> None:
        """Note the audits holding the lead."""
        message = "Held for audit: " + "; ".join(flagged) + "."
        self.note("audit", message, {"audits": list(flagged)})

    def duplicate(self, check: DedupeCheck, entry: list[Any]) -> None:
        """Note the check that found the lead a duplicate, and of which lead."""
        original = entry[2]
        message = f"Duplicate ({check.label}) of {original or 'an earlier lead'}."
        self.note("duplicate", message, {"check": check.label, "original": original})

    def recorded(self, entries: list[list[Any]]) -> None:
        """Remember the keys the lead passed: it is recorded on them."""
        self.record_keys = tuple(dict.fromkeys(entry[1] for entry in entries))

    def auction(
        self,
        stage: StageRouter,
        considered: list[Candidate],
        set_aside: list[tuple[Candidate, str]],
        ranked: list[Candidate],
        at: float,
    ) -> None:
        """Note a bidding stage: every bid on the lead's type with its result, the winner's
        sale when one won."""
        decisions = [_entry(c, result, _reason(c, result)) for c, result in set_aside]
        excluded = {
            c.bid.id: decision["reason"]
            for (c, result), decision in zip(set_aside, decisions, strict=True)
            if result not in (CONDITION_FALSE, NOT_IN_STAGE)
        }
        if ranked:
            decisions.append(_entry(ranked[0], "won", "won the lead"))
            decisions.extend(_losers(stage.method, ranked))
        details: dict[str, Any] = {
            "method": stage.method,
            "bids": [c.bid.id for c in considered],
            "excluded": excluded,
            "decisions": decisions,
        }
        if not ranked:
            self.note("bidding", "No bid could take the lead.", details)
            return
        winner = ranked[0]
        bid = winner.bid
        customer = self.ledger.customers[bid.customer]
        facts = self.ledger.facts
        self.sale = SaleTerms(
            customer_id=customer.id,
            bid_id=bid.id,
            price_cents=winner.price,
            periods=tuple(
                sorted(
                    {period: clock.at(at)[2] for _, _, clock, period, _ in winner.limits}.items()
                )
            ),
            cap=None if bid.cap is None else (bid.cap.period, bid.cap.limit),
            budget=None if bid.budget is None else (bid.budget.period, to_cents(bid.budget.amount)),
            last_won=facts.last_won.get(bid.id),
            check_last_won=rank_used_last_win(stage.method, ranked),
        )
        details.update(winner=bid.id, price=as_number(winner.price))
        price = as_number(winner.price)
        message = f"Sold to {customer.slug} through bid {bid.id} for {price:.2f}."
        self.note("assigned", message, details)

    def marketplace(self, price_cents: int) -> None:
        """Note the lead placed in the marketplace, claimable at this price."""
        price = as_number(price_cents)
        message = f"No bid won the lead: placed in the marketplace at {price:.2f}."
        self.note("marketplace", message, {"price": price})

    def altered(self, lines: list[Alteration], lead: Mapping[str, Any]) -> None:
        """Note an alter stage: what changed (field: old -> new) and why each other line
        changed nothing; remember the lead's data as it now is."""
        entries, changed = [], []
        for line, result, before, value in lines:
            entry: dict[str, Any] = {"line": line.line, "field": line.field, "result": result}
            if result == APPLIED:
                entry.update({"from": before, "to": value})
                changed.append(line.field)
            else:
                entry["reason"] = _alter_reason(line.condition, result, value)
            entries.append(entry)
        # The values (personal data) go in the details only, which a deletion erases.
        if changed:
            self.altered_data = {name: value for name, value in lead.items() if name[:1] != "@"}
            message = "Altered " + ", ".join(dict.fromkeys(changed)) + "."
        else:
            message = "Stage alter changed nothing."
        self.note(ALTERED, message, {"lines": entries})

    def skipped(self, kind: str) -> None:
        """Note a stage of a kind not supported yet."""
        self.note("skipped", f"Stage {kind} is not supported yet: skipped.")

    def outbound(self, request: Outbound) -> None:
        """Note the calls a stage makes next (the lead is pending until they answer)."""
        self.calling = request
        who = ", ".join(request.partners)
        if request.phase == "ping":
            message = f"Pinging {who} (timeout {request.timeout_ms} ms)."
        elif request.phase == "enrich":
            message = f"Calling provider {who}."
        elif request.offer is not None:
            price = as_number(request.offer.price_cents)
            message = f"Posting to {who}, whose offer of {price:.2f} is the best."
        else:
            message = f"Posting to {who}, in turn, until one accepts."
        details = {
            "stage": request.stage,
            "kind": request.kind,
            "phase": request.phase,
            "partners": list(request.partners),
        }
        self.note("calling", message, details)

    def enriched(
        self,
        stage: Stage,
        record: CallRecord,
        filled: dict[str, Any],
        before: dict[str, Any],
        data: Mapping[str, Any],
    ) -> None:
        """Note what an enrich stage added (and the values it replaced, `before`: None for
        an empty field); keep the provider's answer and the lead's data."""
        provider = stage.partners[0]
        answer = record.answer
        if record.skipped:
            message = f"Enrichment by {provider} skipped: {record.error}."
        elif answer is None or not answer.accepted:
            why = record.error if answer is None else answer.reason or "no data"
            message = f"Enrichment by {provider} found nothing: {why}."
        elif filled:
            message = f"Enriched by {provider}: " + ", ".join(filled) + "."
        else:
            message = f"Enriched by {provider}: no field of the lead changed."
        if answer is not None and answer.data is not None:
            self.enriched_by = {provider: answer.data}
        if filled:
            self.altered_data = {name: value for name, value in data.items() if name[:1] != "@"}
        details = {"provider": provider, "mode": stage.mode, "filled": filled, "before": before}
        self.note("enriched", message, details)

    def posted(self, record: CallRecord, price_cents: int) -> None:
        """Note the lead sold to a partner by a post."""
        answer = record.answer
        assert answer is not None
        self.sold_to = Posted(record.partner, answer.reference, answer.redirect_url)
        price = as_number(price_cents)
        details = {
            "partner": record.partner,
            "price": price,
            "reference": answer.reference,
            "redirect_url": answer.redirect_url,
        }
        self.note("posted", f"Posted to {record.partner}, accepted at {price:.2f}.", details)

    def not_posted(self, records: Sequence[CallRecord]) -> None:
        """Note that no partner of a post stage took the lead."""
        tried = [record.partner for record in records if record.phase == "post"]
        message = "No partner took the post" + (f" ({', '.join(tried)})." if tried else ".")
        self.note("not_posted", message, {"partners": tried, "reasons": _call_reasons(records)})

    def offers(
        self,
        resume: Resume,
        offers: list[Offer],
        ranked: list[Candidate],
        chosen: Offer | Candidate | None,
    ) -> None:
        """Note a ping_post stage's comparison: every partner's answer and Sluice's own
        bids, best first, with who is chosen and why the others lost."""
        rows: list[dict[str, Any]] = []
        for offer in offers:
            rows.append({"partner": offer.partner, "price": as_number(offer.price_cents)})
        for candidate in ranked:
            rows.append({"bid": candidate.bid.id, "price": as_number(candidate.price)})
        rows.sort(key=lambda row: (-row["price"], "bid" not in row))
        best = rows[0]["price"] if rows else None
        for row in rows:
            own = "bid" in row
            is_chosen = (own and isinstance(chosen, Candidate) and chosen.bid.id == row["bid"]) or (
                not own and isinstance(chosen, Offer) and chosen.partner == row["partner"]
            )
            if is_chosen:
                row["result"] = "chosen"
            elif row["price"] == best:
                row["result"], row["reason"] = "lost", _tie(chosen, own)
            else:
                row["result"] = "lost"
                row["reason"] = f"offered {row['price']:.2f}, below the best {best:.2f}"
        details: dict[str, Any] = {
            "offers": rows,
            "declined": _call_reasons(
                [
                    r
                    for r in resume.records
                    if r.phase == "ping"
                    and (not r.accepted or r.answer is None or r.answer.price_cents is None)
                ]
            ),
            "failed_posts": _call_reasons(
                [r for r in resume.records if r.phase == "post" and not r.accepted]
            ),
        }
        if resume.pinged_ms is not None:
            details["pinged_ms"] = resume.pinged_ms
        if isinstance(chosen, Offer):
            message = f"Best offer: {chosen.partner} at {as_number(chosen.price_cents):.2f}."
        elif isinstance(chosen, Candidate):
            message = (
                f"Sluice's own bid {chosen.bid.id} at {as_number(chosen.price):.2f} beats"
                " every partner's offer."
            )
        else:
            message = "No partner offered and no bid could take the lead."
        self.note("ping_post", message, details)

    def unassigned(self) -> None:
        """Note that no stage took the lead."""
        self.note("unassigned", "No buyer was available.")


def _tie(chosen: Offer | Candidate | None, own: bool) -> str:
    """Say why an offer (or an own bid, `own`) as good as the chosen one lost."""
    if isinstance(chosen, Offer):
        return f"a tie: {chosen.partner} is listed first in the stage"
    if own and isinstance(chosen, Candidate):
        return f"a tie: the auction chose bid {chosen.bid.id}"
    return "a tie: Sluice's own bid is preferred"


def _call_reasons(records: Sequence[CallRecord]) -> dict[str, str]:
    """Return why each call gave no sale, by partner (the last call to each)."""
    reasons = {}
    for record in records:
        answer = record.answer
        if record.accepted:
            if record.phase == "ping" and answer is not None and answer.price_cents is None:
                reasons[record.partner] = "accepted without a price: the partner has no price rule"
            continue
        if answer is None:
            reasons[record.partner] = record.error or "no answer"
        else:
            reasons[record.partner] = answer.reason or "rejected"
    return reasons


def _alter_reason(condition: Any, result: str, value: Any) -> str:
    """Say why a `set` line changed nothing."""
    if result == CONDITION_FALSE:
        return f"its condition is false: {condition.source}"
    if result == MISSING:
        return "its value is missing (it reads a missing field)"
    if result == INVALID:
        return f"its value is not valid for the field: {value}"
    return "the field already has this value"
