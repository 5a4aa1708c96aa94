"""`sluice dry-run` and `sluice explain-lead`: analysts' view of rules over stored leads."""

from __future__ import annotations

import json
import sys

import click

from app.commands.common import operator, parse_moment, with_database
from app.commands.rules_check import render_alter_lines, render_rule_traces
from app.domain.status import STATUS_FILTERS
from app.dsl import check_texts, read_rule_files, read_sources
from app.dsl.diagnostics import format_json, format_report
from app.services import analysis, leads
from app.services.leads import LeadFilter


@click.command("dry-run")
@click.argument("tenant")
@click.argument("rules_path", type=click.Path(exists=True))
@click.option("--baseline", type=int, help="Compare with this stored version (default: active).")
@click.option("--since", help="Leads received at or after (ISO 8601, UTC).")
@click.option("--until", help="Leads received before (ISO 8601, UTC).")
@click.option("--category")
@click.option("--source", help="A source id (src_...) or name.")
@click.option(
    "--status", type=click.Choice(STATUS_FILTERS), help="Only leads stored with this status."
)
@click.option("--where", help="Only leads for which this expression holds.")
@click.option("--limit", type=click.IntRange(1), help="Only the newest N leads of the window.")
@click.option(
    "--sample",
    type=click.IntRange(0, 100),
    default=10,
    show_default=True,
    help="Changed leads shown with their explanations.",
)
@click.option(
    "--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--counts-only",
    is_flag=True,
    help="Only each rule's matches, counted by the database; no replay.",
)
@with_database
def dry_run_command(
    tenant,
    rules_path,
    baseline,
    since,
    until,
    category,
    source,
    status,
    where,
    limit,
    sample,
    output,
    progress,
    counts_only,
) -> None:
    """Show what the rules at RULES_PATH would have done to TENANT's stored leads.

    Nothing is written. The leads are replayed oldest first with both rule sets (dedupe,
    caps and budgets included); the comparison is printed as tables or JSON. With
    --counts-only, only how many leads each rule's condition matches, in about a second.
    """
    texts, diagnostics = read_sources(rules_path)
    if texts:
        diagnostics += check_texts(texts)[1]
    if any(d.is_error for d in diagnostics):  # exactly what `sluice check` says
        if output == "json":
            click.echo(format_json(diagnostics))
        else:
            click.echo(format_report(diagnostics, texts), err=True)
        sys.exit(1)
    actor = operator(tenant)
    filters = LeadFilter(
        status=status, category=category, since=parse_moment(since), until=parse_moment(until)
    )
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress() if show and not counts_only else None
    try:
        report = analysis.dry_run(
            actor,
            read_rule_files(rules_path),
            filters,
            baseline=baseline,
            source=source,
            where=where,
            limit=limit,
            sample_size=sample,
            progress=bar,
            counts_only=counts_only,
        )
    finally:
        if bar is not None:
            bar.close()
    if output == "json":
        click.echo(json.dumps(report, indent=2, default=str))
    elif counts_only:
        click.echo(render_rule_counts(report))
    else:
        click.echo(render_dry_run(report))


class _Progress:
    """A click progress bar on stderr, created once the number of leads is known."""

    def __init__(self) -> None:
        self.bar = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(total, 1), label="leads", file=sys.stderr, show_pos=True, show_eta=True
            )
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _change(before: float, after: float, money: bool = False) -> str:
    delta = after - before
    if not delta:
        return ""
    text = _money(abs(delta)) if money else f"{abs(delta):,}"
    return ("+" if delta > 0 else "-") + text


