"""Run the benchmarks (`python -m bench [predicate|ruleset|dryrun|intake|delivery|threshold|
pings|fanout]`); results go to RESULTS.md.

A full run (`python -m bench`) runs the benchmarks that need no database and rewrites
RESULTS.md, keeping the sections of the others; `python -m bench dryrun`,
`python -m bench intake`, `python -m bench delivery`, `python -m bench threshold`,
`python -m bench pings` or `python -m bench fanout` (PostgreSQL; all but dryrun also need wrk)
replaces only its own section.
Every write ends RESULTS.md with the table of levers tried (bench/levers.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import delivery, dryrun, fanout, intake, levers, pings, predicate, ruleset, threshold

BENCHMARKS = {
    "predicate": predicate.run,
    "ruleset": ruleset.run,
    "dryrun": dryrun.run,
    "intake": intake.run,
    "delivery": delivery.run,
    "threshold": threshold.run,
    "pings": pings.run,
    "fanout": fanout.run,
}
# These need PostgreSQL and minutes: run by name, each in its own RESULTS.md section.
SEPARATE = {
    "dryrun": "## Benchmark 3: dry-run",
    "intake": "## Benchmark 4: intake",
    "delivery": "## Benchmark 5: delivery",
    "threshold": "## Benchmark 6: intake with a monthly lead threshold",
    "pings": "## Benchmark 7: pings",
    "fanout": "## Benchmark 8: ping fan-out to partners",
}
RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Sluice benchmarks\n\n"
    "Written by `python -m bench`: each section is the last run of its benchmark, with the "
    "machine it ran on, its method and its targets. Runs of one revision on a shared "
    "machine vary by up to ±15%; where a floor is measured beside Sluice, compare the ratio "
    "to it rather than absolute figures across sections or machines.\n\n"
)


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


def read_results() -> str:
    """Return RESULTS.md without its closing levers table ('' when there is no file)."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    end = text.find(levers.TITLE)
    return text[:end] if end >= 0 else text


def write_results(text: str) -> None:
    """Write RESULTS.md: the benchmarks' sections, then the levers table."""
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + levers.markdown())


def _section(text: str) -> str:
    """Return the separate benchmarks' sections of RESULTS.md (from the first one on), or ''."""
    starts = [text.find(title) for title in SEPARATE.values() if title in text]
    return "\n" + text[min(starts) :] if starts else ""


def write_section(name: str, markdown: str, load_before: tuple[float, ...]) -> None:
    """Replace a separate benchmark's section of RESULTS.md (with its own machine lines)."""
    text = read_results() or HEADER
    start = text.find(SEPARATE[name])
    if start < 0:
        head, tail = text.rstrip("\n") + "\n\n", ""
    else:
        end = text.find("\n## Benchmark ", start + 1)
        head, tail = text[:start], text[end + 1 :] if end >= 0 else ""
    title, _, rest = markdown.partition("\n")
    section = title + "\n\n" + machine(load_before) + rest
    write_results(head + section + ("\n" + tail if tail else ""))


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
    separate = [(n, r) for n, r in zip(names, reports, strict=True) if n in SEPARATE]
    if args.no_write or (
        len(reports) - len(separate) < len(BENCHMARKS) - len(SEPARATE) and not separate
    ):
        print(f"{RESULTS.name} not written (a partial run or --no-write)")
    elif separate:
        for name, report in separate:
            write_section(name, report.markdown(), load_before)
            print(f"wrote the {name} section of {RESULTS}")
    else:
        body = "\n".join(report.markdown() for report in reports)
        kept = _section(read_results())
        write_results(HEADER + machine(load_before) + "\n" + body + kept)
        print(f"wrote {RESULTS}")
    missed = [goal for report in reports for goal, met in report.targets if not met]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
