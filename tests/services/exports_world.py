"""A tenant of two categories and leads inserted directly, for the export tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.store.db import database
from app.store.models import Customer, Lead
from app.store.secrets import public_id

RULES = """
category solar "Solar" {
    field first_name   text      deliverable
    field phone        phone     deliverable
    field state        us_state
    field monthly_bill number
    field homeowner    bool
    field dob          date
}
category roof "Roofing" {
    field phone        phone     deliverable
    field roof_type    one of ["shingle", "tile"]
}
plan solar { stage marketplace }
plan roof { stage marketplace }
"""
START = datetime(2026, 11, 2, 10, 0, 0)


def add_leads(world, rows: list[dict]) -> list[Lead]:
    """Insert leads of the world's tenant directly (fast); each row overrides the defaults.

    Return the first thousand as stored, in the order given."""
    defaults = {
        "tenant": world.tenant.id,
        "source": world.source.id,
        "category": "solar",
        "status": "marketplace",
        "price_cents": 0,
        "is_test": False,
    }
    made = []
    for n, row in enumerate(rows):
        at = row.pop("received_at", START + timedelta(minutes=n))
        made.append(
            {
                **defaults,
                "uuid": uuid.uuid4(),
                "public_id": public_id("lead"),
                "data": {},
                "received_at": at,
                "updated_at": at,
                **row,
            }
        )
    with database.atomic():
        for start in range(0, len(made), 1000):
            Lead.insert_many(made[start : start + 1000]).execute()
    ids = {
        lead.public_id: lead
        for lead in Lead.select().where(Lead.public_id.in_([m["public_id"] for m in made[:1000]]))
    }
    database.close()
    return [ids[m["public_id"]] for m in made[:1000]]


def customer(world, slug: str) -> Customer:
    return Customer.get((Customer.tenant == world.tenant.id) & (Customer.slug == slug))