def _grid(headers: list[str], rows: list[list]) -> list[str]:
    """Return an indented table: text columns aligned left, number columns right."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(_number(row[i]) for row in cells[1:] if row[i] not in ("", "."))
        for i in range(len(headers))
    ]
    lines = []
    for n, row in enumerate(cells):
        line = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  " + "  ".join(line).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _number(text: str) -> bool:
    return text.lstrip("+-").replace(",", "").replace(".", "", 1).isdigit()


def _matrix(changes: list[dict], before: dict, after: dict) -> list[str]:
    """Render old -> new counts as a matrix: rows are before, columns after."""
    names = sorted(set(before) | set(after), key=str)
    cell = {(c["from"], c["to"]): c["leads"] for c in changes}
    rows = []
    for old in names:
        same = before.get(old, 0) - sum(n for (o, _), n in cell.items() if _name(o) == old)
        row = [old]
        for new in names:
            n = same if new == old else cell.get((_raw(old), _raw(new)), 0)
            row.append(n if n else ".")
        row.append(before.get(old, 0))
        rows.append(row)
    rows.append(["after", *[after.get(n, 0) for n in names], ""])
    return _grid(["before \\ after", *names, "before"], rows)


def _name(value) -> str:
    return "(uncategorized)" if value is None else value


def _raw(name: str):
    return None if name == "(uncategorized)" else name


def _rule_rows(rules: list[dict]) -> list[str]:
    return _grid(
        ["rules", "kind", "rule", "matches", "counted by"],
        [
            [
                r["rules"],
                r["kind"],
                r["id"],
                r["matches"] if r.get("exact", True) else f"≤ {r['matches']:,}",
                r["counted_by"],
            ]
            for r in rules
        ]
        or [["(none)", "", "", "", ""]],
    )


def render_rule_counts(report: dict) -> str:
    """Render a counts-only dry-run: each rule's matches."""
    return "\n".join(
        [
            f"matches per rule over {report['leads']:,} leads (raw condition, priority, dedupe, "
            f"caps and budgets aside; baseline version {report['baseline']['version']} vs "
            f"proposed; {report['elapsed_seconds']:.2f} s):",
            *_rule_rows(report["rules"]),
        ]
    )


def render_dry_run(report: dict) -> str:
    """Render a dry-run report as plain-text tables."""
    base = report["baseline"]
    lines = [
        f"dry-run over {report['leads']:,} leads: baseline version {base['version']} vs proposed "
        f"({report['changed']:,} leads change; {report['elapsed_seconds']:.1f} s)",
        "",
        "lead types (rows: baseline, columns: proposed):",
        *_matrix(
            report["lead_types"]["changes"],
            report["lead_types"]["before"],
            report["lead_types"]["after"],
        ),
        "",
        "statuses (rows: baseline, columns: proposed):",
        *_matrix(
            report["statuses"]["changes"], report["statuses"]["before"], report["statuses"]["after"]
        ),
        "",
        f"uncategorized: {report['uncategorized']['before']:,} -> "
        f"{report['uncategorized']['after']:,}",
        "",
        "audits:",
        *_grid(
            ["audit", "before", "after", "gained", "lost"],
            [
                [a["label"], a["before"], a["after"], a["gained"], a["lost"]]
                for a in report["audits"]
            ]
            or [["(none)", "", "", "", ""]],
        ),
        "",
    ]
    dup = report["duplicates"]
    lines += [
        f"duplicates: {dup['before']:,} -> {dup['after']:,} ({dup['became']:,} become "
        f"duplicates, {dup['stopped']:,} stop being duplicates)",
        *_grid(
            ["dedupe check", "before", "after"],
            [[c["label"], c["before"], c["after"]] for c in dup["by_check"]]
            or [["(none)", "", ""]],
        ),
        "",
        "bids (eligible: lead type and condition accept a lead that reaches bidding):",
        *_grid(
            [
                "bid",
                "customer",
                "eligible before",
                "after",
                "won before",
                "after",
                "revenue before",
                "after",
            ],
            [
                [
                    b["id"],
                    b["customer"],
                    b["eligible_before"],
                    b["eligible_after"],
                    b["won_before"],
                    b["won_after"],
                    _money(b["revenue_before"]),
                    _money(b["revenue_after"]),
                ]
                for b in report["bids"]
            ]
            or [["(none)"] + [""] * 7],
        ),
        "",
        "projected revenue:",
        *_grid(
            ["customer", "before", "after", "change"],
            [
                [
                    c["customer"],
                    _money(c["before"]),
                    _money(c["after"]),
                    _change(c["before"], c["after"], money=True),
                ]
                for c in report["revenue"]["customers"]
            ]
            + [
                [
                    "total",
                    _money(report["revenue"]["total"]["before"]),
                    _money(report["revenue"]["total"]["after"]),
                    _change(
                        report["revenue"]["total"]["before"],
                        report["revenue"]["total"]["after"],
                        money=True,
                    ),
                ]
            ],
        ),
        "",
        "matches per rule (raw condition, priority aside):",
        *_rule_rows(report["rules"]),
    ]
    calls = [
        (side, stage)
        for side in ("before", "after")
        for stage in report.get("outbound", {}).get(side, ())
    ]
    if calls:
        lines += ["", "stages that call out (a dry-run never calls them):"]
        for side, stage in calls:
            lines.append(
                f"  {side}: {stage['category']} stage {stage['stage']} {stage['kind']}: "
                f"{stage['note']}, for {stage['leads']:,} lead(s)"
            )
    if report["sample"]:
        lines += ["", f"sample of changed leads ({len(report['sample'])}):"]
        for entry in report["sample"]:
            before, after = entry["before"], entry["after"]
            lines.append(
                f"  {entry['lead']} ({entry['received_at']}): {_outcome(before)} -> "
                f"{_outcome(after)}"
            )
    return "\n".join(lines)


