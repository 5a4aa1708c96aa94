"""Use cases: every action on tenants, sources, customers, rules and leads, written once.

The admin API (`app/api`) and the `sluice` command (`app/commands`) are thin adapters over
these functions: they parse, call one service, and render what it returns.
"""
