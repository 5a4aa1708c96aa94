"""Every file in tests/rules/invalid/ states the diagnostics it must produce, exactly.

A file declares its expectations in comments, one per diagnostic:
    # expect: error[unknown-field] 12:9
    # expect: warning[unreachable-lead-type] 20:11
The test compiles the file on its own and compares the full list of diagnostics
(severity, code, line, column) with the expectations, so cascades fail the test too.
"""

import re
from pathlib import Path

import pytest

from app.dsl import check_texts

INVALID = Path(__file__).resolve().parents[1] / "rules" / "invalid"
EXPECT = re.compile(r"#\s*expect:\s*(error|warning)\[([a-z-]+)\]\s+(\d+):(\d+)")
FILES = sorted(INVALID.glob("*.rules"))


def expectations(text: str) -> list[tuple[str, str, int, int]]:
    return sorted(
        (severity, code, int(line), int(column))
        for severity, code, line, column in EXPECT.findall(text)
    )


def test_corpus_is_not_empty():
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_invalid_file_reports_expected_diagnostics(path):
    text = path.read_text()
    expected = expectations(text)
    assert expected, f"{path.name} states no `# expect:` line"
    _, diagnostics = check_texts({path.name: text})
    found = sorted((d.severity, d.code, d.line, d.column) for d in diagnostics)
    assert found == expected, "\n".join(d.format({path.name: text}) for d in diagnostics)
    for diagnostic in diagnostics:
        assert diagnostic.message and not diagnostic.message.startswith("Unexpected")
