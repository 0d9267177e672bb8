"""The spec against the running server: for every operation, generated requests (as a resident, a
doctor and a bureau) never get a 5xx and never get a response that breaks the spec's own schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from core.auth import Actor, Role
from core.config import ROOT
from tests import factories as f
from tests.live import live_server

pytestmark = pytest.mark.slow
EXAMPLES = 6  # per operation and token: bounded so the run stays well under a minute per database


@pytest.fixture(scope="module")
def served(app, settings, tmp_path_factory):
    """A live server whose database holds a centre, its doctor, and a resident signed with it."""
    with live_server(settings, tmp_path_factory.mktemp("fuzz"), restore=app) as (live_app, base_url):
        with live_app.app_context():
            f.regions()
            centre = f.centre()
            resident = f.resident(openid="wx-fuzzed")
            bureau = Actor(role=Role.BUREAU, subject="client:fuzz", region_code=centre.region_code)
            tokens = {"resident": f.as_resident(resident), "doctor": f.as_staff(f.staff(centre=centre)),
                      "bureau": f.bearer(bureau)}
        yield base_url, tokens


schema = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx_or_breaks_its_own_schema(case, served):
    base_url, tokens = served
    for token in tokens.values():
        case.call_and_validate(base_url=base_url, headers=token, timeout=30,
                               checks=[not_a_server_error, response_schema_conformance])
