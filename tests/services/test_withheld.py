"""Withheld leads: a tenant's monthly threshold, the leads over it, and their release."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from app.cli import main
from app.domain.errors import ForbiddenError, InvalidError
from app.domain.threshold import month_of
from app.services import deletion, webhooks, withheld
from app.services.actor import operator_actor, user_actor
from app.services.worker import Worker
from app.store.models import Delivery, Lead, LeadEvent, LeadUsage, User, WalletEntry
from app.store.sources import create_source
from tests.conftest import basic_auth


def operator(world):
    return operator_actor(world.tenant.code)


def post_leads(world, home_lead, numbers) -> list[dict]:
    answers = []
    for n in numbers:
        response = world.post(home_lead(n))
        assert response.status_code == 201, response.get_json()
        answers.append(response.get_json())
    return answers


def statuses(db) -> list[str]:
    """Return every lead's status, in arrival order."""
    return [lead.status for lead in Lead.select().order_by(Lead.received_at, Lead.id)]


def timeline(public_id: str) -> list[tuple[str, str]]:
    lead = Lead.get(Lead.public_id == public_id)
    events = LeadEvent.select().where(LeadEvent.lead == lead).order_by(LeadEvent.id)
    return [(event.kind, event.message) for event in events]


def next_month(now: datetime) -> datetime:
    return (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=5)


def test_the_lead_over_the_threshold_is_withheld_kept_and_not_routed(home, home_lead, db):
    withheld.set_threshold(operator(home), 2)
    answers = post_leads(home, home_lead, [1, 2, 3])
    assert [a["status"] for a in answers[:2]] == ["assigned", "assigned"]
    third = answers[2]
    assert third["status"] == "withheld"
    assert third["price"] == 0
    lead = Lead.get(Lead.public_id == third["lead_public_id"])
    assert (lead.customer_id, lead.lead_type, lead.price_cents) == (None, None, 0)
    assert lead.data["phone"] == "+15552010003"  # the submission is kept whole
    kinds = [kind for kind, _ in timeline(third["lead_public_id"])]
    assert kinds == ["received", "withheld"]  # not classified, audited or routed
    assert WalletEntry.select().where(WalletEntry.lead == lead).count() == 0
    usage = withheld.month_usage(operator(home))
    assert (usage.counted, usage.threshold, usage.withheld) == (2, 2, 1)


def test_without_a_threshold_nothing_is_counted_or_withheld(home, home_lead, db):
    post_leads(home, home_lead, [1, 2, 3])
    assert "withheld" not in statuses(db)
    assert LeadUsage.select().count() == 0  # the intake never touched a counter
    usage = withheld.month_usage(operator(home))
    assert (usage.counted, usage.threshold, usage.withheld) == (3, None, 0)


def test_a_threshold_of_zero_withholds_every_lead(home, home_lead, db):
    withheld.set_threshold(operator(home), 0)
    answers = post_leads(home, home_lead, [1, 2])
    assert [a["status"] for a in answers] == ["withheld", "withheld"]


def test_test_leads_and_duplicates_do_not_count(home, home_lead, db):
    withheld.set_threshold(operator(home), 1)
    post_leads(home, home_lead, [1])
    duplicate = home.post(home_lead(1)).get_json()  # the same phone
    source, secret = create_source(home.tenant, "Sandbox", "home", True)  # test mode
    auth = basic_auth(source.api_key, secret)
    test_lead = home.client.post("/api/leads", json=home_lead(2), headers=auth).get_json()
    assert duplicate["status"] == "duplicate"
    assert test_lead["status"] != "withheld"
    assert home.post(home_lead(3)).get_json()["status"] == "withheld"
    assert withheld.month_usage(operator(home)).counted == 1


def test_setting_a_threshold_counts_the_month_already_received(home, home_lead, db):
    post_leads(home, home_lead, [1, 2])
    withheld.set_threshold(operator(home), 3)
    assert withheld.month_usage(operator(home)).counted == 2
    answers = post_leads(home, home_lead, [3, 4])
    assert [a["status"] for a in answers] == ["assigned", "withheld"]


def test_raising_the_threshold_releases_the_oldest_withheld_leads(home, home_lead, db):
    actor = operator(home)
    withheld.set_threshold(actor, 1)
    answers = post_leads(home, home_lead, [1, 2, 3, 4])
    held = [a["lead_public_id"] for a in answers[1:]]
    received = {lead.public_id: lead.received_at for lead in Lead.select()}
    withheld.set_threshold(actor, 3)
    assert withheld.release_withheld(actor) == 2
    leads = {lead.public_id: lead for lead in Lead.select()}
    assert [leads[ref].status for ref in held] == ["assigned", "assigned", "withheld"]
    assert all(leads[ref].received_at == received[ref] for ref in held)  # kept
    kinds = [kind for kind, _ in timeline(held[0])]
    assert kinds[:3] == ["received", "withheld", "released"]
    assert "assigned" in kinds
    released = dict(timeline(held[0]))["released"]
    assert released == "Released from withheld: the monthly threshold was raised to 3."
    usage = withheld.month_usage(actor)
    assert (usage.counted, usage.withheld) == (3, 1)
    assert withheld.release_withheld(actor) == 0  # full again: the last one waits


