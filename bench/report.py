"""Timing helpers and the report a benchmark hands back for printing and RESULTS.md."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Report:
    """One benchmark's table, notes and targets."""

    title: str
    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[tuple[str, bool]] = field(default_factory=list)

    def text(self) -> str:
        """Return the report as a plain-text table for the terminal."""
        table = [tuple(self.headers), *(tuple(str(cell) for cell in row) for row in self.rows)]
        widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]

        def line(cells):
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

        lines = [self.title, "=" * len(self.title), line(table[0])]
        lines.append(line("-" * width for width in widths))
        lines += [line(row) for row in table[1:]]
        lines += [f"* {note}" for note in self.notes]
        lines += [f"target: {goal}: {'MET' if met else 'NOT MET'}" for goal, met in self.targets]
        return "\n".join(lines)

    def markdown(self) -> str:
        """Return the report as a Markdown section."""
        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join(" --- " for _ in self.headers) + "|")
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        lines.append("")
        lines += [f"- {note}" for note in self.notes]
        if self.targets:
            lines += ["", "Targets:", ""]
            lines += [f"- {goal}: **{'met' if met else 'NOT met'}**" for goal, met in self.targets]
        return "\n".join(lines) + "\n"


def time_rounds(passes: Sequence[Callable[[], object]], rounds: int) -> list[list[int]]:
    """Return ns per call of each pass, called in turn each round so machine drift hits all."""
    for run_pass in passes:
        run_pass()  # warm caches, lazy compilation and the allocator
    times: list[list[int]] = [[] for _ in passes]
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for run_pass, samples in zip(passes, times, strict=True):
                start = time.perf_counter_ns()
                run_pass()
                samples.append(time.perf_counter_ns() - start)
    finally:
        if enabled:
            gc.enable()
    return times


def time_passes(run_pass: Callable[[], object], repeats: int) -> list[int]:
    """Return the wall time in ns of each of `repeats` calls, with the collector paused."""
    return time_rounds([run_pass], repeats)[0]


def median_per_item(times: Iterable[int], items: int) -> float:
    """Return the median of per-pass times divided by the items in a pass (ns per item)."""
    return statistics.median(times) / items


def fmt_ns(ns: float) -> str:
    """Format nanoseconds with a unit that keeps three significant figures."""
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:,.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:,.2f} µs"
    return f"{ns:,.0f} ns"
