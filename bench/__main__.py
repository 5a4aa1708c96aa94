"""Run the benchmarks (`python -m bench [predicate|ruleset]`); a full run writes RESULTS.md."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import predicate, ruleset

BENCHMARKS = {"predicate": predicate.run, "ruleset": ruleset.run}
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
    names = args.names or list(BENCHMARKS)
    load_before = os.getloadavg()
    reports = []
    for name in names:
        report = BENCHMARKS[name]()
        print(report.text(), end="\n\n", flush=True)
        reports.append(report)
    if args.no_write or len(reports) < len(BENCHMARKS):
        print(f"{RESULTS.name} not written (a partial run or --no-write)")
    else:
        header = "# Sluice rules-language benchmarks\n\nWritten by `python -m bench`.\n\n"
        body = "\n".join(report.markdown() for report in reports)
        RESULTS.write_text(header + machine(load_before) + "\n" + body)
        print(f"wrote {RESULTS}")
    missed = [goal for report in reports for goal, met in report.targets if not met]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
