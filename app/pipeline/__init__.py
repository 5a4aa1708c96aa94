"""Routing a lead through its category's distribution plan, one module per stage."""

from app.pipeline.lead import build_lead
from app.pipeline.route import route_lead, take_lead

__all__ = ["build_lead", "route_lead", "take_lead"]
