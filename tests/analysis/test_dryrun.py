"""Dry-run, explain-lead and leads find through the API, the CLI and the store."""

import json

import pytest
from click.testing import CliRunner

from app.analysis.dryrun import DryRunRequest, run_dry_run
from app.cli import main
from app.dsl import check_texts, compile_rules
from app.store import models
from app.store.listing import LeadFilter
from app.store.rules import active_ruleset
from app.store.tenants import create_user

RICH = {"alpha": "10000", "beta": "10000", "gamma": "10000"}


@pytest.fixture
def routed(make_world, home_rules, home_lead):
    """A tenant whose eleven leads went every way; returns (world, {name: public id})."""
    world = make_world(home_rules(), RICH)
    posted = {}
    leads = [
        ("roof1", home_lead(1)),  # alpha_roof (file order breaks the 40.00 tie)
        ("roof2", home_lead(2)),  # beta_roof (won least recently)
        ("roof_tx", home_lead(3, state="TX")),  # alpha_roof; gamma_roof (20.00) outbid
        ("solar1", home_lead(4, kind="Solar")),  # solar_capped
        ("solar2", home_lead(5, kind="Solar")),  # solar_capped: cap 2 per day reached
        ("solar3", home_lead(6, kind="Solar")),  # solar_budget
        ("solar4", home_lead(7, kind="Solar")),  # solar_budget: budget 20 spent
        ("solar5", home_lead(8, kind="Solar")),  # marketplace
        ("dup", home_lead(1)),  # duplicate of roof1
        ("test_name", home_lead(10, first_name="Test")),  # audit
        ("other", home_lead(11, kind="Other")),  # uncategorized
    ]
    for name, body in leads:
        response = world.post(body)
        assert response.status_code == 201, response.json
        posted[name] = response.json["lead_public_id"]
    return world, posted


def proposed_rules(home_rules) -> str:
    """The home rules with Other leads counted as roofing, one audit swapped for another."""
    text = home_rules().replace('when kind == "Roof"', 'when kind == "Roof" or kind == "Other"')
    return text.replace(
        'audit "Test name" in home when lower(first_name) == "test"',
        'audit "Texas" in home when state == "TX"',
    )


def snapshot(db):
    """Return every row of every table, to show a dry-run changed nothing."""
    rows = {}
    for model in models.MODELS:
        rows[model.__name__] = sorted(map(repr, model.select().tuples()))
    db.close()
    return rows


def test_dry_run_compares_every_outcome_and_writes_nothing(routed, home_rules, db):
    world, posted = routed
    before = snapshot(db)
    version, baseline = active_ruleset(world.tenant)
    proposed = compile_rules({"home.rules": proposed_rules(home_rules)})
    request = DryRunRequest(world.tenant.id, baseline, proposed, version.number, sample_size=20)
    report = run_dry_run(request, batch=3)  # several batches
    assert snapshot(db) == before
    assert report["leads"] == 11
    # Replaying the active rules gives back exactly what routing stored.
    assert report["baseline_replay"] == {"agree_with_stored_status": 11, "differ": 0}
    assert report["lead_types"]["changes"] == [{"from": None, "to": "roof", "leads": 1}]
    assert report["uncategorized"] == {"before": 1, "after": 0}
    audits = {a["label"]: a for a in report["audits"]}
    assert audits["Test name"] == {
        "label": "Test name",
        "before": 1,
        "after": 0,
        "gained": 0,
        "lost": 1,
    }
    assert audits["Texas"] == {"label": "Texas", "before": 0, "after": 1, "gained": 1, "lost": 0}
    assert report["statuses"]["before"] == {
        "assigned": 7,
        "audit": 1,
        "duplicate": 1,
        "marketplace": 1,
        "uncategorized": 1,
    }
    changes = {(c["from"], c["to"]): c["leads"] for c in report["statuses"]["changes"]}
    assert changes == {
        ("assigned", "audit"): 1,
        ("audit", "assigned"): 1,
        ("uncategorized", "assigned"): 1,
    }
    assert report["duplicates"]["before"] == report["duplicates"]["after"] == 1
    assert report["sold"] == {"before": 7, "after": 8}
    bids = {b["id"]: b for b in report["bids"]}
    assert (bids["gamma_roof"]["eligible_before"], bids["gamma_roof"]["eligible_after"]) == (1, 0)
    assert (bids["solar_capped"]["won_before"], bids["solar_budget"]["won_before"]) == (2, 2)
    assert report["revenue"]["total"] == {"before": 190.0, "after": 230.0, "change": 40.0}
    by_customer = {c["customer"]: c for c in report["revenue"]["customers"]}
    assert by_customer["alpha"]["before"] == 130.0  # two roofs and two capped solars
    assert report["changed"] == 3
    sample = {entry["lead"]: entry for entry in report["sample"]}
    assert set(sample) == {posted["roof_tx"], posted["test_name"], posted["other"]}
    other = sample[posted["other"]]
    assert (other["before"]["status"], other["after"]["status"]) == ("uncategorized", "assigned")
    assert other["explain"]["after"]["lead_type"]["id"] == "roof"
    rules = {(r["rules"], r["id"]): r for r in report["rules"]}
    assert rules[("after", "roof")]["matches"] == 6  # five roofing leads and the other one
    assert rules[("before", "Test name")]["matches"] == 1


