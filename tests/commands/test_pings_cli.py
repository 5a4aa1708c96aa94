"""`sluice ping list|show` (the ping log) and `sluice source set`'s ping settings."""

from __future__ import annotations

import pytest

from tests.api.test_pings import PING, RULES, ping


@pytest.fixture
def pw(make_world):
    return make_world(RULES, {"alpha": "100", "beta": "100", "gamma": "100"}, name="Pinged")


def test_set_the_ping_settings_then_read_the_ping_log(sluice, pw):
    code, source = pw.tenant.code, pw.source.public_id
    updated = sluice.json(
        "source", "set", source, "--ping-bids-shown", "2", "--ping-ttl", "60", "--internal"
    )
    assert (updated["ping_bids_shown"], updated["ping_ttl_seconds"], updated["internal"]) == (
        2,
        60,
        True,
    )
    status, output = sluice("source", "set", source, "--ping-bids-shown", "0")
    assert status == 2 and "ping-bids-shown" in output
    accepted = ping(pw, PING).json
    assert len(accepted["bids"]) == 2
    ping(pw, {"state": "FL"})
    listed = sluice.json("ping", "list", code)
    assert [row["status"] for row in listed] == ["rejected", "accepted"]
    status, output = sluice("ping", "list", code, "--status", "accepted")
    assert status == 0 and accepted["ping_id"] in output and "alpha_roof at 40.00" in output
    shown = sluice.json("ping", "show", code, accepted["ping_id"])
    assert shown["bids"][0] == {"bid_id": "alpha_roof", "price": 40.0}
    assert shown["data"] == {"state": "FL", "zip": "33139", "kind": "Roof"}
    status, output = sluice("ping", "show", code, "png_nope")
    assert status != 0 and "no ping" in output