def test_a_new_lead_waits_behind_withheld_ones_for_arrival_order(home, home_lead, db):
    actor = operator(home)
    withheld.set_threshold(actor, 1)
    first = post_leads(home, home_lead, [1, 2])[1]
    withheld.set_threshold(actor, 10)  # capacity, not yet released
    later = post_leads(home, home_lead, [3])[0]
    assert later["status"] == "withheld"  # the older withheld lead goes first
    assert withheld.release_withheld(actor) == 2
    order = (
        Lead.select()
        .where(Lead.public_id.in_([first["lead_public_id"], later["lead_public_id"]]))
        .order_by(Lead.assigned_at)
    )
    assert [lead.public_id for lead in order] == [
        first["lead_public_id"],
        later["lead_public_id"],
    ]
    assert post_leads(home, home_lead, [4])[0]["status"] == "assigned"


def test_a_new_month_releases_withheld_leads_into_its_count(home, home_lead, db):
    actor = operator(home)
    withheld.set_threshold(actor, 1)
    held = [a["lead_public_id"] for a in post_leads(home, home_lead, [1, 2, 3])[1:]]
    now = datetime.now(UTC)
    assert withheld.release_withheld(actor, now=now) == 0  # this month is full
    later = next_month(now)
    assert withheld.release_withheld(actor, now=later) == 1
    assert [lead.status for lead in Lead.select().where(Lead.public_id.in_(held))].count(
        "withheld"
    ) == 1
    released = dict(timeline(held[0]))["released"]
    assert released == f"Released from withheld: a new month began ({later:%Y-%m})."
    counts = {row.month: row.leads for row in LeadUsage.select()}
    assert counts == {month_of(now): 1, month_of(later): 1}
    usage = withheld.month_usage(actor, now=later)
    assert (usage.counted, usage.withheld) == (1, 1)


def test_removing_the_threshold_releases_every_withheld_lead(home, home_lead, db):
    actor = operator(home)
    withheld.set_threshold(actor, 1)
    post_leads(home, home_lead, [1, 2, 3])
    withheld.set_threshold(actor, None)
    assert withheld.release_withheld(actor) == 2
    assert "withheld" not in statuses(db)
    assert post_leads(home, home_lead, [4])[0]["status"] != "withheld"


def test_the_worker_releases_the_leads_that_fit(home, home_lead, db):
    actor = operator(home)
    withheld.set_threshold(actor, 1)
    post_leads(home, home_lead, [1, 2, 3])
    Worker().drain()
    assert statuses(db).count("withheld") == 2  # nothing fits yet
    withheld.set_threshold(actor, 2)
    Worker().drain()
    assert statuses(db) == ["assigned", "assigned", "withheld"]


def test_only_the_operator_sets_the_threshold_and_admins_see_the_usage(home, db):
    admin = user_actor(User.get(User.tenant == home.tenant.id))
    with pytest.raises(ForbiddenError):
        withheld.set_threshold(admin, 10)
    assert withheld.month_usage(admin).threshold is None
    with pytest.raises(InvalidError) as refused:
        withheld.set_threshold(operator(home), -1)
    assert "monthly_threshold" in refused.value.details