def test_dry_run_window_narrows_by_expression_and_limit(routed, home_rules):
    world, _ = routed
    version, baseline = active_ruleset(world.tenant)
    proposed = compile_rules({"home.rules": proposed_rules(home_rules)})
    narrowed = run_dry_run(
        DryRunRequest(world.tenant.id, baseline, proposed, version.number, where='kind == "Solar"')
    )
    assert narrowed["leads"] == 5 and narrowed["changed"] == 0
    newest = run_dry_run(DryRunRequest(world.tenant.id, baseline, proposed, 1, limit=2))
    assert newest["leads"] == 2
    assert newest["statuses"]["before"] == {"audit": 1, "uncategorized": 1}
    lowered = run_dry_run(
        DryRunRequest(world.tenant.id, baseline, proposed, 1, where='lower(first_name) == "test"')
    )  # on PostgreSQL a superset in SQL, re-checked in Python
    assert lowered["leads"] == 1


def test_dry_run_api_roles_and_invalid_rules(routed, home_rules):
    world, _ = routed
    client = world.client
    files = {"home.rules": proposed_rules(home_rules)}
    _, viewer = create_user(world.tenant, "viewer@example.com", "viewer")
    _, analyst = create_user(world.tenant, "analyst@example.com", "analyst")
    forbidden = client.post(
        "/api/admin/dry-run", json={"files": files}, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert forbidden.status_code == 403
    ok = client.post(
        "/api/admin/dry-run",
        json={"files": files, "sample": 1},
        headers={"Authorization": f"Bearer {analyst}"},
    )
    assert ok.status_code == 200, ok.json
    assert ok.json["leads"] == 11 and len(ok.json["sample"]) == 1
    broken = {"home.rules": files["home.rules"].replace('kind == "Solar"', "kind == 3")}
    refused = client.post("/api/admin/dry-run", json={"files": broken}, headers=world.admin)
    assert refused.status_code == 422
    expected = [d for d in check_texts(broken)[1]]
    got = refused.json["diagnostics"]
    assert [(d["code"], d["line"], d["column"]) for d in got] == [
        (d.code, d.line, d.column) for d in expected
    ]


def test_explain_shows_recorded_bid_decisions(routed):
    world, posted = routed
    client = world.client
    explained = client.get(f"/api/admin/leads/{posted['roof_tx']}/explain", headers=world.admin)
    assert explained.status_code == 200, explained.json
    data = explained.json
    assert data["rule_set"]["version"] == 1
    assert [t["id"] for t in data["lead_types"] if t["chosen"]] == ["roof"]
    results = {d["bid"]: d["result"] for d in data["bidding"][0]["decisions"]}
    assert results == {"alpha_roof": "won", "beta_roof": "lost_tie", "gamma_roof": "outbid"}
    first = client.get(f"/api/admin/leads/{posted['roof1']}/explain", headers=world.admin).json
    assert {d["bid"]: d["result"] for d in first["bidding"][0]["decisions"]}["gamma_roof"] == (
        "condition_false"
    )
    market = client.get(f"/api/admin/leads/{posted['solar5']}/explain", headers=world.admin).json
    assert {d["bid"]: d["result"] for d in market["bidding"][0]["decisions"]} == {
        "solar_capped": "cap_exhausted",
        "solar_budget": "budget_exhausted",
        "solar_closed": "schedule_closed",
    }
    dup = client.get(f"/api/admin/leads/{posted['dup']}/explain", headers=world.admin).json
    assert dup["dedupe"][0]["result"] == "duplicate"
    assert dup["dedupe"][0]["original"] == posted["roof1"]
    assert dup["bidding"] == []
    _, viewer = create_user(world.tenant, "v@example.com", "viewer")
    denied = client.get(
        f"/api/admin/leads/{posted['dup']}/explain", headers={"Authorization": f"Bearer {viewer}"}
    )
    assert denied.status_code == 403


def test_leads_where_in_the_api(routed):
    world, posted = routed
    client = world.client
    found = client.get(
        "/api/admin/leads", query_string={"where": 'state == "TX"'}, headers=world.admin
    )
    assert [lead["id"] for lead in found.json] == [posted["roof_tx"]]
    bad = client.get("/api/admin/leads", query_string={"where": "state == 3"}, headers=world.admin)
    assert bad.status_code == 422 and bad.json["diagnostics"][0]["code"] == "type-mismatch"
    _, viewer = create_user(world.tenant, "v@example.com", "viewer")
    viewing = {"Authorization": f"Bearer {viewer}"}
    assert client.get("/api/admin/leads", headers=viewing).status_code == 200
    denied = client.get("/api/admin/leads", query_string={"where": "score > 1"}, headers=viewing)
    assert denied.status_code == 403


@pytest.fixture
def sluice(routed, database_url, monkeypatch):
    """Return run(*args) -> (exit code, stdout, stderr) of the CLI on the test database."""
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_cli_dry_run_explain_and_find(sluice, routed, home_rules, tmp_path):
    world, posted = routed
    tenant = world.tenant.code
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "home.rules").write_text(proposed_rules(home_rules))
    code, out, err = sluice("dry-run", tenant, str(rules), "--format", "json", "--progress")
    assert code == 0, err
    assert json.loads(out)["revenue"]["total"]["change"] == 40.0
    assert "leads" in err  # the progress bar
    code, out, _ = sluice("dry-run", tenant, str(rules), "--no-progress")
    assert code == 0
    assert "lead types (rows: baseline, columns: proposed):" in out
    assert "Texas" in out and "total" in out
    code, out, _ = sluice("explain-lead", tenant, posted["solar5"])
    assert code == 0 and "solar_capped (alpha, 25.00): cap_exhausted" in out
    code, out, _ = sluice("leads", "find", tenant, 'kind == "Solar"', "--count")
    assert (code, out.strip()) == (0, "5")
    code, out, _ = sluice("leads", "find", tenant, 'first_name == "Test"', "--json")
    assert [lead["id"] for lead in json.loads(out)] == [posted["test_name"]]


