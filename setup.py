"""Packaging beside pyproject.toml: the top-level grammar/ and examples/ ship inside `app`.

The repository keeps `grammar/` and `examples/` at the top level; the wheel carries them as
the packages `app.grammar` and `app.examples`, found with importlib.resources. A mapped
package must be listed, which pyproject.toml's `packages.find` cannot do beside its
discovery, hence this file.
"""

from setuptools import find_namespace_packages, setup

SHIPPED = {"app.grammar": "grammar", "app.examples": "examples"}

setup(
    packages=[*find_namespace_packages(include=["app", "app.*"]), *SHIPPED],
    package_dir=SHIPPED,
    package_data={
        "app.grammar": ["*.lark"],
        "app.examples": ["*.md", "**/*.rules", "**/*.json", "**/*.md"],
    },
)
