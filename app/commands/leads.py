"""`sluice lead list|show|find|export|reprocess|release-withheld|approve|reject|delete` (also
`sluice leads ...`),
`sluice post list|show`."""

from __future__ import annotations

import json
import sys

import click

from app.commands.common import (
    emit,
    fail,
    json_option,
    operator,
    pairs,
    parse_moment,
    settings,
    table,
    with_database,
)
from app.domain.money import to_cents
from app.domain.review import APPROVED, REJECTED
from app.domain.status import STATUSES
from app.schemas import (
    DeletedSchema,
    LeadDetailSchema,
    LeadSummarySchema,
    PostDetailSchema,
    PostSummarySchema,
    ReviewedSchema,
)
from app.services import deletion, exports, leads, posts, review, withheld
from app.services.exports import EXPORT_FIELDS
from app.services.leads import TEST_LEADS, LeadFilter
from app.services.posts import POST_STATUSES
from app.store.rules import RulesRefused

LEAD_COLUMNS = [
    "received_at",
    "id",
    "status",
    "lead_type",
    "price",
    "customer",
    "is_test",
    "deleted",
]
test_option = click.option(
    "--test",
    type=click.Choice(list(TEST_LEADS)),
    default="false",
    show_default=True,
    help="Test leads: hidden, only them, or both.",
)


