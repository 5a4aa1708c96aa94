"""`sluice examples`: the shipped examples, and the README's commands on them."""

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_examples_path_is_the_examples_folder():
    result = run("examples", "path")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert (path / "solar" / "solar.rules").read_text() == (
        ROOT / "examples" / "solar" / "solar.rules"
    ).read_text()


def test_examples_copy_writes_the_examples_and_overwrites_nothing(tmp_path):
    result = run("examples", "copy", str(tmp_path / "mine"))
    assert result.exit_code == 0, result.output
    copied = sorted(p.relative_to(tmp_path / "mine") for p in (tmp_path / "mine").rglob("*"))
    assert Path("solar/solar.rules") in copied and Path("solar/lead.json") in copied
    assert not [p for p in copied if p.suffix == ".py" or "__pycache__" in p.parts]
    assert run("check", str(tmp_path / "mine")).exit_code == 0
    (tmp_path / "mine" / "solar" / "solar.rules").write_text("# mine\n")
    again = run("examples", "copy", str(tmp_path / "mine"))
    assert again.exit_code == 1 and "exists already" in again.output
    assert (tmp_path / "mine" / "solar" / "solar.rules").read_text() == "# mine\n"


def test_examples_copy_into_an_unwritable_place_fails_cleanly(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    result = run("examples", "copy", str(blocked / "inside"))
    assert result.exit_code == 1 and "cannot copy" in result.output


def test_readme_check_accepts_the_examples_folder_with_its_lead_file(monkeypatch):
    monkeypatch.chdir(ROOT)  # the README's commands run from the checkout
    assert (ROOT / "examples" / "solar" / "lead.json").is_file()
    result = run("check", "examples/")
    assert result.exit_code == 0 and "0 error(s), 0 warning(s)" in result.output


def test_readme_explain_runs_on_the_shipped_lead(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("explain", "examples/solar", "examples/solar/lead.json")
    assert result.exit_code == 0, result.output
    assert "lead type: premium" in result.output
    assert "sunco_premium (sunco, 45.00): eligible" in result.output
    explained = json.loads(
        run("explain", "examples/solar", "examples/solar/lead.json", "--json").output
    )
    assert explained["category"] == "solar"


def test_readme_quotes_commands_that_exist():
    readme = (ROOT / "README.md").read_text()
    assert "sluice explain examples/solar examples/solar/lead.json" in readme
    assert "sluice examples path" in readme