def test_cli_dry_run_refuses_invalid_rules_like_check(sluice, routed, tmp_path):
    world, _ = routed
    rules = tmp_path / "broken.rules"
    rules.write_text('category c "C" { field x number }\nlead_type t "T" in c when x == "a"\n')
    code, _, err = sluice("dry-run", world.tenant.code, str(rules))
    check_code, _, check_err = sluice("check", str(rules))
    assert code == check_code == 1
    assert err == check_err and "type-mismatch" in err


def test_dry_run_filters_by_source_and_status(routed, home_rules):
    from app.analysis.dryrun import dry_run_for_tenant

    world, _ = routed
    files = {"home.rules": proposed_rules(home_rules)}
    by_status = dry_run_for_tenant(world.tenant, files, filters=LeadFilter(status="assigned"))
    assert by_status["leads"] == 7
    by_source = dry_run_for_tenant(world.tenant, files, source=world.source.name)
    assert by_source["leads"] == 11


def test_returned_leads_count_as_sold_and_agree_with_their_replayed_sale(routed, home_rules):
    from app.analysis.dryrun import dry_run_for_tenant

    world, posted = routed
    models.Lead.update(status="returned").where(
        models.Lead.public_id.in_([posted["roof1"], posted["solar1"]])
    ).execute()
    files = {"home.rules": home_rules()}  # the active rules: nothing changes
    report = dry_run_for_tenant(world.tenant, files)
    assert report["baseline_replay"] == {"agree_with_stored_status": 11, "differ": 0}
    assert report["sold"] == {"before": 7, "after": 7}
    sold = dry_run_for_tenant(world.tenant, files, filters=LeadFilter(status="sold"))
    assert sold["leads"] == 7
    returned = dry_run_for_tenant(world.tenant, files, filters=LeadFilter(status="returned"))
    assert returned["leads"] == 2