def test_the_operator_sets_the_threshold_and_releases_from_the_cli(
    home, home_lead, database_url, monkeypatch, db
):
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    runner = CliRunner()

    def sluice(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    code = home.tenant.code
    done = sluice("tenant", "update", code, "--monthly-threshold", "1", "--json")
    assert done[0] == 0, done[1]
    assert json.loads(done[1])["monthly_lead_threshold"] == 1
    post_leads(home, home_lead, [1, 2, 3])
    exit_code, output = sluice("tenant", "usage", code, "--json")
    usage = json.loads(output)
    assert usage == {
        "month": f"{datetime.now(UTC):%Y-%m}",
        "counted": 1,
        "threshold": 1,
        "remaining": 0,
        "withheld": 2,
    }
    assert sluice("tenant", "update", code, "--monthly-threshold", "none")[0] == 0
    exit_code, output = sluice("leads", "release-withheld", code)
    assert exit_code == 0
    assert output.split() == ["released", "2", "still", "withheld", "0"]
    assert "remaining  unlimited" in sluice("tenant", "usage", code)[1]
    refused = sluice("tenant", "update", code, "--monthly-threshold", "many")
    assert refused[0] == 2 and "'many' is not a number of leads or 'none'" in refused[1]
    refused = sluice("tenant", "update", code, "--monthly-threshold", "-3")
    assert refused[0] != 0 and "between 0 and" in refused[1]
    assert sluice("tenant", "update", code)[0] == 2  # nothing to change


def test_admins_read_the_usage_and_the_threshold_from_the_api(home, home_lead, db):
    withheld.set_threshold(operator(home), 2)
    post_leads(home, home_lead, [1, 2, 3])
    usage = home.client.get("/api/admin/usage", headers=home.admin)
    assert usage.status_code == 200
    assert usage.get_json() == {
        "month": f"{datetime.now(UTC):%Y-%m}",
        "counted": 2,
        "threshold": 2,
        "remaining": 0,
        "withheld": 1,
    }
    me = home.client.get("/api/admin/me", headers=home.admin).get_json()
    assert me["tenant"]["monthly_lead_threshold"] == 2


def test_tenant_webhooks_hear_lead_withheld_then_its_outcome(home, home_lead, db, secret_key):
    actor = operator(home)
    hook = {"url": "https://hooks.acme.example/sluice", "events": ["lead.withheld", "lead.sold"]}
    webhooks.add_webhook(actor, hook)
    withheld.set_threshold(actor, 1)
    held = post_leads(home, home_lead, [1, 2])[1]["lead_public_id"]
    lead = Lead.get(Lead.public_id == held)

    def events() -> list[str]:
        rows = Delivery.select().where(Delivery.lead == lead).order_by(Delivery.id)
        return [row.event for row in rows]

    assert events() == ["lead.withheld"]
    body = Delivery.get(Delivery.lead == lead).payload
    assert body["data"]["lead"]["status"] == "withheld"
    withheld.set_threshold(actor, 2)
    withheld.release_withheld(actor)
    assert events() == ["lead.withheld", "lead.sold"]


def test_a_deleted_withheld_lead_leaves_the_queue(home, home_lead, db):
    actor = operator(home)
    withheld.set_threshold(actor, 1)
    held = [a["lead_public_id"] for a in post_leads(home, home_lead, [1, 2, 3])[1:]]
    deletion.delete_leads(actor, [held[0]])
    assert withheld.month_usage(actor).withheld == 1
    withheld.set_threshold(actor, 5)
    assert withheld.release_withheld(actor) == 1
    status = {lead.public_id: lead.status for lead in Lead.select()}
    assert (status[held[0]], status[held[1]]) == ("withheld", "assigned")  # erased, kept
    assert post_leads(home, home_lead, [4])[0]["status"] == "assigned"  # nothing waits


def test_the_intake_pays_for_a_threshold_only_when_the_tenant_has_one(
    home, home_lead, db, monkeypatch
):
    import peewee

    from app.store import usage
    from app.store.db import is_postgresql

    trips, quotas = [], []
    send, quota_statement = peewee.Database.execute_sql, usage.quota_statement

    def count_trip(self, sql, params=None, *args, **kwargs):
        trips.append(sql)
        return send(self, sql, params, *args, **kwargs)

    def count_quota(quota):
        quotas.append(quota)
        return quota_statement(quota)

    monkeypatch.setattr(peewee.Database, "execute_sql", count_trip)
    monkeypatch.setattr(usage, "quota_statement", count_quota)
    post_leads(home, home_lead, [1])  # warm: the rules compiled, statements prepared
    trips.clear()
    post_leads(home, home_lead, [2])
    without = len(trips)
    assert quotas == []  # no counter touched, no statement changed
    withheld.set_threshold(operator(home), 10)
    trips.clear()
    post_leads(home, home_lead, [3])
    assert len(quotas) == 1
    # PostgreSQL: the unit is taken in the intake's one statement, no round trip more.
    assert len(trips) == without + (0 if is_postgresql() else 1)


def test_a_lead_that_fails_to_route_waits_without_holding_up_the_next(
    home, home_lead, db, monkeypatch
):
    from app.services import routing

    actor = operator(home)
    withheld.set_threshold(actor, 1)
    held = [a["lead_public_id"] for a in post_leads(home, home_lead, [1, 2, 3])[1:]]
    reroute = routing.reroute_lead

    def failing_first(lead, *args, **kwargs):
        if lead.public_id == held[0]:
            raise RuntimeError("a bug routing this lead")
        return reroute(lead, *args, **kwargs)

    monkeypatch.setattr(withheld, "reroute_lead", failing_first)
    withheld.set_threshold(actor, 5)
    assert withheld.release_withheld(actor) == 1
    status = {lead.public_id: lead.status for lead in Lead.select()}
    assert (status[held[0]], status[held[1]]) == ("withheld", "assigned")
    assert withheld.month_usage(actor).counted == 2  # the failed one took no unit