def _outcome(outcome: dict) -> str:
    text = f"{outcome['status']} [{outcome['lead_type'] or '-'}]"
    if outcome["audits"]:
        text += " audits: " + ", ".join(outcome["audits"])
    if outcome["duplicate_of_check"]:
        text += f" ({outcome['duplicate_of_check']})"
    if outcome["bid"]:
        text += f" {outcome['bid']} {outcome['price']:.2f}"
    elif outcome["status"] == "marketplace":
        text += f" at {outcome['price']:.2f}"
    return text


@click.command("explain-lead")
@click.argument("tenant")
@click.argument("lead")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_database
def explain_lead_command(tenant: str, lead: str, as_json: bool) -> None:
    """Explain why a stored lead went where it went."""
    explanation = leads.explain_lead(operator(tenant), lead)
    if as_json:
        click.echo(json.dumps(explanation, indent=2, default=str))
    else:
        click.echo(render_lead_explanation(explanation))


def render_outbound(events: list[dict]) -> list[str]:
    """Render the timeline steps of the stages that called out: each call, then each
    comparison of offers with who won and why the others lost."""
    lines = []
    for event in events:
        if event["kind"] == "calling":
            continue  # the calls that follow say it
        lines.append(f"  {event['message']}")
        details = event.get("details") or {}
        if event["kind"] != "ping_post":
            continue
        for row in details.get("offers", ()):
            who = row["partner"] if "partner" in row else f"{row['bid']} (own bid)"
            why = f": {row['reason']}" if row.get("reason") else ""
            lines.append(f"    {who} {row['price']:.2f}: {row['result']}{why}")
        for partner, why in details.get("declined", {}).items():
            lines.append(f"    {partner}: no offer: {why}")
        for partner, why in details.get("failed_posts", {}).items():
            lines.append(f"    {partner}: its post failed: {why}")
    return lines


def render_lead_explanation(data: dict) -> str:
    """Render a stored lead's explanation as text."""
    rules = data["rule_set"]
    lines = [
        f"lead:      {data['lead']} ({data['status']})",
        f"received:  {data['received_at']}",
        f"category:  {data['category']}",
        f"lead type: {data['lead_type'] or '-'}",
        "rules:     "
        + (f"version {rules['version']} ({rules['content_hash'][:12]})" if rules else "none"),
    ]
    if data.get("note"):
        lines += ["", data["note"]]
    if rules is None:
        return "\n".join(lines)
    lines += ["", "lead types, in the order tried:"]
    lines += render_rule_traces(data)
    lines += ["", "dedupe checks:"]
    for entry in data["dedupe"] or [{"label": "(none)", "key": None, "result": ""}]:
        key = entry["key"] or "(no key: " + entry.get("skipped", "") + ")"
        result = entry.get("result", "")
        if entry.get("original"):
            result += f" of {entry['original']}"
        lines.append(f"  {entry['label']}: {key}  -> {result}")
    for number, stage in enumerate(data.get("alter", ()), 1):
        lines += ["", f"alter stage {number} (as recorded):"]
        lines += render_alter_lines(stage)
    if data.get("outbound"):
        lines += ["", "stages that called out:"]
        lines += render_outbound(data["outbound"])
    lines += ["", "bids:"]
    if not data["bidding"]:
        lines.append("  (no bidding stage ran)")
    for stage in data["bidding"]:
        if stage["method"]:
            lines.append(f"  stage bidding {stage['method']}:")
        for decision in stage["decisions"]:
            price = f", {decision['price']}" if decision.get("price") else ""
            lines.append(
                f"    {decision['bid']} ({decision.get('customer', '?')}{price}): "
                f"{decision['result']}" + (f": {decision['reason']}" if decision["reason"] else "")
            )
    return "\n".join(lines)
