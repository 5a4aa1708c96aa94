"""`sluice lead list|show|find|reprocess` (also `sluice leads ...`), `sluice post list|show`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click
from flask import current_app

from app.api.schemas import (
    LeadDetailSchema,
    LeadSummarySchema,
    PostDetailSchema,
    PostSummarySchema,
)
from app.commands.common import emit, fail, json_option, pairs, table, with_app
from app.domain.clock import naive
from app.domain.money import to_cents
from app.domain.status import REPROCESSABLE, STATUSES
from app.services.routing import reprocess_lead
from app.store.leads import get_lead, lead_events
from app.store.listing import LeadFilter, get_post, list_leads, list_posts
from app.store.rules import active_ruleset
from app.store.tenants import find_tenant


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or datetime") from None
    return naive(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@click.group("lead")
def lead_group() -> None:
    """Leads: list, show, find (by rule expression), reprocess."""


@lead_group.command("list")
@click.argument("tenant")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--category")
@click.option("--lead-type")
@click.option("--source", help="A source id (src_...).")
@click.option("--since", help="Received at or after (ISO 8601, UTC).")
@click.option("--until", help="Received before (ISO 8601, UTC).")
@click.option(
    "--test",
    type=click.Choice(["false", "true", "all"]),
    default="false",
    show_default=True,
    help="Test leads: hidden, only them, or both.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@with_app
def list_command(tenant, status, category, lead_type, source, since, until, test, limit, as_json):
    """List leads, newest first."""
    filters = LeadFilter(
        status=status,
        category=category,
        lead_type=lead_type,
        source=source,
        since=_moment(since),
        until=_moment(until),
        test={"false": False, "true": True, "all": None}[test],
    )
    data = LeadSummarySchema(many=True).dump(list_leads(find_tenant(tenant), filters, limit))
    columns = ["received_at", "id", "status", "lead_type", "price", "customer", "is_test"]
    emit(data, as_json, lambda: table(data, columns))


@lead_group.command("find")
@click.argument("tenant")
@click.argument("expression")
@click.option("--category", help="The leads' category (default: the rule set's only one).")
@click.option("--version", type=int, help="Type fields by this rule set version (default: active).")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--since", help="Received at or after (ISO 8601, UTC).")
@click.option("--until", help="Received before (ISO 8601, UTC).")
@click.option(
    "--test",
    type=click.Choice(["false", "true", "all"]),
    default="false",
    show_default=True,
    help="Test leads: hidden, only them, or both.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--count", is_flag=True, help="Print how many leads match, not the leads.")
@click.option("--sql", "show_sql", is_flag=True, help="Print the WHERE clause and parameters.")
@json_option
@with_app
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
    from app.analysis import leadsql
    from app.analysis.find import (
        compile_expression,
        condition_fields,
        count_leads,
        find_leads,
        types_of,
    )
    from app.store.rules import RulesRefused

    owner = find_tenant(tenant)
    filters = LeadFilter(
        status=status,
        since=_moment(since),
        until=_moment(until),
        test={"false": False, "true": True, "all": None}[test],
    )
    try:
        if show_sql:
            name, fields = condition_fields(owner, category, version)
            node, _ = compile_expression(expression, fields)
            where = leadsql.where_sql(node, types_of(fields), leadsql.dialect())
            data = {"sql": where.sql, "params": list(where.params), "exact": where.exact}
            emit(
                data,
                as_json,
                lambda: f"{where.sql}\nparams: {list(where.params)}\nexact: {where.exact}",
            )
            return
        if count:
            total = count_leads(
                owner, expression, category=category, filters=filters, version=version
            )
            emit({"count": total}, as_json, str(total))
            return
        found, _ = find_leads(
            owner, expression, category=category, filters=filters, limit=limit, version=version
        )
    except RulesRefused as error:
        if as_json:
            fail("the expression has errors", True, {"diagnostics": error.details})
        click.echo(error.message.split("\n", 1)[1], err=True)
        sys.exit(1)
    data = LeadSummarySchema(many=True).dump(found)
    columns = ["received_at", "id", "status", "lead_type", "price", "customer", "is_test"]
    emit(data, as_json, lambda: table(data, columns))


def _detail(lead) -> dict:
    lead.timeline = lead_events(lead)
    return LeadDetailSchema().dump(lead)


def _detail_text(data: dict) -> str:
    head = {k: v for k, v in data.items() if k not in ("data", "timeline")}
    lines = [pairs(head), "", "data:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in data["data"].items()]
    lines += ["", "timeline:"]
    lines += [f"  {e['at']}  {e['kind']}: {e['message']}" for e in data["timeline"]]
    return "\n".join(lines)


@lead_group.command("show")
@click.argument("tenant")
@click.argument("lead")
@json_option
@with_app
def show_command(tenant: str, lead: str, as_json: bool) -> None:
    """Show a lead: data, metadata, timeline, rule set version."""
    found = get_lead(find_tenant(tenant), lead)
    if found is None:
        fail(f"no lead {lead!r}", as_json)
    data = _detail(found)
    emit(data, as_json, lambda: _detail_text(data))


@lead_group.command("reprocess")
@click.argument("tenant")
@click.argument("lead")
@json_option
@with_app
def reprocess_command(tenant: str, lead: str, as_json: bool) -> None:
    """Route a pending, unassigned, uncategorized or errored lead again."""
    owner = find_tenant(tenant)
    found = get_lead(owner, lead)
    if found is None:
        fail(f"no lead {lead!r}", as_json)
    if found.status not in REPROCESSABLE:
        fail(f"a lead that is {found.status} cannot be reprocessed", as_json)
    version, ruleset = active_ruleset(owner)
    if ruleset is None or found.category not in ruleset.categories:
        fail(f"category {found.category!r} has no active rules", as_json)
    reprocess_lead(
        found,
        version,
        ruleset,
        test_price_cents=to_cents(current_app.config["TEST_PRICE"]),
        statuses=REPROCESSABLE,
    )
    data = _detail(get_lead(owner, lead))
    emit(data, as_json, lambda: _detail_text(data))


@click.group("post")
def post_group() -> None:
    """Posts: every submission to the intake API, accepted or rejected."""


@post_group.command("list")
@click.argument("tenant")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@with_app
def post_list_command(tenant: str, limit: int, as_json: bool) -> None:
    """List posts, newest first."""
    rows = list_posts(find_tenant(tenant), limit)
    for post, lead in rows:
        post.lead = lead
    data = PostSummarySchema(many=True).dump([post for post, _ in rows])
    columns = ["date", "source", "status", "status_code", "lead", "id"]
    emit(data, as_json, lambda: table(data, columns))


@post_group.command("show")
@click.argument("tenant")
@click.argument("post")
@json_option
@with_app
def post_show_command(tenant: str, post: str, as_json: bool) -> None:
    """Show a post: payload, headers, validation errors, lead."""
    found = get_post(find_tenant(tenant), post)
    if found is None:
        fail(f"no post {post!r}", as_json)
    row, lead = found
    row.lead = lead
    data = PostDetailSchema().dump(row)
    emit(data, as_json, lambda: json.dumps(data, indent=2))
