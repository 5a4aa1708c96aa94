"""`sluice check` and `sluice explain` on the command line."""

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "solar")


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_check_passes_on_the_example():
    result = run("check", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output


def test_check_reports_every_error_with_position_and_caret(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text(
        'category c "C" { field zip zip required(ping) }\n'
        'lead_type t "T" in c when zpi == "1"\n'
        'lead_type u "U" in cat fallback\n'
    )
    result = run("check", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:2:27: error[unknown-field]: unknown field 'zpi'" in result.output
    assert "help: did you mean 'zip'?" in result.output
    assert "   2 | lead_type t" in result.output and "^" in result.output
    assert f"{bad}:3:20: error[unknown-category]" in result.output
    assert "error[missing-plan]" in result.output
    assert "3 error(s), 0 warning(s)" in result.output


def test_check_json_format(tmp_path):
    (tmp_path / "a.rules").write_text(
        'category c "C" { field z zip }\naudit "x" in c when z == 1\n'
    )
    result = run("check", "--format", "json", str(tmp_path))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["errors"] == 1 and report["warnings"] == 0
    (item,) = report["diagnostics"]
    assert item["code"] == "type-mismatch" and (item["line"], item["column"]) == (2, 21)
    assert set(item) == {"path", "line", "column", "severity", "code", "message", "hint"}


def test_check_warnings_do_not_fail(tmp_path):
    (tmp_path / "w.rules").write_text(
        'category c "C" { field z zip field s us_state required(ping) }\n'
        'lead_type t "T" in c when z == "1"\nplan c { stage marketplace }\n'
    )
    result = run("check", str(tmp_path))
    assert result.exit_code == 0 and "warning[not-required-for-ping]" in result.output


def test_no_ping_warning_in_a_category_without_ping_fields(tmp_path):
    (tmp_path / "w.rules").write_text(
        'category c "C" { field z zip field s us_state }\n'
        'lead_type t "T" in c when z == "1" and s == "FL"\nplan c { stage marketplace price 5 }\n'
    )
    result = run("check", str(tmp_path))
    assert result.exit_code == 0 and "0 error(s), 0 warning(s)" in result.output


def test_check_missing_path():
    result = run("check", "/nonexistent/rules.rules")
    assert result.exit_code == 1 and "unreadable-file" in result.output


def test_explain_text_and_json(tmp_path):
    lead = {
        "first_name": "Katy",
        "last_name": "Berry",
        "phone": "+15551234567",
        "state": "CA",
        "zip": "94103",
        "roof_type": "tile",
        "homeowner": True,
        "monthly_bill": 200,
        "@received_at": "2026-11-18T15:00:00Z",
    }
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(lead))
    result = run("explain", EXAMPLE, str(path))
    assert result.exit_code == 0, result.output
    assert "lead type: premium" in result.output
    assert "✓ monthly_bill >= 150   (monthly_bill = 200)" in result.output
    assert "brightside_all (brightside, 30.00): eligible" in result.output
    assert "stage marketplace: price 15.00, teaser city, state, zip" in result.output
    result = run("explain", EXAMPLE, str(path), "--json")
    assert json.loads(result.output)["lead_type"]["id"] == "premium"


def test_explain_rejects_bad_lead_files(tmp_path):
    path = tmp_path / "lead.json"
    path.write_text("{not json")
    result = run("explain", EXAMPLE, str(path))
    assert result.exit_code == 1 and "not valid JSON" in result.output
    path.write_text("[1]")
    assert "a lead is a JSON object" in run("explain", EXAMPLE, str(path)).output
    path.write_text('{"@category": "life"}')
    assert "unknown category" in run("explain", EXAMPLE, str(path)).output


def test_explain_normalizes_values_like_the_service(tmp_path):
    lead = {
        "phone": "(555) 123-4567",
        "state": "ca",
        "zip": "94103",
        "homeowner": "yes",
        "monthly_bill": "$200",
        "roof_type": "TILE",
        "dob": "not a date",
    }
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(lead))
    result = CliRunner().invoke(main, ["explain", EXAMPLE, str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: field 'dob' is left out: Must be a date" in result.stderr
    explanation = json.loads(result.stdout)
    assert explanation["lead_type"]["id"] == "premium"
    assert explanation["dedupe"][0]["key"] == "phone=15551234567"
