"""Analysis for analysts: stored leads queried with rule expressions, dry-runs, explanations.

Nothing here writes to the database: every function only reads leads, their timelines and
rule set versions.
"""
