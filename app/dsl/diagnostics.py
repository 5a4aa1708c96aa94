"""Diagnostics: values describing what is wrong with a rule set, and how to print them."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    path: str
    line: int
    column: int
    severity: str
    code: str
    message: str
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def format(self, sources: Mapping[str, str] | None = None) -> str:
        """Return `path:line:col: severity[code]: message`, the source line and a caret."""
        lines = [
            f"{self.path}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        ]
        text = (sources or {}).get(self.path)
        if text is not None:
            source_lines = text.splitlines()
            if 1 <= self.line <= len(source_lines):
                source_line = source_lines[self.line - 1].replace("\t", " ")
                gutter = f"{self.line:>4} | "
                lines.append(gutter + source_line)
                lines.append(" " * (len(gutter) + max(self.column - 1, 0)) + "^")
        if self.hint:
            lines.append(f"     = help: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, str | int | None]:
        return asdict(self)


class RulesError(Exception):
    """A rule set that does not compile; carries every diagnostic of the set."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None):
        self.diagnostics = sorted(diagnostics)
        self.sources = dict(sources or {})
        errors = sum(d.is_error for d in self.diagnostics)
        super().__init__(f"{errors} error(s) in rule set")

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def report(self) -> str:
        """Return every diagnostic formatted with its source line."""
        return format_report(self.diagnostics, self.sources)


def format_report(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """Format diagnostics as a compiler would, followed by a summary line."""
    diagnostics = sorted(diagnostics)
    blocks = [d.format(sources) for d in diagnostics]
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    blocks.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n\n".join(blocks)


def format_json(diagnostics: Iterable[Diagnostic]) -> str:
    """Format diagnostics as JSON, for editors and CI."""
    items = [d.to_dict() for d in sorted(diagnostics)]
    errors = sum(item["severity"] == ERROR for item in items)
    return json.dumps(
        {"diagnostics": items, "errors": errors, "warnings": len(items) - errors}, indent=2
    )


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """Return a "did you mean 'x'?" hint when a candidate is close to the word."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
