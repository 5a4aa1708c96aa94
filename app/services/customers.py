"""Customers (the buyers bids name) and their wallets."""

from __future__ import annotations

from typing import Any

from app.domain.errors import InvalidError
from app.domain.returns import check_policy_values
from app.services.actor import Actor
from app.services.tenants import CreatedUser
from app.store import customers as store
from app.store import tenants as users
from app.store.models import Customer, User


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


#: The customer's settings `update_customer` changes.
UPDATABLE = ("name", "return_window_days", "return_limit_percent", "claims_per_day")
#: The most marketplace claims a day a limit may allow.
MAX_CLAIMS_PER_DAY = 1_000_000


def update_customer(actor: Actor, ref: str, changes: dict[str, Any]) -> Customer:
    """Change a customer's name, return policy or limit of marketplace claims a day: only
    the settings given in `changes` (`return_limit_percent`, `claims_per_day` None: no
    limit; `claims_per_day` 0: no claims); return the customer."""
    actor.require("customers.write")
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise InvalidError(
            "unknown settings", {name: ["not a customer setting"] for name in unknown}
        )
    check_policy_values(changes.get("return_window_days"), changes.get("return_limit_percent"))
    if "return_window_days" in changes and changes["return_window_days"] is None:
        raise InvalidError(
            "the return window needs a number of days", {"return_window_days": ["give days"]}
        )
    claims = changes.get("claims_per_day")
    if claims is not None and not 0 <= claims <= MAX_CLAIMS_PER_DAY:
        raise InvalidError(
            "the limit of claims a day is out of range",
            {"claims_per_day": [f"from 0 to {MAX_CLAIMS_PER_DAY}, or null for no limit"]},
        )
    return store.update_customer(store.find_customer(actor.acting_tenant(), ref), dict(changes))


def add_customer_user(actor: Actor, ref: str, email: str) -> CreatedUser:
    """Give a customer a user of its own, for the customer API; its token is shown once."""
    actor.require("users.write")
    user, token = users.create_customer_user(store.find_customer(actor.acting_tenant(), ref), email)
    return CreatedUser(user, token)


def list_customer_users(actor: Actor, ref: str) -> list[User]:
    """Return a customer's users, active or not."""
    actor.require("users.write")
    return users.list_customer_users(store.find_customer(actor.acting_tenant(), ref))


def remove_customer_user(actor: Actor, ref: str, user: str) -> User:
    """Deactivate a customer's user (by email or id): its token stops working."""
    actor.require("users.write")
    return users.deactivate_customer_user(store.find_customer(actor.acting_tenant(), ref), user)