def test_more_conditions_than_one_mask_column_holds(make_world, home_rules, home_lead):
    audits = "\n".join(f'audit "score {i}" in home when score == {i}' for i in range(70))
    world = make_world(home_rules(extra=audits), RICH)
    for n, score in enumerate([3, 64, 69, 69]):
        assert world.post(home_lead(n, score=score)).status_code == 201
    version, baseline = active_ruleset(world.tenant)
    report = run_dry_run(DryRunRequest(world.tenant.id, baseline, baseline, version.number))
    matches = {r["id"]: r["matches"] for r in report["rules"] if r["kind"] == "audit"}
    assert (matches["score 3"], matches["score 64"], matches["score 69"]) == (1, 1, 2)
    assert sum(matches.values()) == 4
    assert report["statuses"]["before"] == {"audit": 4}
    assert report["changed"] == 0


def test_explain_reads_older_timelines_and_unrouted_leads(routed, db):
    from app.analysis.explain import explain_stored_lead
    from app.store.leads import get_lead
    from app.store.models import Lead, LeadEvent

    world, posted = routed
    lead = get_lead(world.tenant, posted["roof2"])
    event = LeadEvent.get((LeadEvent.lead == lead) & (LeadEvent.kind == "assigned"))
    details = {k: v for k, v in event.details.items() if k != "decisions"}
    LeadEvent.update(details=details).where(LeadEvent.id == event.id).execute()
    stage = explain_stored_lead(lead)["bidding"][0]
    assert stage["recorded"] is False
    assert {d["bid"]: d["result"] for d in stage["decisions"]} == {"beta_roof": "won"}
    Lead.update(rule_version=None, status="pending").where(Lead.id == lead.id).execute()
    unrouted = explain_stored_lead(get_lead(world.tenant, posted["roof2"]))
    assert unrouted["rule_set"] is None and "not been routed" in unrouted["note"]
    db.close()


def test_counts_only_gives_the_full_runs_matches_per_rule(routed, home_rules, db):
    from app.analysis.dryrun import count_rules

    world, _ = routed
    version, baseline = active_ruleset(world.tenant)
    proposed = compile_rules({"home.rules": proposed_rules(home_rules)})
    request = DryRunRequest(world.tenant.id, baseline, proposed, version.number)
    full = run_dry_run(request)
    before = snapshot(db)
    counted = count_rules(request)
    assert counted["counts_only"] is True and counted["leads"] == full["leads"] == 11
    assert len(counted["rules"]) == len(full["rules"]) > 0
    for fast, replayed in zip(counted["rules"], full["rules"], strict=True):
        assert (fast["rules"], fast["kind"], fast["id"]) == (
            replayed["rules"],
            replayed["kind"],
            replayed["id"],
        )
        if fast["exact"]:
            assert fast["matches"] == replayed["matches"], fast
        else:  # lower() on PostgreSQL: at most
            assert fast["matches"] >= replayed["matches"], fast
    newest = count_rules(DryRunRequest(world.tenant.id, baseline, proposed, 1, limit=2))
    assert newest["leads"] == 2
    narrowed = count_rules(
        DryRunRequest(world.tenant.id, baseline, proposed, 1, where='kind == "Solar"')
    )
    assert narrowed["leads"] == 5
    after = snapshot(db)
    after.pop("LeadProjection"), before.pop("LeadProjection")  # the counts' own projection
    assert after == before


