"""`sluice delivery list|show|retry` (also `sluice deliveries ...`)."""

from __future__ import annotations

import json

import click

from app.commands.common import emit, json_option, operator, pairs, table, with_database
from app.domain.delivery import DELIVERY_STATUSES, EVENTS
from app.schemas import DeliveryDetailSchema, DeliveryReplaySchema, DeliverySummarySchema
from app.services import deliveries
from app.services.deliveries import DeliveryFilter

DELIVERY_COLUMNS = ["created_at", "id", "event", "status", "attempts", "destination", "lead"]
#: How much of an attempt's answer or error the text output shows on one line.
SHOWN = 160


@click.group("delivery")
def delivery_group() -> None:
    """Deliveries to buyers and webhooks: list, show with attempts, replay dead ones."""


@delivery_group.command("list")
@click.argument("tenant")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), help="dead: the dead letters.")
@click.option("--destination", help="A destination (dst_...) or webhook (whk_...) id.")
@click.option("--customer", help="A customer slug or id (cus_...).")
@click.option("--lead", help="A lead id (lead_...).")
@click.option("--event", type=click.Choice(list(EVENTS)))
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--count", is_flag=True, help="Print how many deliveries match, not them.")
@json_option
@with_database
def list_command(
    tenant, status, destination, customer, lead, event, limit, offset, count, as_json
) -> None:
    """List deliveries, newest first.

    \b
    sluice delivery list acme --status dead
    sluice delivery list acme --lead lead_01j... --json
    """
    actor = operator(tenant)
    filters = DeliveryFilter(
        status=status, destination=destination, customer=customer, lead=lead, event=event
    )
    if count:
        total = deliveries.count_deliveries(actor, filters)
        emit({"count": total}, as_json, str(total))
        return
    found = deliveries.list_deliveries(actor, filters, limit=limit, offset=offset)
    data = DeliverySummarySchema(many=True).dump(found)
    emit(data, as_json, lambda: table(data, DELIVERY_COLUMNS))


def _deliveries(count: int, status: str = "dead") -> str:
    """Return e.g. `1 dead delivery`, `3 dead deliveries`."""
    return f"{count} {status} {'delivery' if count == 1 else 'deliveries'}"


def _line(text: str | None) -> str:
    """Return text on one line, cut to SHOWN characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= SHOWN else flat[: SHOWN - 1] + "…"


def delivery_text(data: dict) -> str:
    """Return a delivery as text: its facts, payload and attempts."""
    head = {k: v for k, v in data.items() if k not in ("payload", "history")}
    lines = [pairs(head), "", "payload:"]
    lines += ["  " + line for line in json.dumps(data["payload"], indent=2).splitlines()]
    lines += ["", "attempts:"]
    for attempt in data["history"]:
        code = attempt["status_code"] if attempt["status_code"] is not None else "-"
        lines.append(
            f"  #{attempt['number']}  {attempt['started_at']}  "
            f"{attempt['duration_ms']:.0f} ms  {attempt['outcome']}  {code}"
        )
        if attempt["error"]:
            lines.append(f"      error: {_line(attempt['error'])}")
        if attempt["answer"]:
            lines.append(f"      answer: {_line(attempt['answer'])}")
    if not data["history"]:
        lines.append("  (none yet)")
    return "\n".join(lines)


@delivery_group.command("show")
@click.argument("tenant")
@click.argument("delivery")
@json_option
@with_database
def show_command(tenant: str, delivery: str, as_json: bool) -> None:
    """Show a delivery: its payload and every attempt (status code, answer, error)."""
    data = DeliveryDetailSchema().dump(deliveries.show_delivery(operator(tenant), delivery))
    emit(data, as_json, lambda: delivery_text(data))


@delivery_group.command("retry")
@click.argument("tenant")
@click.argument("ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Replay every dead delivery.")
@click.option(
    "--destination", help="With --all-dead: only this destination's (dst_...) or webhook's."
)
@json_option
@with_database
def retry_command(
    tenant: str, ids: tuple[str, ...], all_dead: bool, destination: str | None, as_json: bool
) -> None:
    """Replay dead deliveries (a new round of retries, the same webhook-id); a pending one
    named is attempted now.

    \b
    sluice delivery retry acme msg_01j... msg_01k...
    sluice delivery retry acme --all-dead --destination dst_01j...
    """
    done = deliveries.retry_deliveries(
        operator(tenant), list(ids), all_dead=all_dead, destination=destination
    )
    data = DeliveryReplaySchema().dump(done)
    text = f"replayed {_deliveries(len(done.replayed))}"
    if done.rescheduled:
        text += f"; {_deliveries(len(done.rescheduled), 'pending')} to be attempted now"
    emit(data, as_json, text)
