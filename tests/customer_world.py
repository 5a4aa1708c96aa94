"""A tenant with two buyers, each with leads, money and deliveries of its own, and a user
of its own: the world of the customer API's tests (service, API, security)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.store.customers import deposit
from app.store.db import database
from app.store.models import Customer, Delivery, Lead, WalletEntry
from app.store.tenants import create_customer_user
from tests.delivery_rows import attempt_row, delivery_row, destination_row
from tests.services.exports_world import RULES, START, add_leads

#: Fields the rules do not mark deliverable, and values only they hold: a buyer never
#: sees any of them.
HIDDEN_FIELDS = ("state", "monthly_bill", "homeowner", "dob", "roof_type")
HIDDEN_VALUES = ("7777.5", "1970-01-02", "tile")


@dataclass
class Buyer:
    customer: Customer
    token: str
    leads: list[Lead]  # newest first, as the list shows them
    delivery: Delivery  # of its first lead, to its destination, with two attempts

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Market:
    world: object  # tests.conftest.World
    a: Buyer  # sunco: three leads (one deleted, one roofing), a charge and a deposit
    b: Buyer  # brightside: one lead
    unsold: Lead
    webhook_delivery: Delivery  # the tenant's own webhook, about a's lead


def _customer(world, slug: str) -> Customer:
    return Customer.get((Customer.tenant == world.tenant.id) & (Customer.slug == slug))


def make_market(make_world, name: str = "Acme") -> Market:
    """Return a tenant on the export tests' rules whose buyers sunco and brightside each
    bought leads, paid for them and had them delivered."""
    world = make_world(RULES, {"sunco": "100", "brightside": "100"}, name=name)
    sunco, bright = _customer(world, "sunco"), _customer(world, "brightside")
    secret = {"state": "CA", "monthly_bill": 7777.5, "homeowner": True, "dob": "1970-01-02"}
    sold = {"status": "assigned", "price_cents": 4500}
    # insert_many takes the first row's columns: every row names them all.
    same = {"customer": None, "assigned_at": None, "deleted_at": None, "lead_type": None}
    rows = [
        {
            **sold,
            "customer": sunco.id,
            "data": {"first_name": "Ann", "phone": "5552010001", **secret},
            "assigned_at": START + timedelta(minutes=1),
        },
        {
            **sold,
            "customer": sunco.id,
            "category": "roof",
            "data": {"phone": "5552010002", "roof_type": "tile"},
            "assigned_at": START + timedelta(days=2),
            "received_at": START + timedelta(days=2),
        },
        {
            **sold,
            "customer": sunco.id,
            "data": {},
            "deleted_at": START + timedelta(days=3),
            "assigned_at": START + timedelta(days=3),
            "received_at": START + timedelta(days=3),
        },
        {
            **sold,
            "customer": bright.id,
            "data": {"first_name": "Bob", "phone": "5552010004", **secret},
            "assigned_at": START + timedelta(minutes=4),
        },
        {"data": {"first_name": "Una", "phone": "5552010005", **secret}},
    ]
    a1, a2, a3, b1, unsold = add_leads(world, [{**same, **row} for row in rows])
    with database.atomic():
        deposit(sunco, 2000, "top-up")
        for customer, lead in ((sunco, a1), (bright, b1)):
            balance = Customer.get_by_id(customer.id).balance_cents - 4500
            Customer.update(balance_cents=balance).where(Customer.id == customer.id).execute()
            WalletEntry.create(
                customer=customer.id,
                kind="charge",
                amount_cents=-4500,
                balance_after_cents=balance,
                lead=lead.id,
                note="bid",
            )
    deliveries = {}
    for customer, lead in ((sunco, a1), (bright, b1)):
        destination = destination_row(world.tenant, customer, name=f"{customer.slug} CRM")
        payload = {"id": lead.public_id, "fields": {"phone": lead.data["phone"]}}
        delivery = delivery_row(destination, lead=lead, attempts=2, payload=payload)
        attempt_row(delivery, 1, answer="busy")
        attempt_row(delivery, 2, answer="still busy")
        deliveries[customer.id] = delivery
    webhook = destination_row(world.tenant)
    webhook_delivery = delivery_row(
        webhook, lead=a1, status="delivered", payload={"lead": {"fields": secret}}
    )
    _, token_a = create_customer_user(sunco, "ann@sunco.example")
    _, token_b = create_customer_user(bright, "bob@brightside.example")
    database.close()
    return Market(
        world,
        Buyer(Customer.get_by_id(sunco.id), token_a, [a3, a2, a1], deliveries[sunco.id]),
        Buyer(Customer.get_by_id(bright.id), token_b, [b1], deliveries[bright.id]),
        unsold,
        webhook_delivery,
    )


def leaked(text: str) -> list[str]:
    """Return the non-deliverable field names and values a text shows."""
    return [hidden for hidden in (*HIDDEN_FIELDS, *HIDDEN_VALUES) if hidden in text]
