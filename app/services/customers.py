"""Customers (the buyers bids name) and their wallets."""

from __future__ import annotations

from enum import Enum

from app.domain.errors import InvalidError
from app.services.actor import Actor
from app.store import customers as store
from app.store.models import Customer


def list_customers(actor: Actor) -> list[Customer]:
    """Return the tenant's customers with their balances, by slug."""
    actor.require("customers.read")
    return store.list_customers(actor.acting_tenant())


def show_customer(actor: Actor, ref: str) -> Customer:
    """Return the tenant's customer with this slug or id."""
    actor.require("customers.read")
    return store.find_customer(actor.acting_tenant(), ref)


def create_customer(actor: Actor, slug: str, name: str, balance_cents: int = 0) -> Customer:
    """Create a customer, with an opening deposit when the balance is not zero."""
    actor.require("customers.write")
    return store.create_customer(actor.acting_tenant(), slug, name, balance_cents)


def deposit(actor: Actor, ref: str, amount_cents: int, note: str = "deposit") -> Customer:
    """Add money to a customer's wallet; return the customer with its new balance."""
    actor.require("wallets.deposit")
    return store.deposit(store.find_customer(actor.acting_tenant(), ref), amount_cents, note)


def set_customer_active(actor: Actor, ref: str, active: bool) -> Customer:
    """Activate or deactivate a customer (an inactive one wins no bids)."""
    actor.require("customers.write")
    return store.set_active(store.find_customer(actor.acting_tenant(), ref), active)


class _Keep(Enum):
    KEEP = "keep"


#: An `update_customer` setting left as it is.
KEEP = _Keep.KEEP
#: The most marketplace claims a day a limit may allow.
MAX_CLAIMS_PER_DAY = 1_000_000


def update_customer(
    actor: Actor, ref: str, *, claims_per_day: int | None | _Keep = KEEP
) -> Customer:
    """Change a customer's settings: its limit of marketplace claims a day (None: no limit,
    0: none). Settings not given are kept."""
    actor.require("customers.write")
    customer = store.find_customer(actor.acting_tenant(), ref)
    changes: dict[str, object] = {}
    if claims_per_day is not KEEP:
        if claims_per_day is not None and not 0 <= claims_per_day <= MAX_CLAIMS_PER_DAY:
            raise InvalidError(
                "the limit of claims a day is out of range",
                {"claims_per_day": [f"from 0 to {MAX_CLAIMS_PER_DAY}, or null for no limit"]},
            )
        changes["claims_per_day"] = claims_per_day
    return store.update_customer(customer, changes)
