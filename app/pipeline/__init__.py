"""Routing decisions, pure: a lead (plain values), a RuleSet and what the store read in,
a decision out. Imports only app.dsl, app.domain and the standard library: no web
framework, no database, no transaction.

`router.py` holds every routing decision once, for live routing and the dry-run's replay;
`routing.py` is live routing's two steps (what to read, then decide on it).
"""

from app.pipeline.lead import build_lead, lead_from_row
from app.pipeline.routing import PreparedLead

__all__ = ["PreparedLead", "build_lead", "lead_from_row"]
