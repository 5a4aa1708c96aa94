"""`sluice lead list|show|find|export|reprocess|release-withheld|claim|approve|reject|return|
edit|reclassify|delete` (also `sluice leads ...`), `sluice post list|show`."""

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
from app.domain.errors import InvalidError
from app.domain.money import to_cents
from app.domain.reprocess import START_STAGES
from app.domain.review import APPROVED, REJECTED
from app.domain.status import STATUS_FILTERS
from app.schemas import (
    DeletedSchema,
    EditResultSchema,
    JobSchema,
    LeadDetailSchema,
    LeadSummarySchema,
    PostDetailSchema,
    PostSummarySchema,
    ReclassificationSchema,
    ReprocessBreakdownSchema,
    ReviewedSchema,
)
from app.services import (
    deletion,
    editing,
    exports,
    leads,
    marketplace,
    posts,
    reprocess,
    returns,
    review,
    withheld,
)
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
        click.option("--status", type=click.Choice(STATUS_FILTERS)),
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
    reject audits, return, edit, reclassify, delete."""


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
@click.option("--status", type=click.Choice(STATUS_FILTERS))
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
@click.argument("refs", nargs=-1, metavar="[LEAD]...")
@filter_options
@click.option(
    "--from",
    "start",
    type=click.Choice(list(START_STAGES)),
    help="The stage to start at (default: bidding, the whole distribution).",
)
@click.option("--yes", is_flag=True, help="Queue a bulk reprocess without asking.")
@json_option
@with_database
def reprocess_command(
    tenant: str,
    refs: tuple[str, ...],
    status,
    category,
    lead_type,
    source,
    since,
    until,
    test,
    start: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Route leads again with the active rules, from a stage.

    One LEAD and no filter: it is reprocessed now and shown. Several LEADs, or the leads
    the filters select (none named): the breakdown of eligible and ineligible leads is
    printed, then, once confirmed (or with --yes), a background job reprocesses the
    eligible ones; `sluice job show TENANT JOB` follows it.
    """
    test_price_cents = to_cents(settings()["TEST_PRICE"])
    actor = operator(tenant)
    filtered = any(v is not None for v in (status, category, lead_type, source, since, until))
    if len(refs) == 1 and not filtered and test == "false":
        done = leads.reprocess_lead(actor, refs[0], start=start, test_price_cents=test_price_cents)
        data = LeadDetailSchema().dump(done)
        emit(data, as_json, lambda: lead_text(data, tenant))
        return
    chosen: dict = {"start": start}
    if refs:
        chosen["refs"] = list(refs)
    else:
        chosen["filters"] = lead_filter(status, category, lead_type, source, since, until, test)
    breakdown = ReprocessBreakdownSchema().dump(reprocess.plan_reprocess(actor, **chosen))
    if not as_json:
        click.echo(table(breakdown["leads"], ["id", "status", "eligible", "reason"]))
        click.echo(
            f"{breakdown['eligible']} eligible, {breakdown['ineligible']} ineligible"
            f" (from {breakdown['from']})"
        )
    if not breakdown["eligible"]:
        fail("none of these leads can be reprocessed", as_json, breakdown)
    if not yes:
        click.confirm(
            f"Reprocess {breakdown['eligible']} lead(s) from {breakdown['from']}?",
            abort=True,
            err=True,
        )
    job = JobSchema().dump(
        reprocess.start_reprocess(actor, **chosen, test_price_cents=test_price_cents)
    )
    emit(
        {"breakdown": breakdown, "job": job},
        as_json,
        f"Queued job {job['id']}: {job['total']} lead(s); a worker runs it"
        f" (sluice job show {tenant} {job['id']}).",
    )


@lead_group.command("claim")
@click.argument("tenant")
@click.argument("lead")
@click.argument("customer")
@json_option
@with_database
def claim_command(tenant: str, lead: str, customer: str, as_json: bool) -> None:
    """Claim a marketplace LEAD for CUSTOMER: charged its price, assigned, delivered."""
    done = marketplace.claim_lead(operator(tenant), lead, customer_ref=customer)
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


@lead_group.command("return")
@click.argument("tenant")
@click.argument("lead")
@click.option(
    "--reason",
    required=True,
    help="One of the tenant's return reasons (sluice tenant return-reasons TENANT).",
)
@click.option("--note", help="Free text kept with the return.")
@click.option(
    "--override", is_flag=True, help="Return it even outside the customer's return policy."
)
@json_option
@with_database
def return_command(
    tenant: str, lead: str, reason: str, note: str | None, override: bool, as_json: bool
) -> None:
    """Return a sold lead for its buyer: its price is credited to the buyer's wallet and its
    units of the bid's cap and budget are freed; it stays sold, status `returned`."""
    done = returns.return_lead(operator(tenant), lead, reason=reason, note=note, override=override)
    data = LeadDetailSchema().dump(done)
    emit(data, as_json, lambda: lead_text(data, tenant))


def reclassification_text(data: dict) -> str:
    """Return a reclassification as a line: old -> new lead type, or no change."""
    old, new = data["old_lead_type"] or "none", data["new_lead_type"] or "none"
    if not data["changed"]:
        return f"no change: the lead type is {old}"
    verb = "reclassified" if data["applied"] else "would be reclassified"
    return f"{verb}: {old} -> {new}"


def field_changes(assignments: tuple[str, ...]) -> dict[str, str]:
    """Return the changes of FIELD=VALUE arguments (a later one for a field wins)."""
    changes = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{assignment!r} is not FIELD=VALUE", param_hint="CHANGES")
        changes[name.strip()] = value
    return changes


@lead_group.command("edit")
@click.argument("tenant")
@click.argument("lead")
@click.argument("changes", nargs=-1, required=True)
@json_option
@with_database
def edit_command(tenant: str, lead: str, changes: tuple[str, ...], as_json: bool) -> None:
    """Edit an unsold lead's fields, then reclassify it: CHANGES are FIELD=VALUE.

    Values are text, read as a form post's are (`homeowner=yes`, `monthly_bill=180`); an
    empty value (`email=`) removes the field.

    \b
    sluice lead edit acme lead_01j... phone=555-123-9999 city=Miami
    """
    try:
        done = editing.edit_lead(operator(tenant), lead, field_changes(changes))
    except InvalidError as error:
        if as_json or not isinstance(error.details, dict):
            raise
        for name, messages in error.details.items():  # the fields at fault, each on a line
            click.echo(f"error: {name}: {' '.join(messages)}", err=True)
        sys.exit(1)
    data = EditResultSchema().dump(done)

    def text() -> str:
        if not data["changes"]:
            return "no change: the lead holds these values already"
        lines = [f"edited {data['lead']['id']}:"]
        for name, change in data["changes"].items():
            lines.append(f"  {name}: {json.dumps(change['old'])} -> {json.dumps(change['new'])}")
        return "\n".join([*lines, reclassification_text(data["reclassification"])])

    emit(data, as_json, text)


@lead_group.command("reclassify")
@click.argument("tenant")
@click.argument("lead")
@click.option("--apply", is_flag=True, help="Write the new lead type (default: only show it).")
@json_option
@with_database
def reclassify_command(tenant: str, lead: str, apply: bool, as_json: bool) -> None:
    """Classify a lead against the active rules: old -> new lead type, or no change."""
    done = editing.reclassify_lead(operator(tenant), lead, apply=apply)
    data = ReclassificationSchema().dump(done)
    emit(data, as_json, lambda: reclassification_text(data))


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
