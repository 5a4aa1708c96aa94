"""`sluice partner ...`: the admin API's partners and providers on the command line."""

from __future__ import annotations

KEY = "sk_live_partner_0123456789"


def test_add_show_update_and_remove_a_partner(sluice, world, db, tmp_path):
    tenant = world.tenant.code
    added = sluice.json(
        *("partner", "add", tenant, "leadco"),
        *("--ping-url", "https://leadco.example/ping", "--post-url", "https://leadco.example/post"),
        *("--map", "zip_code=zip", "--map", "ping_id=@reference", "--constant", "vendor=42"),
        *("--header", f"Authorization: Bearer {KEY}", "--timeout-ms", "800"),
        *("--accepted-path", "status == 'accepted'", "--price-path", "bid.price"),
        *("--reference-path", "ping_id", "--reason-path", "message"),
    )
    assert added["name"] == "leadco" and added["kind"] == "partner"
    assert added["field_map"] == {
        "zip_code": "zip",
        "ping_id": "@reference",
        "vendor": {"value": 42},
    }
    assert added["headers"] == ["Authorization"] and added["timeout_ms"] == 800
    raw = db.execute_sql("SELECT headers_encrypted FROM partner").fetchone()[0]
    assert KEY not in raw
    code, text = sluice("partner", "show", tenant, "leadco")
    assert code == 0 and "Authorization" in text and KEY not in text
    template = tmp_path / "post.j2"
    template.write_text('{"zip": {{ lead.zip | tojson }}, "ping_id": "{{ reference }}"}')
    updated = sluice.json(
        *("partner", "update", tenant, "leadco", "--template-file", str(template)),
        *("--no-map", "--no-headers"),
    )
    assert updated["headers"] == [] and updated["field_map"] is None
    assert updated["template"].startswith('{"zip"')
    code, output = sluice("partner", "update", tenant, "leadco", "--map", "z=zip")
    assert code != 0 and "a field map or a template, not both" in output
    listed = sluice.json("partner", "list", tenant)
    assert [row["name"] for row in listed] == ["leadco"]
    assert sluice.json("partner", "remove", tenant, "leadco") == {"removed": "leadco"}
    assert sluice.json("partner", "list", tenant) == []


def test_a_provider_and_a_refusal_by_field(sluice, world):
    tenant = world.tenant.code
    added = sluice.json(
        *("partner", "add", tenant, "realestate", "--kind", "enrichment"),
        *("--url", "https://api.realestate.example/property", "--method", "get"),
        *("--data-path", "property", "--require", "zip", "--require", "address_1"),
    )
    assert added["method"] == "GET" and added["required_fields"] == ["zip", "address_1"]
    code, output = sluice(
        *("partner", "add", tenant, "bad-name", "--post-url", "ftp://x.example"),
        *("--price-pattern", "("),
    )
    assert code != 0
    assert "name" in output and "post_url" in output and "price_pattern" in output
    listed = sluice.json("partner", "list", tenant, "--kind", "enrichment")
    assert [row["name"] for row in listed] == ["realestate"]
