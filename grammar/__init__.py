"""The rules grammar, shipped in the wheel as the package data of `app.grammar`."""
