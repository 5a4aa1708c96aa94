"""Benchmarks of the rules language: one predicate against peers, and a whole rule set."""
