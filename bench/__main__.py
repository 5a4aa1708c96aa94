"""Run the benchmarks (`python -m bench [predicate|ruleset|dryrun]`); results go to RESULTS.md.

A full run (`python -m bench`) runs the benchmarks that need no database and rewrites
RESULTS.md, keeping the dry-run section; `python -m bench dryrun` (PostgreSQL) replaces
only that section.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import dryrun, predicate, ruleset

BENCHMARKS = {"predicate": predicate.run, "ruleset": ruleset.run, "dryrun": dryrun.run}
SEPARATE = {"dryrun"}  # needs PostgreSQL and minutes: run by name, its own RESULTS.md section
SEPARATE_TITLE = "## Benchmark 3: dry-run"
RESULTS = Path(__file__).with_name("RESULTS.md")


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(load_before: tuple[float, ...]) -> str:
    """Return a one-paragraph description of where the numbers were measured."""
    load = " → ".join(f"{before:.2f}" for before in (load_before[0], os.getloadavg()[0]))
    return (
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{cpu_model()}, {platform.system()} {platform.release()}\n"
        f"- Python: {platform.python_implementation()} {platform.python_version()}\n"
        f"- Load average (1 min) before → after: {load} (other work on the machine adds noise)\n"
    )


def _section(text: str) -> str:
    """Return the dry-run section of RESULTS.md (from its title to the end), or ''."""
    index = text.find(SEPARATE_TITLE)
    return "\n" + text[index:] if index >= 0 else ""


def write_section(markdown: str, load_before: tuple[float, ...]) -> None:
    """Replace the dry-run section of RESULTS.md (with its own machine lines) by `markdown`."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Sluice benchmarks\n"
    index = text.find(SEPARATE_TITLE)
    kept = text[:index] if index >= 0 else text.rstrip("\n") + "\n\n"
    title, _, rest = markdown.partition("\n")
    RESULTS.write_text(kept + title + "\n\n" + machine(load_before) + rest)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, print their tables and write RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="benchmark", help=", ".join(BENCHMARKS))
    parser.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or [name for name in BENCHMARKS if name not in SEPARATE]
    load_before = os.getloadavg()
    reports = []
    for name in names:
        report = BENCHMARKS[name]()
        print(report.text(), end="\n\n", flush=True)
        reports.append(report)
    separate = [r for name, r in zip(names, reports, strict=True) if name in SEPARATE]
    if args.no_write or (len(reports) - len(separate) < len(BENCHMARKS) - len(SEPARATE)
                         and not separate):  # fmt: skip
        print(f"{RESULTS.name} not written (a partial run or --no-write)")
    elif separate:
        write_section(separate[0].markdown(), load_before)
        print(f"wrote the dry-run section of {RESULTS}")
    else:
        header = "# Sluice rules-language benchmarks\n\nWritten by `python -m bench`.\n\n"
        body = "\n".join(report.markdown() for report in reports)
        kept = _section(RESULTS.read_text()) if RESULTS.exists() else ""
        RESULTS.write_text(header + machine(load_before) + "\n" + body + kept)
        print(f"wrote {RESULTS}")
    missed = [goal for report in reports for goal, met in report.targets if not met]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
