"""The benchmark predicate translated into each peer engine's language.

The Sluice expression is

    state in ["CA", "NV", "AZ"] and monthly_bill >= 100 and homeowner
    and not email ends_with "@example.com" and zip matches /^9[0-6]/

and a missing field makes every comparison, membership and string test on it false,
while `not` still negates (so a lead without an email passes the email clause). Each
translation below spells that out in the peer's own terms, as a user of the peer would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STATES = ("CA", "NV", "AZ")
FIELDS = ("state", "monthly_bill", "homeowner", "email", "zip")


@dataclass(frozen=True)
class Engine:
    """A peer's compiled predicate: call `evaluate(lead)` for a bool."""

    name: str
    evaluate: Callable[[Any], bool]
    nulls: bool  # needs every field as a key, None when missing
    note: str
    slow: bool = False  # timed on a subset of the leads


# zen-engine (ZEN expression language, Rust). A missing key reads as null; `in` on null is
# false and `== true` is false, but `>=`, endsWith() and matches() raise on null, so those
# clauses are guarded with `!= null` (`and` short-circuits).
ZEN = (
    'state in ["CA", "NV", "AZ"] and (monthly_bill != null and monthly_bill >= 100)'
    ' and homeowner == true and not (email != null and endsWith(email, "@example.com"))'
    ' and (zip != null and matches(zip, "^9[0-6]"))'
)


def build_zen() -> Engine:
    """Compile the ZEN expression once; evaluate takes the plain lead dict."""
    import zen

    program = zen.compile_expression(ZEN)
    return Engine("zen-engine", program.evaluate, False, "missing key reads as null; guarded")


# rule-engine. Context(default_value=None) makes a missing key null. `in` on null is false,
# `=~` on null is false and a bare null is falsy, but `>=` and .ends_with on null raise,
# so those are guarded with `!= null`.
RULE_ENGINE = (
    'state in ["CA", "NV", "AZ"] and (monthly_bill != null and monthly_bill >= 100)'
    ' and homeowner and not (email != null and email.ends_with("@example.com"))'
    ' and zip =~ "^9[0-6]"'
)


def build_rule_engine() -> Engine:
    """Compile the rule once with a null-defaulting context; evaluate is Rule.matches."""
    import rule_engine

    context = rule_engine.Context(default_value=None)
    rule = rule_engine.Rule(RULE_ENGINE, context=context)
    return Engine("rule-engine", rule.matches, False, "default_value=None; guarded")


# simpleeval (Python syntax, AST walked per call). An unknown name raises NameNotDefined,
# so leads are given every field with None for missing ones; None is guarded explicitly.
# List literals need EvalWithCompoundTypes; there is no regex, so `re_match` is registered
# (re.match with the pattern text, served from re's compiled-pattern cache).
SIMPLEEVAL = (
    'state in ["CA", "NV", "AZ"] and monthly_bill is not None and monthly_bill >= 100'
    " and homeowner is True"
    ' and not (email is not None and email.endswith("@example.com"))'
    ' and zip is not None and re_match("^9[0-6]", zip) is not None'
)


def build_simpleeval() -> Engine:
    """Parse the expression once; evaluate binds the lead as names and walks the AST."""
    import simpleeval

    evaluator = simpleeval.EvalWithCompoundTypes(functions={"re_match": re.match})
    parsed = evaluator.parse(SIMPLEEVAL)

    def evaluate(lead):
        evaluator.names = lead
        return evaluator.eval(SIMPLEEVAL, previously_parsed=parsed)

    return Engine("simpleeval", evaluate, True, "explicit None per field; guarded")


# CEL (common-expression-language, Rust). An unbound variable is an error, so leads are given
# every field with null for missing ones, bound as top-level variables; `in` on null is false
# and `== true` is false, but `>=` and the string functions raise on null, so those are guarded.
# (Binding the lead as one map `lead` with has(lead.x) guards gives the same answers but is
# ~1.6x slower here: converting the nested map costs more than the guards save.)
CEL = (
    'state in ["CA", "NV", "AZ"] && monthly_bill != null && monthly_bill >= 100'
    " && homeowner == true"
    ' && !(email != null && email.endsWith("@example.com"))'
    ' && zip != null && zip.matches("^9[0-6]")'
)


def build_cel() -> Engine:
    """Compile the CEL program once; execute binds the lead's keys as variables."""
    import cel

    program = cel.compile(CEL)
    return Engine("common-expression-language", program.execute, True, "explicit null per field")


# cel-python rejects variable names such as `@category`, so there the lead is bound as the
# map `lead` (json_to_cel, the documented way in for JSON data) and every clause tests has().
CEL_MAP = (
    'has(lead.state) && lead.state in ["CA", "NV", "AZ"]'
    " && has(lead.monthly_bill) && lead.monthly_bill >= 100"
    " && has(lead.homeowner) && lead.homeowner"
    ' && !(has(lead.email) && lead.email.endsWith("@example.com"))'
    ' && has(lead.zip) && lead.zip.matches("^9[0-6]")'
)


def build_celpy() -> Engine:
    """Compile CEL_MAP with cel-python; each call converts the lead with json_to_cel."""
    import celpy

    env = celpy.Environment()
    program = env.program(env.compile(CEL_MAP))
    json_to_cel = celpy.json_to_cel

    def evaluate(lead):
        return bool(program.evaluate({"lead": json_to_cel(lead)}))

    note = "has(lead.x) guards; json_to_cel per call included"
    return Engine("cel-python", evaluate, False, note, slow=True)


BUILDERS = (build_zen, build_simpleeval, build_cel, build_rule_engine, build_celpy)