def filter_options(command):
    """Add the leads list's filters to a command (its parameters as `lead_filter` takes them)."""
    options = [
        click.option("--status", type=click.Choice(STATUSES)),
        click.option("--category"),
        click.option("--lead-type"),
        click.option("--source", help="A source id (src_...)."),
        click.option("--since", help="Received at or after (ISO 8601, UTC)."),
        click.option("--until", help="Received before (ISO 8601, UTC)."),
        test_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def lead_filter(status, category, lead_type, source, since, until, test) -> LeadFilter:
    """Return the filter the options of `filter_options` give."""
    return LeadFilter(
        status=status,
        category=category,
        lead_type=lead_type,
        source=source,
        since=parse_moment(since),
        until=parse_moment(until),
        test=TEST_LEADS[test],
    )


@click.group("lead")
def lead_group() -> None:
    """Leads: list, show, find (by rule expression), export (CSV), reprocess, approve or
    reject audits, delete."""


@lead_group.command("list")
@click.argument("tenant")
@filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@json_option
@with_database
def list_command(
    tenant, status, category, lead_type, source, since, until, test, limit, offset, as_json
):
    """List leads, newest first."""
    filters = lead_filter(status, category, lead_type, source, since, until, test)
    found = leads.list_leads(operator(tenant), filters, limit=limit, offset=offset)
    data = LeadSummarySchema(many=True).dump(found)
    emit(data, as_json, lambda: table(data, LEAD_COLUMNS))


@lead_group.command("find")
@click.argument("tenant")
@click.argument("expression")
@click.option("--category", help="The leads' category (default: the rule set's only one).")
@click.option("--version", type=int, help="Type fields by this rule set version (default: active).")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--since", help="Received at or after (ISO 8601, UTC).")
@click.option("--until", help="Received before (ISO 8601, UTC).")
@test_option
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--count", is_flag=True, help="Print how many leads match, not the leads.")
@click.option("--sql", "show_sql", is_flag=True, help="Print the WHERE clause and parameters.")
@json_option
@with_database
def find_command(
    tenant,
    expression,
    category,
    version,
    status,
    since,
    until,
    test,
    limit,
    count,
    show_sql,
    as_json,
) -> None:
    """List stored leads for which a rules EXPRESSION holds, newest first (through SQL).

    \b
    sluice leads find acme 'state == "CA" and monthly_bill >= 200'
    sluice leads find acme 'email is missing' --count
    """
    actor = operator(tenant)
    filters = LeadFilter(
        status=status,
        category=category,
        since=parse_moment(since),
        until=parse_moment(until),
        test=TEST_LEADS[test],
    )
    try:
        if show_sql:
            data = leads.rule_sql(actor, expression, category=category, version=version)
            text = f"{data['sql']}\nparams: {data['params']}\nexact: {data['exact']}"
            emit(data, as_json, text)
            return
        if count:
            total = leads.count_leads_by_rule(actor, expression, filters, version=version)
            emit({"count": total}, as_json, str(total))
            return
        found = leads.find_leads_by_rule(actor, expression, filters, version=version, limit=limit)
    except RulesRefused as error:
        if as_json:
            fail("the expression has errors", True, {"diagnostics": error.details})
        click.echo(error.message.split("\n", 1)[1], err=True)  # the report, as `sluice check`
        sys.exit(1)
    data = LeadSummarySchema(many=True).dump(found)
    emit(data, as_json, lambda: table(data, LEAD_COLUMNS))


@lead_group.command("export")
@click.argument("tenant")
@filter_options
@click.option("--where", help="Only leads for which this rules expression holds.")
@click.option(
    "--fields",
    type=click.Choice(EXPORT_FIELDS),
    default="all",
    show_default=True,
    help="Every field, or the deliverable ones only (what a buyer sees).",
)
@click.option(
    "-o", "--output", "path", type=click.Path(dir_okay=False), help="Write to FILE, not stdout."
)
@with_database
def export_command(
    tenant, status, category, lead_type, source, since, until, test, where, fields, path
) -> None:
    """Write the leads as CSV, newest first, as they are read (any number of leads).

    \b
    sluice leads export acme --since 2026-11-01 > leads.csv
    sluice leads export acme --where 'state == "CA"' -o california.csv
    """
    filters = lead_filter(status, category, lead_type, source, since, until, test)
    try:
        export = exports.export_leads(operator(tenant), filters, where=where, fields=fields)
    except RulesRefused as error:
        click.echo(error.message.split("\n", 1)[1], err=True)  # the report, as `sluice check`
        sys.exit(1)
    if path is None:
        for text in export.csv():
            click.echo(text, nl=False)
        return
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.writelines(export.csv())
    click.echo(f"wrote {path}", err=True)


def lead_text(data: dict, tenant: str) -> str:
    """Return a lead's detail as text: metadata, data, timeline, deliveries."""
    head = {k: v for k, v in data.items() if k not in ("data", "timeline", "deliveries")}
    lines = [pairs(head), "", "data:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in data["data"].items()]
    if data.get("deleted"):
        lines.append(f"  (erased: the lead was deleted at {data['deleted_at']})")
    lines += ["", "timeline:"]
    for entry in data["timeline"]:
        lines.append(f"  {entry['at']}  {entry['kind']}: {entry['message']}")
        details = entry.get("details") or {}
        if isinstance(details, dict) and details.get("delivery"):  # its attempts
            shown = f"sluice delivery show {tenant} {details['delivery']}"
            lines.append(f"      see {shown}, {details.get('url')}")
    if data.get("deliveries"):
        lines += ["", "deliveries:"]
        rows = [{**d, "last_error": (d["last_error"] or "")[:60]} for d in data["deliveries"]]
        columns = ["id", "destination", "event", "status", "attempts", "last_error"]
        lines += ["  " + line for line in table(rows, columns).splitlines()]
    return "\n".join(lines)


@lead_group.command("show")
@click.argument("tenant")
@click.argument("lead")
@json_option
@with_database
def show_command(tenant: str, lead: str, as_json: bool) -> None:
    """Show a lead: data, metadata, timeline, rule set version."""
    data = LeadDetailSchema().dump(leads.show_lead(operator(tenant), lead))
    emit(data, as_json, lambda: lead_text(data, tenant))


@lead_group.command("reprocess")
@click.argument("tenant")
@click.argument("lead")
@json_option
@with_database
def reprocess_command(tenant: str, lead: str, as_json: bool) -> None:
    """Route a pending, unassigned, uncategorized or errored lead again."""
    test_price_cents = to_cents(settings()["TEST_PRICE"])
    done = leads.reprocess_lead(operator(tenant), lead, test_price_cents=test_price_cents)
    data = LeadDetailSchema().dump(done)
    emit(data, as_json, lambda: lead_text(data, tenant))


@lead_group.command("release-withheld")
@click.argument("tenant")
@json_option
@with_database
def release_withheld_command(tenant: str, as_json: bool) -> None:
    """Route the tenant's withheld leads that fit its threshold now, oldest first."""
    actor = operator(tenant)
    released = withheld.release_withheld(actor)
    usage = withheld.month_usage(actor)
    data = {"released": released, "withheld": usage.withheld}
    emit(data, as_json, pairs({"released": released, "still withheld": usage.withheld}))


def review_command(decision: str):
    """Return `sluice lead approve|reject`, one command per decision."""
    verb = "approve" if decision == APPROVED else "reject"

    @click.argument("tenant")
    @click.argument("leads", nargs=-1, required=True)
    @click.option(
        "--note",
        required=decision == REJECTED,
        help="Why: required to reject, kept on each lead's timeline.",
    )
    @json_option
    @with_database
    def command(tenant: str, leads: tuple[str, ...], note: str | None, as_json: bool) -> None:
        done = review.review_leads(operator(tenant), decision, leads, note=note)
        data = ReviewedSchema(many=True).dump(done)
        emit(data, as_json, lambda: table(data, ["id", "status", "error"]))
        if any(row["error"] for row in data):
            sys.exit(1)

    command.__doc__ = (
        "Approve leads held for audit: each is routed on, its audits skipped."
        if decision == APPROVED
        else "Reject leads held for audit: they stay `audit`, never distributed."
    )
    return lead_group.command(verb)(command)


review_command(APPROVED)
review_command(REJECTED)


@lead_group.command("delete")
@click.argument("tenant")
@click.argument("leads", nargs=-1, required=True)
@json_option
@with_database
def delete_command(tenant: str, leads: tuple[str, ...], as_json: bool) -> None:
    """Delete leads: their personal data is erased, their status and history kept.

    All are looked up first: an unknown id deletes none. Deleting a lead again changes
    nothing.
    """
    done = deletion.delete_leads(operator(tenant), leads)
    data = DeletedSchema(many=True).dump(done)
    emit(data, as_json, lambda: table(data, ["id", "deleted_at", "already"]))


@click.group("post")
def post_group() -> None:
    """Posts: every submission to the intake API, accepted or rejected."""


@post_group.command("list")
@click.argument("tenant")
@click.option("--source", help="A source id (src_...).")
@click.option("--status", type=click.Choice(list(POST_STATUSES)))
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@json_option
@with_database
def post_list_command(
    tenant: str, source: str | None, status: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """List posts, newest first."""
    found = posts.list_posts(
        operator(tenant), source=source, status=status, limit=limit, offset=offset
    )
    data = PostSummarySchema(many=True).dump(found)
    rows = [{**row, "lead": row["lead_public_id"]} for row in data]
    columns = ["date", "source", "status", "status_code", "lead", "id"]
    emit(data, as_json, lambda: table(rows, columns))


@post_group.command("show")
@click.argument("tenant")
@click.argument("post")
@json_option
@with_database
def post_show_command(tenant: str, post: str, as_json: bool) -> None:
    """Show a post: payload, headers, validation errors, lead."""
    data = PostDetailSchema().dump(posts.show_post(operator(tenant), post))
    emit(data, as_json, lambda: json.dumps(data, indent=2))
