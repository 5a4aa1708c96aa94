"""schemathesis against /api/openapi.json: no 5xx, and every answer is one the document describes.

Runs in process on the WSGI app, on each test backend, with a tenant whose source and admin
credentials are sent with every generated request (Basic on the intake, the admin's token
elsewhere), so the generated requests reach the views rather than stopping at 401.
Examples per operation: SLUICE_SCHEMATHESIS_EXAMPLES (default 6, kept small for CI).
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

EXAMPLES = int(os.environ.get("SLUICE_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def conformance_test(operation, headers):
    """Return a hypothesis test calling the operation with generated requests."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


def test_every_operation_answers_as_documented(app, world):
    # schemathesis's pytest plugin does not run on this pytest: loop over the operations
    # and report every failing one at once.
    api = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures = {}
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = world.auth if operation.path in ("/api/leads", "/api/pings") else world.admin

        run = conformance_test(operation, headers)
        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # reported below, all together
            failures[operation.label] = f"{type(error).__name__}: {error}"[:3000]
    assert operations >= 25
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
