"""Example rule sets, shipped in the wheel as `app.examples`: `sluice examples path` shows where."""
