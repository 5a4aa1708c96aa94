"""The example rule sets shipped with Sluice: examples/ in a checkout, `app.examples` installed."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

#: What an example set holds: rules, leads to explain, notes. Not the package's own files.
EXAMPLE_SUFFIXES = (".rules", ".json", ".md")


def examples_path() -> Path:
    """Return the directory of the shipped example rule sets."""
    return Path(str(files("app.examples")))


def example_files() -> list[Path]:
    """Return the shipped example files, relative to the examples directory, sorted."""
    root = examples_path()
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and path.suffix in EXAMPLE_SUFFIXES and "__pycache__" not in path.parts
    )


def copy_examples(target: str | Path) -> list[Path]:
    """Copy the example files into `target` (made if missing); return the files written.

    Raises FileExistsError, naming the first one, when any of them exists already.
    """
    root, target = examples_path(), Path(target)
    names = example_files()
    for name in names:
        if (target / name).exists():
            raise FileExistsError(str(target / name))
    written = []
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, target / name)
        written.append(target / name)
    return written
