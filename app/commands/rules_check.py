"""`sluice check` and `sluice explain`: the rules language on the command line."""

from __future__ import annotations

import json
import sys

import click

from app.dsl import RulesError, check_texts, compile_rules, read_sources
from app.dsl.diagnostics import format_json, format_report
from app.dsl.fieldtypes import is_blank, normalize_value


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json: machine-readable diagnostics for editors and CI.",
)
def check_command(paths: tuple[str, ...], output: str) -> None:
    """Check rule files or directories; exit 1 on any error."""
    texts, diagnostics = read_sources(paths)
    if texts:
        diagnostics += check_texts(texts)[1]
    if output == "json":
        click.echo(format_json(diagnostics))
    else:
        click.echo(format_report(diagnostics, texts), err=bool(diagnostics))
    sys.exit(1 if any(d.is_error for d in diagnostics) else 0)


@click.command("explain")
@click.argument("rules_path", type=click.Path(exists=True))
@click.argument("lead_file", type=click.File("r"))
@click.option(
    "--category", help="The lead's category (default: the lead's @category, or the only one)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain_command(rules_path: str, lead_file, category: str | None, as_json: bool) -> None:
    """Explain which lead type, audits, dedupe keys and bids a lead gets, and why."""
    try:
        ruleset = compile_rules(rules_path)
    except RulesError as error:
        click.echo(error.report(), err=True)
        sys.exit(1)
    try:
        lead = json.load(lead_file)
    except ValueError as error:
        raise click.ClickException(f"{lead_file.name}: not valid JSON: {error}") from None
    if not isinstance(lead, dict):
        raise click.ClickException(f"{lead_file.name}: a lead is a JSON object")
    try:
        category = ruleset.category_of(lead, category)
    except (KeyError, ValueError) as error:
        raise click.ClickException(error.args[0]) from None
    lead, problems = normalize_lead(ruleset, lead, category)
    for name, message in problems.items():
        click.echo(f"warning: field '{name}' is left out: {message}", err=True)
    explanation = ruleset.explain(lead, category)
    if as_json:
        click.echo(json.dumps(explanation, indent=2, default=str))
    else:
        click.echo(render_explanation(explanation))


def normalize_lead(ruleset, lead: dict, category: str) -> tuple[dict, dict[str, str]]:
    """Normalize declared fields as the service does; return the lead and invalid fields."""
    declared = ruleset.categories[category].field_map
    normalized, problems = {}, {}
    for name, value in lead.items():
        field = declared.get(name)
        if field is None or is_blank(value):
            if not is_blank(value):
                normalized[name] = value
            continue
        try:
            normalized[name] = normalize_value(field.type, value, field.choices)
        except ValueError as error:
            problems[name] = str(error)
    return normalized, problems


def _clauses(trace: dict | None, depth: int = 2) -> list[str]:
    if not trace:
        return []
    mark = "✓" if trace["value"] else "✗"
    values = trace.get("values")
    shown = ""
    if values and "clauses" not in trace:
        shown = (
            "   ("
            + ", ".join(f"{k} = {json.dumps(v, default=str)}" for k, v in values.items())
            + ")"
        )
    lines = ["  " * depth + f"{mark} {trace['clause']}{shown}"]
    for child in trace.get("clauses", ()):
        lines += _clauses(child, depth + 1)
    return lines


def render_rule_traces(explanation: dict) -> list[str]:
    """Render the lead types tried and the audits of an explanation, ✓/✗ per clause."""
    lines = []
    for entry in explanation["lead_types"]:
        state = "chosen" if entry["chosen"] else ("matched" if entry["matched"] else "no match")
        if not entry["tried"]:
            state += ", not tried"
        kind = "fallback" if entry["fallback"] else f"priority {entry['priority']}"
        lines.append(f"  {entry['id']} [{kind}]: {state}")
        lines += _clauses(entry.get("condition"))
    lines += ["", "audits:"]
    for entry in explanation["audits"] or [{"label": "(none)", "matched": False}]:
        lines.append(f"  {'HOLD' if entry['matched'] else 'pass'}  {entry['label']}")
        lines += _clauses(entry.get("condition")) if entry["matched"] else []
    return lines


def render_explanation(explanation: dict) -> str:
    """Render an explanation as indented text with ✓/✗ per clause."""
    chosen = explanation["lead_type"]
    chosen_text = f"{chosen['id']} ({chosen['label']})" if chosen else "none -> uncategorized"
    lines = [
        f"category:  {explanation['category']}",
        f"lead type: {chosen_text}",
        "",
        "lead types, in the order tried:",
    ]
    lines += render_rule_traces(explanation)
    lines += ["", "dedupe keys:"]
    for entry in explanation["dedupe"]:
        lines.append(f"  {entry['label']}: {entry['key'] or '(skipped: ' + entry['skipped'] + ')'}")
    lines += ["", "bids:"]
    for entry in explanation["bids"]:
        verdict = "eligible" if entry["eligible"] else "not eligible: " + entry["reason"]
        lines.append(f"  {entry['id']} ({entry['customer']}, {entry['price']}): {verdict}")
        lines += _clauses(entry.get("condition"))
    lines += ["", "plan:"]
    for stage in explanation.get("stages", []):
        if stage["kind"] == "marketplace":
            teaser = ", ".join(stage["teaser"]) or "none"
            lines.append(f"  stage marketplace: price {stage['price']}, teaser {teaser}")
        elif stage["kind"] == "alter":
            lines.append("  stage alter:")
            lines += render_alter_lines(stage["lines"])
        elif "would_call" in stage:  # a stage that calls out: explained, never called
            named = ", ".join(stage["partners"])
            timeout = f" timeout {stage['timeout_ms']} ms" if stage.get("timeout_ms") else ""
            mode = f" {stage['mode']}" if stage.get("mode") else ""
            args = f" [{named}]{timeout}" if stage["kind"] != "enrich" else f" {named}{mode}"
            lines.append(f"  stage {stage['kind']}{args}: {stage['would_call']} (not called)")
        else:
            only = f" [{', '.join(stage['bids'])}]" if stage.get("bids") else ""
            lines.append(f"  stage {stage['kind']} {stage.get('method') or ''}{only}".rstrip())
    return "\n".join(lines)


def render_alter_lines(entries: list[dict]) -> list[str]:
    """Render an alter stage's `set` lines: applied (old -> new) or not, and why."""
    out = []
    for entry in entries:
        field = entry["field"]
        if entry["result"] == "applied":
            before = json.dumps(entry.get("before", entry.get("from")), default=str)
            after = json.dumps(entry.get("after", entry.get("to")), default=str)
            out.append(f"    ✓ line {entry['line']}: set {field}: {before} -> {after}")
        else:
            out.append(
                f"    ✗ line {entry['line']}: set {field}: {entry['result']}: "
                f"{entry.get('reason', '')}"
            )
        out += _clauses(entry.get("condition"), 3)
    return out