def test_counts_only_in_the_api_and_the_cli(sluice, routed, home_rules, tmp_path):
    world, _ = routed
    files = {"home.rules": proposed_rules(home_rules)}
    answer = world.client.post(
        "/api/admin/dry-run", json={"files": files, "counts_only": True}, headers=world.admin
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["counts_only"] is True and answer.json["leads"] == 11
    assert "sample" not in answer.json and answer.json["rules"]
    assert models.LeadProjection.select().count() == 0  # a request never waits for a build
    texas = [r for r in answer.json["rules"] if r["id"] == "Texas"]
    assert texas == [
        {
            "rules": "after",
            "kind": "audit",
            "id": "Texas",
            "category": "home",
            "condition": 'state == "TX"',
            "matches": texas[0]["matches"],
            "counted_by": "sql",
            "exact": True,
        }
    ]
    rules = tmp_path / "home.rules"
    rules.write_text(files["home.rules"])
    code, out, err = sluice("dry-run", world.tenant.code, str(rules), "--counts-only")
    assert code == 0, err
    assert out.startswith("matches per rule over 11 leads") and "Texas" in out
    assert "lead types" not in out
    postgresql = world.client.application.config["DATABASE_URL"].startswith("postgresql")
    assert models.LeadProjection.select().count() == (1 if postgresql else 0)  # the CLI builds
    again = world.client.post(
        "/api/admin/dry-run", json={"files": files, "counts_only": True}, headers=world.admin
    )
    assert again.json["rules"] == answer.json["rules"]  # now through the projection
    lowered = ["--where", 'lower(first_name) == "test"', "--category", "home"]
    code, out, err = sluice("dry-run", world.tenant.code, str(rules), "--counts-only", *lowered)
    if postgresql:
        assert code != 0 and "no exact SQL translation" in err  # counts need exact SQL
    else:  # SQLite runs the very Python functions: exact
        assert code == 0, err


def test_dry_run_replays_alter_stages(make_world, home_rules, home_lead):
    """The bids after an alter stage read its values, not the stored ones the database's
    verdicts were computed on: gamma_roof (`when state == "TX"`) takes a Florida lead
    whose zip the stage turns into a Texas one."""
    plan = (
        'stage alter {\n        set state = "TX" when zip starts_with "75"\n    }\n'
        "    stage bidding highest_price [gamma_roof]\n    stage marketplace"
    )
    world = make_world(home_rules(plan=plan), RICH)
    statuses = [
        world.post(home_lead(n, zip=z)).json["status"] for n, z in ((1, "75001"), (2, "33139"))
    ]
    assert statuses == ["assigned", "marketplace"]
    version, baseline = active_ruleset(world.tenant)
    proposed = compile_rules({"home.rules": home_rules(plan=plan.replace('"75"', '"33"'))})
    request = DryRunRequest(world.tenant.id, baseline, proposed, version.number, sample_size=20)
    report = run_dry_run(request)
    # The active rules, alter stage included, replay to what routing stored.
    assert report["baseline_replay"] == {"agree_with_stored_status": 2, "differ": 0}
    assert report["statuses"]["changes"] == [{"from": "marketplace", "to": "assigned", "leads": 1}]
    gamma = next(bid for bid in report["bids"] if bid["id"] == "gamma_roof")
    assert (gamma["won_before"], gamma["won_after"]) == (1, 2)
